"""`digitclf config show | validate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_config_show_and_validate(cli):
    shown = cli("config", "show", "-c", "mnist_lbfgs", "--set", "model.params.C=10", "--json")
    assert shown.exit_code == 0
    data = json.loads(shown.stdout)
    assert data["model"]["params"] == {"solver": "lbfgs", "max_iter": 100, "C": 10}
    assert data["split"]["test_size"] == pytest.approx(1 / 7)
    ok = cli("config", "validate", "-c", "mnist_liblinear")
    assert ok.exit_code == 0 and ok.stdout == "ok: mnist_liblinear (mnist, logistic_regression) is valid\n"
    bad = cli("config", "validate", "-c", "mnist_lbfgs", "--set", "model.params.solver=lbfgz")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: model.params.solver: LogisticRegression's solver must be")


def test_validate_checks_every_point_of_a_sweep_config(cli):
    ok = cli("config", "validate", "-c", "sweep_digits")
    assert ok.exit_code == 0
    assert ok.stdout == "ok: sweep_digits sweep: 8 points valid (model.params.C, model.params.solver)\n"
    bad = cli("config", "validate", "-c", "sweep_digits", "--set", "model.params.max_iter=-1")
    assert bad.exit_code == 2
    assert bad.stderr == ("Error: sweep point 1 (C=1000 solver=saga): model.params.max_iter: LogisticRegression's "
                          "max_iter must be an int in the range [0, inf); got -1\n")
    assert not Path("outputs").exists()  # nothing run, nothing written
