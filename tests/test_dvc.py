"""DVC reads a run's files without adapters: flat metrics JSON and an actual/predicted CSV."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from digitclf.config import load_config
from digitclf.runner import train

DVC_YAML = Path(__file__).resolve().parent.parent / "docs" / "dvc.yaml"
PARAMS_YAML = Path(__file__).resolve().parent.parent / "docs" / "params.yaml"
README = Path(__file__).resolve().parent.parent / "README.md"


def test_flat_metrics_and_predictions_csv_match_the_run():
    result = train(load_config("digits_lbfgs", ["output.plots=false"]))
    flat = json.loads(result.run.file("metrics_flat.json").read_text())
    # DVC's documented metrics format: a JSON object of numeric (or boolean) values
    assert all(isinstance(v, (int, float, bool)) for v in flat.values())
    assert flat["accuracy"] == result.metrics.to_json()["accuracy"]
    assert [flat["accuracy_ci95_low"], flat["accuracy_ci95_high"]] == result.metrics.to_json()["accuracy_ci95"]
    assert not any(key.endswith("_seconds") for key in flat)  # timings have their own file
    timings = json.loads(result.run.file("timings_flat.json").read_text())
    assert timings == {f"{phase}_{kind}_seconds": seconds[kind] for phase, seconds in
                       result.metrics.to_json()["timings"].items() for kind in ("wall", "cpu")}
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
    assert second.stderr == ("note: --run-id dvc: the previous run there was moved to "
                             f"outputs/digits_lbfgs/.superseded/{aside.name}\n")
    assert json.loads((aside / "metrics.json").read_text()) == json.loads(first.stdout)
    assert json.loads(Path("outputs/digits_lbfgs/dvc/metrics.json").read_text()) == json.loads(second.stdout)
    assert yaml.safe_load(Path("outputs/digits_lbfgs/dvc/config.yaml").read_text())["model"]["params"]["C"] == 10


def test_documented_dvc_files_are_in_readme_and_name_real_files():
    readme = README.read_text()
    assert DVC_YAML.read_text() in readme and PARAMS_YAML.read_text() in readme
    stage = yaml.safe_load(DVC_YAML.read_text())["stages"]["train"]
    assert stage["cmd"] == "digitclf train --config params.yaml --run-id dvc"
    assert stage["params"] == [{"params.yaml": None}]  # every key of the config, DVC's default params file
    (metrics,) = stage["metrics"]
    (plot,) = stage["plots"]
    assert list(metrics) == ["outputs/digits_lbfgs/dvc/metrics_flat.json"]
    assert plot["outputs/digits_lbfgs/dvc/predictions.csv"] == {"cache": False, "template": "confusion",
                                                                 "x": "actual", "y": "predicted"}
    # params.yaml is the digits config with the values -S sets written out (DVC only edits existing keys)
    from sklearn.linear_model import LogisticRegression

    defaults = LogisticRegression().get_params()
    expected = load_config("digits_lbfgs", [f"model.params.C={defaults['C']}",
                                            f"model.params.max_iter={defaults['max_iter']}"]).to_dict()
    assert load_config(PARAMS_YAML).to_dict() == expected


DVC_BIN = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")


class Repo:
    """A git + DVC repository in a temp folder, driven through the real commands, as a user types them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(args, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done

    def dvc(self, *args: str) -> subprocess.CompletedProcess:
        return self(DVC_BIN, *args)

    def json(self, *args: str):
        return json.loads(self.dvc(*args, "--json").stdout)

    def file(self, name: str) -> Path:
        return self.path / name

    def superseded(self) -> list[Path]:
        folder = self.file("outputs/digits_lbfgs/.superseded")
        return sorted(folder.iterdir()) if folder.is_dir() else []


def experiments(shown: list) -> dict:
    """``dvc exp show --json``: {name: (model.params, metrics_flat.json)} for the workspace, HEAD and experiments."""
    out = {}

    def add(entry: dict) -> None:
        data = entry["data"]
        out[entry["name"] or data["rev"]] = (data["params"]["params.yaml"]["data"]["model"]["params"],
                                             data["metrics"][FLAT]["data"])

    for entry in shown:
        add(entry)
        for experiment in entry["experiments"] or []:
            for rev in experiment["revs"]:
                add(rev)
    return out


FLAT = "outputs/digits_lbfgs/dvc/metrics_flat.json"


@pytest.mark.slow
@pytest.mark.skipif(DVC_BIN is None, reason="DVC is not installed")
def test_dvc_repro_experiments_queue_metrics_and_plots_for_real(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.path.mkdir()
    shutil.copy(PARAMS_YAML, repo.file("params.yaml"))
    shutil.copy(DVC_YAML, repo.file("dvc.yaml"))
    repo("git", "init", "-q")
    repo.dvc("init", "-q")
    repo("git", "add", "params.yaml", "dvc.yaml", ".dvc")
    repo("git", "commit", "-qm", "digitclf stage")

    first = repo.dvc("repro")
    assert "Running stage 'train'" in first.stdout
    saved = json.loads(repo.file("outputs/digits_lbfgs/dvc/metrics.json").read_text())
    shown = repo.json("metrics", "show")[""]["data"][FLAT]["data"]  # "" : the uncommitted workspace
    assert shown["accuracy"] == saved["accuracy"] and shown["n_errors"] == saved["n_errors"]
    assert not any(key.endswith("_seconds") for key in shown)  # timings are in timings_flat.json
    timings = json.loads(repo.file("outputs/digits_lbfgs/dvc/timings_flat.json").read_text())
    assert timings["fit_wall_seconds"] == saved["timings"]["fit"]["wall"]

    again = repo.dvc("repro")  # the second time: nothing changed, nothing runs
    assert "Stage 'train' didn't change, skipping" in again.stdout and repo.superseded() == []
    repo("git", "add", "dvc.lock", "outputs/digits_lbfgs/dvc/.gitignore", FLAT,
         "outputs/digits_lbfgs/dvc/predictions.csv")
    repo("git", "commit", "-qm", "baseline")

    # an edited config: the stage runs again, the previous run folder moves aside whole
    first_record = json.loads(repo.file("outputs/digits_lbfgs/dvc/run.json").read_text())
    params = repo.file("params.yaml")
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.05"))
    edited = repo.dvc("repro")
    assert "Running stage 'train'" in edited.stdout
    (aside,) = repo.superseded()
    assert f"the previous run there was moved to outputs/digits_lbfgs/.superseded/{aside.name}" in edited.stderr
    assert json.loads((aside / "run.json").read_text())["started"] == first_record["started"]
    assert yaml.safe_load(repo.file("outputs/digits_lbfgs/dvc/config.yaml").read_text())["model"]["params"]["C"] == 0.05
    diff = repo.json("metrics", "diff")[FLAT]
    assert set(diff) <= set(shown) and "accuracy" in diff  # scores changed; no timing keys
    changed = repo.json("params", "diff")["params.yaml"]
    assert list(changed) == ["model.params.C"]
    assert (changed["model.params.C"]["old"], changed["model.params.C"]["new"]) == (1.0, 0.05)

    forced = repo.dvc("repro", "-f")
    assert "Running stage 'train'" in forced.stdout and len(repo.superseded()) == 2

    # experiments: -S in the workspace, -S with --temp, then one queued and run by a queue worker
    repo("git", "checkout", "params.yaml")
    repo.dvc("exp", "run", "-S", "model.params.C=10")
    repo.dvc("exp", "run", "--temp", "-S", "model.params.C=3")  # in a temp copy of the repository
    repo.dvc("exp", "run", "--queue", "-S", "model.params.C=0.1", "-S", "model.params.max_iter=300")
    try:
        repo.dvc("queue", "start")
        deadline = time.monotonic() + 240
        while "Success" not in (status := repo.dvc("queue", "status").stdout) and time.monotonic() < deadline:
            assert "Failed" not in status, status
            time.sleep(2)
        assert "Success" in status, status
    finally:  # the worker ends by itself once the queue is empty; make sure
        subprocess.run([DVC_BIN, "queue", "stop"], cwd=repo.path, env=repo.env, capture_output=True, timeout=60)
    found = experiments(repo.json("exp", "show"))
    by_params = {(p["C"], p["max_iter"]): metrics for p, metrics in found.values()}
    assert set(by_params) >= {(1.0, 100), (10, 100), (3, 100), (0.1, 300)}  # HEAD and the three experiments
    for (c, max_iter), metrics in by_params.items():  # each experiment's metrics are its params' own
        direct = train(load_config(PARAMS_YAML, [f"model.params.C={c}", f"model.params.max_iter={max_iter}",
                                                 "output.plots=false"]), outputs=tmp_path / "direct")
        assert metrics["accuracy"] == direct.metrics.accuracy and metrics["n_iter"] == direct.metrics.n_iter

    plots = repo.json("plots", "show")
    (rendered,) = plots["data"]["outputs/digits_lbfgs/dvc/predictions.csv"]
    values = rendered["content"]["data"]["values"]
    saved = json.loads(repo.file("outputs/digits_lbfgs/dvc/metrics.json").read_text())
    assert len(values) == saved["n_test"]
    assert sum(v["actual"] != v["predicted"] for v in values) == saved["n_errors"]
