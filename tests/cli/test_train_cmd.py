"""`digitclf train` end to end: artifacts decoded, values checked against scikit-learn directly; bad settings
are one Error: line."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from digitclf import datasets
from digitclf.config import load_config
from helpers import FASHION_DIR, OFFLINE_REASON, blas_counts, checksum_error, error_line, flip_last_pixel, only_run


METRIC_KEYS = {"accuracy", "accuracy_ci95", "n_train", "n_test", "timings", "n_iter", "converged",
               "per_class", "confusion_matrix"}


def test_digits_run_matches_plain_sklearn(cli):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    result = cli("train", "--config", "configs/digits_lbfgs.yaml")
    assert result.exit_code == 0, result.output
    run = only_run()
    metrics = json.loads((run / "metrics.json").read_text())

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target, test_size=0.25, random_state=0)
    model = LogisticRegression(solver="lbfgs").fit(x_train, y_train)
    predictions = model.predict(x_test)
    assert metrics["accuracy"] == pytest.approx(model.score(x_test, y_test), abs=1e-12)
    assert metrics["accuracy"] >= 0.95
    assert metrics["confusion_matrix"] == confusion_matrix(y_test, predictions).tolist()
    assert metrics["n_train"] == 1347 and metrics["n_test"] == 450
    assert metrics["n_iter"] == model.n_iter_.max()
    assert metrics["converged"] is False  # 100 iterations on raw pixels: scikit-learn warns
    low, high = metrics["accuracy_ci95"]
    assert low < metrics["accuracy"] < high
    assert set(metrics["timings"]) == {"load", "split", "preprocess", "fit", "predict", "score"}
    assert all(t["wall"] >= 0 and t["cpu"] >= 0 for t in metrics["timings"].values())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["per_class"]["0"]["support"] == int(np.sum(y_test == 0))

    # artifacts: present, recorded with their sha256, decodable
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["pid"] == os.getpid()
    assert set(record["artifacts"]) == {"model.joblib", "split.npz", "confusion_matrix.png", "misclassified.png",
                                        "metrics.json", "metrics_flat.json", "timings_flat.json", "predictions.csv"}
    assert record["dataset"]["fingerprint"].startswith("sha256:")
    assert {"python", "scikit-learn", "numpy"} <= set(record["versions"])
    assert load_config(run / "config.yaml").to_dict() == {**load_config("digits_lbfgs").to_dict()}
    with Image.open(run / "confusion_matrix.png") as image:
        assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 600
    with Image.open(run / "misclassified.png") as image:
        # 22 errors on 5 rows of 5 at 100 dpi: each image 2 in wide + a 0.6 in gap, 2 in tall + 0.55 in of
        # title, and 0.15 in below the grid
        assert image.size == (round(5 * 2.6 * 100), round((5 * 2.55 + 0.15) * 100))
    import joblib

    saved = joblib.load(run / "model.joblib")
    np.testing.assert_array_equal(saved.predict(x_test.astype(np.uint8)), predictions)
    split = np.load(run / "split.npz")
    np.testing.assert_array_equal(split["y_test"], y_test)
    assert len(split["error_index"]) == int(np.sum(predictions != y_test))
    assert Path("outputs/latest").resolve() == run.resolve()
    assert f"accuracy  {metrics['accuracy']:.4f}" in result.stdout


def test_json_prints_exactly_the_metrics_document(cli):
    result = cli("train", "-c", "digits_lbfgs", "--json")
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed == json.loads((only_run() / "metrics.json").read_text())


def test_overrides_change_the_run(cli):
    result = cli("train", "-c", "digits_lbfgs", "--json", "--set", "model.params.C=0.01",
                 "--set", "split.random_state=1", "--set", "preprocess=[scale]")
    assert result.exit_code == 0
    saved = load_config(only_run() / "config.yaml")
    assert saved.model.params["C"] == 0.01 and saved.split.random_state == 1 and saved.preprocess == ["scale"]


def test_liblinear_is_wrapped_one_vs_rest_and_recorded(cli):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.multiclass import OneVsRestClassifier

    result = cli("train", "-c", "digits_lbfgs", "--set", "model.params.solver=liblinear")
    assert result.exit_code == 0, result.output
    assert "wrapped in OneVsRestClassifier" in result.stderr
    record = json.loads((only_run() / "run.json").read_text())
    assert record["one_vs_rest"] is True and "OneVsRestClassifier" in record["notes"][0]
    x_train, x_test, y_train, y_test = train_test_split(*load_digits(return_X_y=True), test_size=0.25, random_state=0)
    expected = OneVsRestClassifier(LogisticRegression(solver="liblinear", random_state=0)).fit(x_train, y_train)
    metrics = json.loads((only_run() / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(expected.score(x_test, y_test), abs=1e-12)


def test_idx_dataset_run_with_predefined_split(cli, idx_folder):
    result = cli("train", "--json", "--set", "dataset.name=idx", "--set", f"dataset.path={idx_folder}",
                 "--set", "split.kind=predefined", "--set", "preprocess=[scale]", "--set", "name=tiny")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n_train"] == 200 and metrics["n_test"] == 50 and metrics["n_features"] == 784
    assert metrics["accuracy"] > 0.9  # the bars are easy
    with Image.open(only_run() / "misclassified.png") as image:
        assert image.size[0] > 0


def test_config_error_exits_2_with_one_line_and_no_run_folder(cli):
    result = cli("train", "-c", "digits_lbfgs", "--set", "model.params.solver=lbfgz")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: model.params.solver: LogisticRegression's solver must be")
    assert result.stdout == ""
    assert not Path("outputs").exists()


def test_runtime_failure_marks_run_failed_and_exits_1(cli, monkeypatch):
    from digitclf import artifacts

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(artifacts, "save_model", boom)
    result = cli("train", "-c", "digits_lbfgs")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: unexpected RuntimeError: disk on fire (rerun with --debug for the traceback)")
    record = json.loads((only_run() / "run.json").read_text())
    assert record["status"] == "failed" and record["error"] == "RuntimeError: disk on fire"
    assert "RuntimeError: disk on fire" in (only_run() / "traceback.txt").read_text()
    assert not Path("outputs/latest").exists()


@pytest.mark.parametrize("value,message", [
    ("0", "Error: config: model.blas_threads: input should be greater than or equal to 1, got 0"),
    ("1025", "Error: config: model.blas_threads: input should be less than or equal to 1024, got 1025"),
    ("true", "Error: config: model.blas_threads: must be a whole number, not true "
             "(YAML reads true/false as booleans)"),
])
def test_bad_blas_threads_exit_2_with_one_line(cli, value, message):
    result = cli("train", "--set", f"model.blas_threads={value}", "--json")
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
    assert result.stdout == ""
    assert not Path("outputs").exists()


def test_fractional_blas_threads_exit_2_naming_the_key(cli):
    result = cli("train", "--set", "model.blas_threads=1.5", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("Error: config: model.blas_threads: input should be a valid integer, "
                             "got a number with a fractional part: 1.5\n")
    assert not Path("outputs").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 100 lbfgs steps on raw pixels
def test_train_with_one_blas_thread_matches_plain_sklearn(cli, monkeypatch):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    seen: list[list[int]] = []  # BLAS thread counts inside fit, predict and predict_proba, in their thread

    def watched(name):
        method = getattr(LogisticRegression, name)

        def sampled(self, *args, **kwargs):
            if threading.current_thread().name == "digitclf-fit":  # the run's own calls, not validation's
                seen.append(blas_counts())
            return method(self, *args, **kwargs)
        monkeypatch.setattr(LogisticRegression, name, sampled)

    for name in ("fit", "predict", "predict_proba"):
        watched(name)
    result = cli("train", "--set", "model.blas_threads=1", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)

    x_train, x_test, y_train, y_test = train_test_split(*load_digits(return_X_y=True), test_size=0.25, random_state=0)
    expected = LogisticRegression(solver="lbfgs").fit(x_train, y_train).score(x_test, y_test)
    assert metrics["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert metrics["n_train"] == 1347 and metrics["n_test"] == 450

    assert len(seen) == 3 and all(counts and set(counts) == {1} for counts in seen), seen
    run = only_run()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["blas_threads"] == 1
    assert load_config(run / "config.yaml").model.blas_threads == 1
    record = json.loads((run / "run.json").read_text())
    assert record["config"]["model"]["blas_threads"] == 1
    assert record["config_digest"] == load_config(None, ["model.blas_threads=1"]).digest()


def test_checksum_failure_via_the_cli(cli, idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    flip_last_pixel(folder)
    result = cli("train", "--set", "dataset.name=mnist", "--set", "split.kind=predefined", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "Error: " + checksum_error(folder) + "\n"
    record = json.loads((only_run() / "run.json").read_text())  # the run is recorded as failed
    assert record["status"] == "failed" and record["error"] == "DatasetError: " + checksum_error(folder)


@pytest.mark.filterwarnings("ignore:A network error occurred:UserWarning")
@pytest.mark.usefixtures("no_network")
def test_cli_train_offline_needs_mnist(cli, sklearn_home):
    result = cli("train", "--set", "dataset.name=mnist")
    assert result.exit_code == 1
    assert error_line(result) == (
        f"Error: cannot fetch mnist from OpenML ({OFFLINE_REASON}); with no network, point dataset.path "
        "at a folder of IDX files or run 'digitclf data import mnist PATH'")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="the digitclf[mlflow] extra is not installed")
def test_train_cli_logs_to_mlflow_and_a_failure_is_only_a_warning(cli, tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    result = cli("train", "-c", "digits_lbfgs", "--set", "output.plots=false", "--set",
                 f"output.mlflow={{tracking_uri: '{uri}', experiment: cli}}")
    assert result.exit_code == 0, result.output
    line = next(l for l in result.stderr.splitlines() if l.startswith("mlflow    run "))
    mlflow_id = line.split()[2]
    logged = MlflowClient(tracking_uri=uri).get_run(mlflow_id)
    saved = json.loads(next(Path("outputs").glob("*/*/metrics.json")).read_text())
    assert logged.data.metrics["accuracy"] == pytest.approx(saved["accuracy"])
    down = cli("train", "-c", "digits_lbfgs", "--set", "output.plots=false", "--set",
               "output.mlflow.tracking_uri=http://127.0.0.1:9")
    assert down.exit_code == 0  # the run is saved; MLflow is only a warning
    assert any(l.startswith("warning: run ") and "was not logged to MLflow" in l for l in down.stderr.splitlines())


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_fast_config(cli):
    result = cli("train", "-c", "fashion_mnist_fast", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n_train"] == 60000 and metrics["n_test"] == 10000
    assert 0.83 < metrics["accuracy"] < 0.86
    with Image.open(only_run() / "misclassified.png") as image:  # 25 of them: 5 x 5, each 2 in, as for digits
        assert image.size == (round(5 * 2.6 * 100), round((5 * 2.55 + 0.15) * 100))


def test_a_kfold_run_says_folds_not_train_and_test(cli):
    from scipy import stats
    from sklearn.datasets import load_digits
    from sklearn.model_selection import KFold

    result = cli("train", "-c", "digits_lbfgs", "--set", "split.kind=kfold", "--set", "split.n_splits=4",
                 "--set", "output.plots=false")
    assert result.exit_code == 0, result.output
    X, y = load_digits(return_X_y=True)
    n_train = len(next(KFold(4).split(X))[0])
    metrics = json.loads((only_run() / "metrics.json").read_text())
    folds = np.array(metrics["cv"]["fold_accuracy"])
    half = stats.t.ppf(0.975, 3) * np.sqrt((1 / 4 + (len(y) - n_train) / n_train) * folds.var(ddof=1))
    mean = folds.mean()
    split = np.load(only_run() / "split.npz")  # the out-of-fold predictions of every image
    n_errors = int(np.sum(split["y_pred"] != y[split["test_index"]]))
    lines = result.stdout.splitlines()
    assert lines[1] == f"data      digits: 4-fold CV on {len(y):,} images ({n_train:,} train per fold), 64 features"
    assert lines[3] == (f"accuracy  mean {mean:.4f} ± {half:.4f} over 4 folds  (95% CI {mean - half:.4f}-"
                        f"{mean + half:.4f}, {n_errors} errors out of fold)")
