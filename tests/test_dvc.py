"""DVC reads a run's files without adapters: flat metrics JSON and an actual/predicted CSV."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from digitclf.config import load_config
from digitclf.runner import train

DVC_YAML = Path(__file__).resolve().parent.parent / "docs" / "dvc.yaml"
README = Path(__file__).resolve().parent.parent / "README.md"


def test_flat_metrics_and_predictions_csv_match_the_run():
    result = train(load_config("digits_lbfgs", ["output.plots=false"]))
    flat = json.loads(result.run.file("metrics_flat.json").read_text())
    # DVC's documented metrics format: a JSON object of numeric (or boolean) values
    assert all(isinstance(v, (int, float, bool)) for v in flat.values())
    assert flat["accuracy"] == result.metrics.to_json()["accuracy"]
    assert [flat["accuracy_ci95_low"], flat["accuracy_ci95_high"]] == result.metrics.to_json()["accuracy_ci95"]
    assert flat["fit_wall_seconds"] == result.metrics.to_json()["timings"]["fit"]["wall"]
    with result.run.file("predictions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["actual", "predicted"]  # the fields DVC's confusion template names as x and y
    np.testing.assert_array_equal([int(r["actual"]) for r in rows], result.y_test)
    np.testing.assert_array_equal([int(r["predicted"]) for r in rows], result.y_pred)


def test_train_with_a_fixed_run_id_runs_again_and_moves_the_previous_run_aside(cli):
    args = ("train", "--run-id", "dvc", "--set", "output.plots=false", "--set", "model.params.max_iter=5")
    first = cli(*args, "--json")
    assert first.exit_code == 0, first.output
    second = cli(*args, "--set", "model.params.C=10", "--json")
    assert second.exit_code == 0, second.output
    (aside,) = Path("outputs/digits_lbfgs/.superseded").iterdir()
    assert second.stderr == f"note: --run-id dvc: the previous run there was moved to outputs/digits_lbfgs/.superseded/{aside.name}\n"
    assert json.loads((aside / "metrics.json").read_text()) == json.loads(first.stdout)
    assert json.loads(Path("outputs/digits_lbfgs/dvc/metrics.json").read_text()) == json.loads(second.stdout)
    assert yaml.safe_load(Path("outputs/digits_lbfgs/dvc/config.yaml").read_text())["model"]["params"]["C"] == 10


def test_documented_dvc_yaml_is_in_readme_and_names_real_files():
    text = DVC_YAML.read_text()
    assert text in README.read_text()
    stage = yaml.safe_load(text)["stages"]["train"]
    assert "--run-id dvc" in stage["cmd"]
    (metrics,) = stage["metrics"]
    (plot,) = stage["plots"]
    assert list(metrics) == ["outputs/digits_lbfgs/dvc/metrics_flat.json"]
    assert plot["outputs/digits_lbfgs/dvc/predictions.csv"] == {"cache": False, "template": "confusion",
                                                                 "x": "actual", "y": "predicted"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dvc", path=str(Path(sys.executable).parent)) is None
                    and shutil.which("dvc") is None, reason="DVC is not installed")
def test_dvc_repro_metrics_and_plots_for_real(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(Path("configs").resolve(), repo / "configs")
    shutil.copy(DVC_YAML, repo / "dvc.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    dvc = shutil.which("dvc", path=env["PATH"])

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("git", "init", "-q")
    run(dvc, "init", "-q")
    run(dvc, "repro", "-q")
    metrics = json.loads(run(dvc, "metrics", "show", "--json"))
    (workspace,) = metrics.values()  # keyed by revision ("" for an uncommitted workspace)
    shown = workspace["data"]["outputs/digits_lbfgs/dvc/metrics_flat.json"]["data"]
    saved = json.loads((repo / "outputs/digits_lbfgs/dvc/metrics.json").read_text())
    assert shown["accuracy"] == pytest.approx(saved["accuracy"])
    plots = json.loads(run(dvc, "plots", "show", "--json"))
    (rendered,) = plots["data"]["outputs/digits_lbfgs/dvc/predictions.csv"]
    values = rendered["content"]["data"]["values"]
    assert len(values) == saved["n_test"]
    wrong = sum(v["actual"] != v["predicted"] for v in values)
    assert wrong == saved["n_errors"]
