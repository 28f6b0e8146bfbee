"""Cross-validation as a split kind (``split: {kind: kfold, n_splits: 5, repeats: 1, stratify: true}``), or of
the training part of a test split (``split: {kind: predefined, cv: true}``: the test set is left untouched).

Each fold fits the configured preprocessing and classifier on its training rows and scores its test
rows; metrics.json keeps every fold's scores and their mean with a 95% confidence interval, and its
accuracy is that mean.  The interval uses Nadeau and Bengio's (2003) corrected variance
(1/J + n_test/n_train) s^2, because fold scores share training images and the plain t-interval is
too narrow.  The confusion matrix, per-class scores and split.npz hold the first repetition's
out-of-fold predictions (each image predicted by the one model that did not see it); the saved model
is refit on every image folded.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from digitclf.records import CvScores, Metrics
from digitclf.threads import blas_threads, fit_blas_threads

if TYPE_CHECKING:
    from digitclf.config import RunConfig
    from digitclf.datasets import Dataset
    from digitclf.runs import RunDir


def corrected_ci95(scores: np.ndarray, n_train: int, n_test: int) -> tuple[float, float]:
    """The mean of ``scores`` with Nadeau and Bengio's corrected resampled t-interval (df = J - 1), clipped
    to [0, 1] (an accuracy cannot leave it)."""
    from scipy import stats

    scores = np.asarray(scores, dtype=float)
    half = stats.t.ppf(0.975, len(scores) - 1) * np.sqrt(corrected_variance(scores, n_train, n_test))
    return float(max(0.0, scores.mean() - half)), float(min(1.0, scores.mean() + half))


def corrected_variance(scores: np.ndarray, n_train: int, n_test: int) -> float:
    """Variance of the mean of J resampled scores: (1/J + n_test/n_train) times their sample variance."""
    return float((1 / len(scores) + n_test / n_train) * np.var(scores, ddof=1))


def execute(cfg: "RunConfig", run: "RunDir", events: Any, data: "Dataset", timer: Any,
            refused: Callable[[str], Any]) -> dict[str, Any]:
    """Run the folds, ``split.jobs`` at a time (``timer``'s split, fit -- each fold's fit and prediction --, score
    and refit phases; ``refused`` turns
    scikit-learn's refusal of a parameter into a ConfigError), save the run and return the fields of
    ``runner.RunResult`` other than run and config."""
    from joblib import Parallel, delayed
    from sklearn.pipeline import Pipeline

    from digitclf import artifacts, metrics, models, splits

    with timer.phase("split"):
        rows = splits.cv_rows(data, cfg.split)
        folds = list(splits.folds(data, cfg.split, rows))
    y = data.y[rows]
    labels = np.unique(y)
    estimator, notes = models.build_estimator(cfg.model, cfg.seed, len(labels))
    for note in notes:
        events.on_note(note)
    steps = models.build_preprocessor(cfg.preprocess, data.pixel_max, cfg.seed)
    first = len(folds) // cfg.split.repeats  # the folds of the first repetition cover every image once
    y_pred = np.empty_like(data.y)  # by row of the data set; only ``rows`` are filled
    proba = None
    pipeline = Pipeline([*steps, ("clf", estimator)])
    with timer.phase("fit", f"{len(folds)} folds of {models.describe_estimator(estimator)['class']}, "
                            f"{cfg.split.jobs} at a time"), refused("model.params"):
        # the data set goes to loky workers memory-mapped (joblib does that for large arrays), not copied per fold
        outcomes = Parallel(n_jobs=cfg.split.jobs)(
            delayed(_fold)(pipeline, data.X, data.y, train_rows, test_rows, cfg.model.blas_threads)
            for train_rows, test_rows in folds)
    fold_scores = [o.accuracy for o in outcomes]
    fold_seconds = [o.fit_seconds for o in outcomes]
    n_iters = [o.n_iter for o in outcomes]
    warning_lines = sorted({line for o in outcomes for line in o.warnings})
    for (_, test_rows), outcome in zip(folds[:first], outcomes[:first]):
        y_pred[test_rows] = outcome.y_pred
        if outcome.proba is not None:
            proba = np.zeros((len(data.y), outcome.proba.shape[1]), np.float32) if proba is None else proba  # by row
            proba[test_rows] = outcome.proba
    n_train, n_test = len(folds[0][0]), len(folds[0][1])
    with timer.phase("score"):
        y_pred, proba = y_pred[rows], None if proba is None else proba[rows]
        scores = metrics.score(y, y_pred, labels)
        cv = CvScores(n_splits=cfg.split.n_splits, repeats=cfg.split.repeats, fold_accuracy=fold_scores,
                      fold_fit_seconds=fold_seconds, fold_n_train=[len(f[0]) for f in folds],
                      fold_n_test=[len(f[1]) for f in folds], mean=float(np.mean(fold_scores)),
                      std=float(np.std(fold_scores, ddof=1)), ci95=corrected_ci95(np.array(fold_scores), n_train,
                                                                                  n_test))
    with timer.phase("refit"), refused("model.params"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        final = Pipeline([*steps, ("clf", estimator)])
        cap = fit_blas_threads(cfg.model.blas_threads, len(rows) * int(data.X.shape[1]))
        with blas_threads(cap):
            final.fit(data.X[rows], y)
    warning_lines = sorted({*warning_lines, *(f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                                              for w in caught)})
    for line in warning_lines:
        events.on_warning(line)
    description = models.describe_estimator(estimator)
    result_metrics = Metrics.model_validate({
        "schema": 1, "name": cfg.name, "run_id": run.id, "dataset": cfg.dataset.name,
        "estimator": description["class"], "solver": description["solver"], "n_train": n_train,
        "n_features": int(data.X.shape[1]), "timings": timer.timings, "fit_seconds": float(sum(fold_seconds)),
        "n_iter": max((n for n in n_iters if n is not None), default=None),
        "converged": all(o.converged for o in outcomes),
        "scored_on": "cross-validation", **scores,
        "accuracy": cv.mean, "accuracy_ci95": cv.ci95, "cv": cv.to_json()})
    fields = {"metrics": result_metrics, "model": final, "y_test": y, "y_pred": y_pred, "proba": proba,
              "image_shape": data.image_shape, "notes": notes, "warnings": warning_lines}
    events.on_phase("save")
    artifacts.save(_Saved(run, cfg, **fields), data.X[rows], rows, data.class_names)
    run.finish("complete", notes=notes, warnings=warning_lines, one_vs_rest=description["one_vs_rest"],
               fit_seconds=result_metrics.fit_seconds, accuracy=result_metrics.accuracy, blas_threads=cap)
    return fields


@dataclass(frozen=True)
class _FoldOutcome:
    accuracy: float
    fit_seconds: float
    n_iter: int | None
    converged: bool
    warnings: list[str]
    y_pred: np.ndarray
    proba: np.ndarray | None


def _fold(pipeline: Any, X: np.ndarray, y: np.ndarray, train_rows: np.ndarray, test_rows: np.ndarray,
          threads: Any) -> _FoldOutcome:
    """Fit a fresh copy of ``pipeline`` on one fold's training rows and score its test rows (in a worker), under
    the ``model.blas_threads`` policy (``threads``) within the worker's share of the cores."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    from digitclf import models

    model = clone(pipeline)
    with warnings.catch_warnings(record=True) as caught, \
            blas_threads(fit_blas_threads(threads, len(train_rows) * int(X.shape[1]))):
        warnings.simplefilter("always")
        start = time.perf_counter()
        model.fit(X[train_rows], y[train_rows])
        seconds = time.perf_counter() - start
        predicted = model.predict(X[test_rows])
        proba = model.predict_proba(X[test_rows]).astype(np.float32) if hasattr(model, "predict_proba") else None
    lines = [f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught]
    return _FoldOutcome(float(np.mean(predicted == y[test_rows])), seconds, models.n_iter(model[-1]),
                        not any(issubclass(w.category, ConvergenceWarning) for w in caught), lines, predicted, proba)


class _Saved:
    """What ``artifacts.save`` reads of a run result."""

    def __init__(self, run: "RunDir", config: "RunConfig", **fields: Any) -> None:
        self.run, self.config = run, config
        self.__dict__.update(fields)
