"""digitclf.cv: cross-validation as a split kind, checked against scikit-learn's cross_validate on the same folds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from digitclf.config import load_config
from digitclf.runner import train
from digitclf.runs import load_split
from digitclf.saved.compare import compare, corrected_t_test


def kfold_run(tmp_path, *overrides, estimator="knn"):
    cfg = load_config(None, ["name=cv", f"model.estimator={estimator}", "split.kind=kfold", "split.stratify=true",
                             "output.plots=false", *overrides])
    return train(cfg, outputs=tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize("repeats", [1, 2])
def test_fold_scores_are_cross_validates_on_the_same_folds(tmp_path, repeats):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, cross_validate
    from sklearn.tree import DecisionTreeClassifier

    # a tree, not k-NN: k-NN breaks distance ties (common on integer pixels) differently from run to run
    result = kfold_run(tmp_path, "split.n_splits=4", f"split.repeats={repeats}", f"split.jobs={repeats}",
                       estimator="decision_tree")
    X, y = load_digits(return_X_y=True)
    folds = StratifiedKFold(4, shuffle=True, random_state=0) if repeats == 1 else \
        RepeatedStratifiedKFold(n_splits=4, n_repeats=repeats, random_state=0)
    expected = cross_validate(DecisionTreeClassifier(random_state=0), X.astype(np.float32), y, cv=folds)["test_score"]
    cv = result.metrics.cv
    assert np.allclose(cv.fold_accuracy, expected, rtol=0, atol=1e-12) and len(cv.fold_accuracy) == 4 * repeats
    assert result.metrics.accuracy == pytest.approx(expected.mean()) and result.metrics.scored_on == "cross-validation"
    j, n_train, n_test = len(expected), cv.fold_n_train[0], cv.fold_n_test[0]
    half = stats.t.ppf(0.975, j - 1) * np.sqrt((1 / j + n_test / n_train) * expected.var(ddof=1))
    assert cv.ci95 == pytest.approx((expected.mean() - half, min(1.0, expected.mean() + half)))
    saved = load_split(result.run)  # every image once, predicted by the fold model that did not see it
    assert sorted(saved.test_index.tolist()) == list(range(len(y)))
    assert result.config.digest() == load_config(None, [
        "name=cv", "model.estimator=decision_tree", "split.kind=kfold", "split.stratify=true", "output.plots=false",
        "split.n_splits=4", f"split.repeats={repeats}"]).digest()  # split.jobs is not part of the identity
    from sklearn.model_selection import cross_val_predict

    first = StratifiedKFold(4, shuffle=True, random_state=0) if repeats == 1 else \
        [f for n, f in enumerate(folds.split(X, y)) if n < 4]
    assert np.array_equal(saved.y_pred, cross_val_predict(DecisionTreeClassifier(random_state=0), X.astype(np.float32),
                                                          y, cv=first))


def test_corrected_t_test_matches_an_independent_computation():
    a = np.array([0.95, 0.96, 0.94, 0.97, 0.955])
    b = np.array([0.94, 0.95, 0.945, 0.95, 0.94])
    d = a - b
    t = d.mean() / np.sqrt((1 / 5 + 300 / 1200) * d.var(ddof=1))  # Nadeau & Bengio 2003, eq. for J resamples
    test = corrected_t_test(a, b, n_train=1200, n_test=300)
    assert test["t"] == pytest.approx(t) and test["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 4))
    plain = stats.ttest_rel(a, b).pvalue  # the uncorrected test claims more than the folds can show
    assert test["p_value"] > plain
    assert corrected_t_test(a, a, 1200, 300)["p_value"] == 1.0


@pytest.mark.slow
def test_compare_uses_the_corrected_t_test_for_runs_on_the_same_folds(tmp_path):
    one = kfold_run(tmp_path, "split.n_splits=3")
    three = kfold_run(tmp_path, "split.n_splits=3", "model.params.n_neighbors=9")
    other_folds = kfold_run(tmp_path, "split.n_splits=3", "split.random_state=5")
    result = compare([one.run, three.run, other_folds.run])
    same, differ = result["tests"][0], result["tests"][1]
    expected = corrected_t_test(one.metrics.cv.fold_accuracy, three.metrics.cv.fold_accuracy,
                                one.metrics.cv.fold_n_train[0], one.metrics.cv.fold_n_test[0])
    assert same["method"].startswith("corrected resampled t-test") and same["p_value"] == expected["p_value"]
    assert same["why"] == "both runs are cross-validated on the same folds"
    assert differ["skipped"].startswith("a cross-validated run is compared with the corrected t-test")


SEEN: list = []  # BLAS threads each spy call saw (a module global: the fold clones its pipeline)


def _threads_seen(X):
    from digitclf.threads import current_blas_threads

    SEEN.append(current_blas_threads())
    return X


def test_folds_and_the_refit_fit_under_the_blas_thread_policy(tmp_path):
    """A small problem fits each fold and the refit with one BLAS thread (``blas_threads: auto``), as a
    plain run does: two threads on 1,797 digits cost 10-100x on a busy 2-core machine."""
    from threadpoolctl import threadpool_limits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from digitclf import cv
    from digitclf.runs import RunDir

    X, y = np.random.default_rng(0).random((60, 8)), np.arange(60) % 3
    SEEN.clear()
    pipeline = Pipeline([("spy", FunctionTransformer(_threads_seen)),
                         ("clf", LogisticRegression(max_iter=5))])
    with threadpool_limits(limits=2, user_api="blas"):
        cv._fold(pipeline, X, y, np.arange(40), np.arange(40, 60), "auto")
        cv._fold(pipeline, X, y, np.arange(40), np.arange(40, 60), None)  # null: the library's own
    assert SEEN == [1] * 3 + [2] * 3  # fit, predict, predict_proba under the cap; then the library's own two
    cfg = load_config("digits_lbfgs", ["split.kind=kfold", "split.n_splits=3", "output.plots=false"])
    result = train(cfg, outputs=tmp_path)
    assert RunDir(result.run.path).record().blas_threads == 1
