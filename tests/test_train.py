"""`digitclf train` end to end: artifacts decoded, values checked against scikit-learn directly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION_DIR
from PIL import Image

from digitclf.config import load_config
from digitclf.runner import train

METRIC_KEYS = {"accuracy", "accuracy_ci95", "n_train", "n_test", "timings", "n_iter", "converged",
               "per_class", "confusion_matrix"}


def only_run(outputs: Path = Path("outputs")) -> Path:
    runs = [p.parent for p in outputs.glob("*/*/run.json")]
    assert len(runs) == 1, runs
    return runs[0]


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
                                        "metrics.json", "metrics_flat.json", "predictions.csv"}
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


def test_two_runs_never_share_a_folder():
    cfg = load_config("digits_lbfgs", ["model.params.max_iter=5"])
    first = train(cfg).run.path
    second = train(cfg).run.path
    assert first != second and first.parent == second.parent
    assert Path("outputs/latest").resolve() == second.resolve()


def test_config_error_exits_2_with_one_line_and_no_run_folder(cli):
    result = cli("train", "-c", "digits_lbfgs", "--set", "model.params.solver=lbfgz")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: model.params: The 'solver' parameter")
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


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "train", "-c", "digits_lbfgs", "--set", "seed=x")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: configs/digits_lbfgs.yaml: seed: input should be a valid integer")


def test_config_show_and_validate(cli):
    shown = cli("config", "show", "-c", "mnist_lbfgs", "--set", "model.params.C=10", "--json")
    assert shown.exit_code == 0
    data = json.loads(shown.stdout)
    assert data["model"]["params"] == {"solver": "lbfgs", "max_iter": 100, "C": 10}
    assert data["split"]["test_size"] == pytest.approx(1 / 7)
    ok = cli("config", "validate", "-c", "mnist_liblinear")
    assert ok.exit_code == 0 and ok.stdout == "ok: mnist_liblinear (mnist, logistic_regression) is valid\n"
    bad = cli("config", "validate", "-c", "mnist_lbfgs", "--set", "model.params.solver=lbfgz")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: model.params: The 'solver' parameter")


def test_data_import_and_list(cli, idx_folder):
    result = cli("data", "import", "emnist-tiny", str(idx_folder))
    assert result.exit_code == 0 and "cached emnist-tiny at" in result.stdout
    listed = json.loads(cli("data", "list", "--json").stdout)
    by_name = {row["name"]: row for row in listed["datasets"]}
    assert by_name["digits"]["source"] == "embedded"
    bad = cli("data", "import", "../x", str(idx_folder))
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: '../x' is not a usable cache name")


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


def test_chunked_standardization_equals_scikit_learns_one_pass():
    from sklearn.preprocessing import StandardScaler

    from digitclf.models import fit_transform as _fit_transform

    X = np.random.default_rng(0).integers(0, 256, size=(10000, 30)).astype(np.float32)
    expected = StandardScaler().fit(X)
    chunked = StandardScaler(copy=False)
    out = _fit_transform(chunked, X.copy())
    np.testing.assert_allclose(chunked.mean_, expected.mean_, rtol=1e-10)
    np.testing.assert_allclose(chunked.scale_, expected.scale_, rtol=1e-10)
    np.testing.assert_allclose(out, expected.transform(X), atol=1e-5)
    assert chunked.n_samples_seen_ == 10000 and out.dtype == np.float32


def test_pca_transformed_in_blocks_equals_scikit_learns_fit_transform():
    from sklearn.decomposition import PCA

    from digitclf.models import fit_transform as _fit_transform

    X = np.random.default_rng(1).integers(0, 256, size=(10001, 40)).astype(np.float32)  # 3 blocks, the last short
    expected = PCA(n_components=12, whiten=True, random_state=0).fit_transform(X)
    step = PCA(n_components=12, whiten=True, random_state=0)
    out = _fit_transform(step, X, chunk=4096)
    assert out.shape == (10001, 12) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_allclose(step.transform(X[:5]), expected[:5], atol=1e-4)  # the fitted step, as saved
