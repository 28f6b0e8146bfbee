"""`digitclf config show | validate`."""

from __future__ import annotations

import json

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
