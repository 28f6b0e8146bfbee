"""model.accelerator: sklearnex -- scikit-learn-intelex fits, scikit-learn stays unpatched, the model is scikit-learn's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib.metadata import version

import joblib
import numpy as np
import pytest

from digitclf import checks
from helpers import REPO, error_line, train

MISSING = ("Error: model.accelerator: sklearnex needs scikit-learn-intelex, which is not installed; "
           "pip install 'digitclf[intelex]' or remove model.accelerator")


def test_a_missing_sklearnex_is_one_error_line_and_no_run(cli, monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(checks, "find_spec", lambda name, *a: None if name == "sklearnex" else real(name, *a))
    result = cli("train", "--set", "model.accelerator=sklearnex", "--outputs", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert error_line(result) == MISSING
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("overrides", "expected"), [
    (["model.estimator=knn"], "Error: model.accelerator: digitclf fits only LogisticRegression with sklearnex, "
                              "not KNeighborsClassifier; use estimator logistic_regression or remove model.accelerator"),
    (["model.time_budget=5"], "Error: model.accelerator: sklearnex's fit reports no iterations, so "
                              "model.time_budget cannot work with it; remove one of the two"),
    (["output.curve=true"], "Error: model.accelerator: sklearnex fits only a plain train/test run (no output.curve, "
                            "no cross-validation); remove model.accelerator or those settings"),
])
def test_what_the_accelerated_fit_cannot_do_is_refused(cli, monkeypatch, tmp_path, overrides, expected):
    monkeypatch.setattr(checks, "find_spec", lambda name, *a: object())  # as if installed: the combination is wrong
    args = [a for o in ["model.accelerator=sklearnex", *overrides] for a in ("--set", o)]
    result = cli("train", *args, "--outputs", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert error_line(result) == expected


@pytest.mark.slow  # two digits runs and a child process
def test_sklearnex_fits_what_scikit_learn_fits_and_patches_nothing(tmp_path):
    sklearnex = pytest.importorskip("sklearnex", reason="the digitclf[intelex] extra is not installed")
    import sklearn.linear_model

    original = sklearn.linear_model.LogisticRegression
    settings = ["preprocess=[scale]", "model.params.max_iter=2000"]  # both converge: the same optimum
    plain = train(tmp_path / "plain", *settings)
    fast = train(tmp_path / "fast", *settings, "model.accelerator=sklearnex")

    assert sklearn.linear_model.LogisticRegression is original and not sklearnex.sklearn_is_patched()
    assert type(fast.model[-1]) is original  # scikit-learn's own class was saved
    assert abs(fast.metrics.accuracy - plain.metrics.accuracy) <= 0.01
    assert np.mean(fast.y_pred == plain.y_pred) >= 0.98
    record = json.loads(fast.run.file("run.json").read_text())
    assert record["accelerator"] == {"name": "sklearnex", "package": "scikit-learn-intelex",
                                     "version": version("scikit-learn-intelex"), "scope": "fit"}
    assert "accelerator" not in json.loads(plain.run.file("run.json").read_text())

    # the saved model predicts where scikit-learn-intelex cannot be imported, with the same predictions
    test_rows = np.load(fast.run.file("split.npz"))["test_index"]
    from sklearn.datasets import load_digits

    X = load_digits().data[test_rows]
    np.save(tmp_path / "X.npy", X)
    code = ("import sys, joblib, numpy as np; sys.modules['sklearnex'] = sys.modules['daal4py'] = None; "
            f"m = joblib.load({str(fast.run.file('model.joblib'))!r}); "
            f"print(','.join(map(str, m.predict(np.load({str(tmp_path / 'X.npy')!r})))))")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert [int(v) for v in child.stdout.strip().split(",")] == fast.y_pred.tolist()
    assert joblib.load(fast.run.file("model.joblib"))[-1].coef_.shape == (10, 64)
