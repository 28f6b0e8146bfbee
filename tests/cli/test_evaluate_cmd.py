"""`digitclf evaluate`: which run, which data, and the refusals (changed data, altered model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from digitclf.runs import iter_runs, load_model
from helpers import blas_counts, one_error_line, only_run, run_of


def test_evaluate_cli_latest_by_id_and_json(saved, cli):
    latest = cli("evaluate")
    assert latest.exit_code == 0, latest.output
    assert "accuracy  0.8400  (95% CI" in latest.stdout and "same as train time (0.8400)" in latest.stdout
    assert latest.stderr.strip().startswith("wrote evaluation.json, confusion_matrix.png in ")
    others = [r.id for r in iter_runs(Path("outputs")) if r.id != saved.c10]
    prefix = next(saved.c10[:k] for k in range(16, len(saved.c10)) if not any(o.startswith(saved.c10[:k]) for o in others))
    by_prefix = cli("evaluate", prefix, "--json", "--style", "matplotlib", "--normalize", "true")
    assert by_prefix.exit_code == 0, by_prefix.output
    data = json.loads(by_prefix.stdout)
    assert data["run_id"] == saved.c10 and data["matches_recorded"] is True
    by_folder = cli("evaluate", str(run_of(saved.lbfgs).path), "--json")
    assert json.loads(by_folder.stdout)["run_id"] == saved.lbfgs


def test_evaluate_on_another_idx_folder(saved, cli):
    from digitclf.datasets import read_idx_folder

    result = cli("evaluate", saved.idx, "--dataset", str(saved.idx_b), "--split", "all", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    parts = read_idx_folder(saved.idx_b)
    X = np.concatenate([parts["x_train"], parts["x_test"]]).reshape(250, -1)
    y = np.concatenate([parts["y_train"], parts["y_test"]])
    expected = load_model(run_of(saved.idx)).predict(X)
    assert data["n_test"] == 250 and data["accuracy"] == np.mean(expected == y)
    assert data["dataset"]["same_as_training"] is False and "matches_recorded" not in data
    tag = f"idx-{data['dataset']['fingerprint'].removeprefix('sha256:')[:8]}"  # a set by path: its fingerprint too
    assert data["files"] == [f"evaluation-{tag}-all.json", f"confusion_matrix-{tag}-all.png"]
    assert run_of(saved.idx).file(f"evaluation-{tag}-all.json").is_file()
    test_part = json.loads(cli("evaluate", saved.idx, "--dataset", str(saved.idx_b), "--json").stdout)
    assert test_part["n_test"] == 50  # the set's canonical test part


def test_evaluate_refuses_a_shape_mismatch(saved, cli):
    result = cli("evaluate", saved.idx, "--dataset", "digits")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: --dataset digits: its images are 8x8 but run {saved.idx} was trained "
                                      "on 28x28 images; pick a data set with the same image size")


def test_evaluate_refuses_changed_data(saved, cli):
    run = run_of(saved.lbfgs)
    record = json.loads(run.file("run.json").read_text())
    record["dataset"]["fingerprint"] = "sha256:0000000000000000"
    run.file("run.json").write_text(json.dumps(record))
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 2
    assert one_error_line(result).startswith(
        "Error: data set 'digits' (sklearn.datasets.load_digits) has fingerprint sha256:")
    assert "the saved test split does not apply to it" in result.stderr


def test_evaluate_refuses_an_altered_model(saved, cli):
    run = run_of(saved.lbfgs)
    with open(run.file("model.joblib"), "ab") as fh:
        fh.write(b"\0")
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"Error: {run.path}/model.joblib does not match the sha256 recorded when it was saved; refusing to load "
        "an altered file (a model file can run code). Re-train or restore the original.")


def test_evaluate_notes_a_scikit_learn_version_change(saved, cli):
    run = run_of(saved.lbfgs)
    record = json.loads(run.file("run.json").read_text())
    record["versions"]["scikit-learn"] = "0.0.1"
    run.file("run.json").write_text(json.dumps(record))
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 0, result.output
    assert f"note: run {saved.lbfgs} was saved with scikit-learn 0.0.1" in result.stderr


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_evaluate_predicts_under_the_runs_cap_and_reproduces_it(cli, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    assert cli("train", "--set", "model.blas_threads=1", "--set", "preprocess=[scale]", "--json").exit_code == 0
    seen: list[list[int]] = []
    predict = LogisticRegression.predict

    def sampled(self, X):
        seen.append(blas_counts())
        return predict(self, X)

    monkeypatch.setattr(LogisticRegression, "predict", sampled)
    result = cli("evaluate", "--json")
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)
    recorded = json.loads((only_run() / "metrics.json").read_text())
    assert evaluation["accuracy"] == recorded["accuracy"]
    assert seen and all(set(counts) == {1} for counts in seen), seen
