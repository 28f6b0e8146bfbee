"""Watching a fit: the held-out slice, scikit-learn's callback on every iteration, curve.csv and curve.png.

``FitWatch`` is the runner's one hook around the fit.  It carves a seeded validation slice out of
the *training* split (the test set is only touched after the fit, for the final score), attaches
``CurveCallback`` -- a ``sklearn.callback.FitCallback`` -- to estimators that report their iterations
(``LogisticRegression(solver="lbfgs")`` in scikit-learn 1.9), or hands the stopping rule to an
estimator's own ``early_stopping`` (SGD, MLP), then writes what it saw.  Nothing is patched: the
callback reads the ``fitted_estimator`` scikit-learn passes after each iteration.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from digitclf import stopping
from digitclf.records import CurvePoint, curve_csv

if TYPE_CHECKING:
    from digitclf.config import RunConfig
    from digitclf.observers import RunObserver
    from digitclf.runs import RunDir

CURVE_VALIDATION_FRACTION = 0.1  # the slice held out for output.curve when model.early_stopping does not say
# tasks run inside scipy.optimize.minimize: scikit-learn 1.9 ignores a hook's True there (its TODO for 1.10), so
# the callback raises StopIteration, which scipy documents as "stop the minimization" for a callback
SCIPY_TASKS = ("lbfgs-iter",)


@dataclass(frozen=True)
class FitProgress:
    """Where a fit is after one iteration (the ``on_iteration`` event)."""

    iteration: int
    max_iter: int | None
    elapsed: float  # seconds since the fit began
    val_accuracy: float | None  # None when no slice is scored (a time budget alone)
    time_budget: float | None = None

    @property
    def remaining(self) -> float | None:
        """Seconds left at most: the iterations left at the mean pace, capped by the time budget."""
        left = [self.time_budget - self.elapsed] if self.time_budget is not None else []
        if self.max_iter:
            left.append(self.elapsed / self.iteration * (self.max_iter - self.iteration))
        return max(0.0, min(left)) if left else None


class StopFit(Exception):
    """Raised by an ``on_iteration`` observer to stop the fit there (a sweep's pruner: reason ``pruned``);
    the run completes with the model of that iteration, recorded as stopped early for that reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CurveCallback:
    """A ``sklearn.callback.FitCallback``: scores the held-out slice after every iteration and says when to stop.

    ``X_val``/``y_val`` may be None (a time budget alone: nothing is scored).  ``wall_seconds`` in a
    point is the fit's own time: the time spent scoring is left out, so curves of different runs
    share one time axis.
    """

    def __init__(self, X_val: Any, y_val: Any, *, rule: stopping.PatienceRule | None = None,
                 time_budget: float | None = None, max_iter: int | None = None,
                 on_iteration: Callable[[FitProgress], None] = lambda progress: None) -> None:
        self.X_val, self.y_val = X_val, y_val
        if X_val is not None:
            from sklearn.utils import assert_all_finite

            assert_all_finite(X_val, input_name="the validation slice")
        self.rule, self.time_budget, self.max_iter = rule, time_budget, max_iter
        self.on_iteration = on_iteration
        self.points: list[CurvePoint] = []
        self.iterations = 0
        self.stop_reason: str | None = None
        self.best_state: dict[str, Any] | None = None  # fitted attributes at the best iteration
        self.scoring_seconds = 0.0
        self.started = self.last = time.perf_counter()

    def setup(self, estimator: Any, context: Any) -> None:
        self.started = self.last = time.perf_counter()

    def teardown(self, estimator: Any, context: Any) -> None:
        pass

    def on_fit_task_begin(self, estimator: Any, context: Any) -> None:
        pass

    def on_fit_task_end(self, estimator: Any, context: Any, *, fitted_estimator: Any = None) -> bool:
        # the whole fit's task (no parent) and the empty task after scipy's last iteration carry no new model
        if context.parent is None or fitted_estimator is None or self.stop_reason is not None:
            return False
        self.iterations += 1
        stop = None
        accuracy = None
        if self.X_val is not None:
            scoring = time.perf_counter()
            accuracy = self._score(fitted_estimator, scoring - self.started - self.scoring_seconds)
            self.scoring_seconds += time.perf_counter() - scoring
            if self.rule is not None:
                if self.rule.update(self.iterations, accuracy):
                    stop = "patience"
                if self.rule.best_iteration == self.iterations:
                    self.best_state = _fitted_state(fitted_estimator)
        now = time.perf_counter()
        elapsed, step = now - self.started, now - self.last
        self.last = now
        # the next iteration, as long as the last one, would not end inside the budget (the first one also
        # holds the solver's set-up, so it predicts nothing)
        ahead = step if self.iterations > 1 else 0.0
        if stop is None and self.time_budget is not None and elapsed + ahead > self.time_budget:
            stop = "time_budget"
        try:
            self.on_iteration(FitProgress(self.iterations, self.max_iter, elapsed, accuracy, self.time_budget))
        except StopFit as exc:
            stop = stop or exc.reason
        if stop is None:
            return False
        self.stop_reason = stop
        if context.task_name in SCIPY_TASKS:
            raise StopIteration
        return True

    def _score(self, fitted: Any, wall: float) -> float:
        """Accuracy and log-loss on the slice from one ``predict_proba``.

        The two means are taken directly from the probabilities: ``sklearn.metrics.log_loss`` and
        ``accuracy_score`` re-check and one-hot encode the labels on every call, a third of the cost
        of an iteration's scoring on 6,000 images (tests check both against scikit-learn's); for the
        same reason the slice's finiteness is checked once, not in every ``predict_proba``.
        """
        classes = fitted.classes_
        index = np.searchsorted(classes, self.y_val).clip(0, len(classes) - 1)
        if not hasattr(fitted, "predict_proba") or not np.array_equal(classes[index], self.y_val):
            from sklearn.metrics import accuracy_score  # a label the fit never saw, or no probabilities

            accuracy, loss = float(accuracy_score(self.y_val, fitted.predict(self.X_val))), None
        else:
            from sklearn import config_context

            with config_context(assume_finite=True):  # the slice is checked once (below), not at every iteration
                proba = fitted.predict_proba(self.X_val)
            accuracy = float(np.mean(np.argmax(proba, axis=1) == index))
            true = proba[np.arange(len(index)), index]
            loss = float(-np.mean(np.log(np.clip(true, np.finfo(proba.dtype).eps, 1.0))))
        self.points.append(CurvePoint(iteration=self.iterations, wall_seconds=wall, val_accuracy=accuracy,
                                      val_log_loss=loss))
        return accuracy


def _fitted_state(fitted: Any) -> dict[str, Any]:
    """The fitted attributes (``coef_``, ``intercept_``, ...) as copies: the solver reuses its buffers."""
    return {key: np.array(value, copy=True) if isinstance(value, np.ndarray) else value
            for key, value in vars(fitted).items() if key.endswith("_") and not key.startswith("_")}


def validation_rows(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows) of a training split: seeded, stratified when every class has two images."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    counts = np.unique(y, return_counts=True)[1]
    fit, validation = train_test_split(rows, test_size=fraction, random_state=seed,
                                       stratify=y if counts.min() >= 2 else None)
    return np.sort(fit), np.sort(validation)


@dataclass
class FitWatch:
    """The runner's hook around one fit: carve, transform, fit with the callback, then record.

    Built by ``watch``; the runner calls ``carve`` right after the split, ``transform`` after the
    preprocessing steps are fitted, ``fit`` instead of ``estimator.fit`` and ``finish`` after it.
    """

    config: "RunConfig"
    how: stopping.Support
    curve: bool
    fraction: float | None  # the slice digitclf holds out (None: none, or the estimator holds out its own)
    events: "RunObserver | None" = None
    X_val: Any = None
    y_val: Any = None
    callback: CurveCallback | None = None
    native_validation: int = 0
    fit_seconds: float = 0.0  # of a fit without callbacks: its curve's one point is scored after the fit phase
    points: list[CurvePoint] = field(default_factory=list)

    def carve(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """The training split less the validation slice (kept raw until ``transform``)."""
        if self.fraction is None:
            return X, y
        fit, validation = validation_rows(y, self.fraction, self.config.seed)
        self.X_val, self.y_val = X[validation], y[validation]
        return X[fit], y[fit]

    def transform(self, steps: list[tuple[str, Any]]) -> None:
        """Pass the slice through the preprocessing steps fitted on the fit rows."""
        for _, step in steps:
            if self.X_val is not None:
                self.X_val = step.transform(self.X_val)

    def fit(self, estimator: Any, X: Any, y: np.ndarray) -> Any:
        """``estimator.fit(X, y)``, watched; the best iteration's model is kept when early stopping stopped it."""
        model = self.config.model
        if self.how == "native" and model.early_stopping is not None:
            estimator.set_params(**stopping.native_params(model.early_stopping, estimator))
            self.native_validation = math.ceil(model.early_stopping.validation_fraction * len(y))
        if self.how != "callbacks" or not (self.fraction is not None or model.time_budget is not None):
            started = time.perf_counter()
            estimator.fit(X, y)
            self.fit_seconds = time.perf_counter() - started
            return estimator
        rule = None if model.early_stopping is None else \
            stopping.PatienceRule(model.early_stopping.patience, model.early_stopping.min_delta)
        on_iteration = self.events.on_iteration if self.events is not None else (lambda progress: None)
        self.callback = CurveCallback(self.X_val, self.y_val, rule=rule, time_budget=model.time_budget,
                                      max_iter=getattr(estimator, "max_iter", None), on_iteration=on_iteration)
        estimator.set_callbacks(self.callback)
        try:
            estimator.fit(X, y)
        finally:
            estimator.set_callbacks()  # the saved model holds no callback (nor the slice it scores)
        if self.callback.stop_reason == "patience" and self.callback.best_state is not None:
            for key, value in self.callback.best_state.items():
                setattr(estimator, key, value)
        self.points = self.callback.points
        return estimator

    def _final_point(self, estimator: Any, seconds: float) -> None:
        """Estimators without per-iteration callbacks: MLP's own validation scores, else one point at the end."""
        scores = getattr(estimator, "validation_scores_", None)
        if scores:
            self.points = [CurvePoint(iteration=i + 1, val_accuracy=float(s)) for i, s in enumerate(scores)]
        elif self.X_val is not None and self.curve:
            from digitclf.models import n_iter

            scorer = CurveCallback(self.X_val, self.y_val)
            scorer.iterations = n_iter(estimator) or 1
            scorer._score(estimator, seconds)
            self.points = scorer.points

    def metrics(self, estimator: Any) -> dict[str, Any]:
        """metrics.json's fields for how the fit stopped and what it held out."""
        from digitclf.models import n_iter

        if self.callback is not None:
            reason = self.callback.stop_reason
            rule = self.callback.rule
            best = rule.best_iteration if rule is not None and reason == "patience" else None
            return {"n_validation": len(self.y_val) if self.y_val is not None else 0,
                    "stopped_early": reason is not None, "stop_reason": reason, "best_iteration": best}
        if self.how == "native" and self.config.model.early_stopping is not None:
            ran, limit = n_iter(estimator), getattr(estimator, "max_iter", None)
            stopped = ran is not None and limit is not None and ran < limit
            scores = getattr(estimator, "validation_scores_", None)
            best = int(np.argmax(scores)) + 1 if scores else ran  # MLP keeps its best epoch, SGD its last
            return {"n_validation": self.native_validation, "stopped_early": stopped,
                    "stop_reason": "patience" if stopped else None, "best_iteration": best if stopped else None}
        return {"n_validation": len(self.y_val) if self.y_val is not None else 0}

    def save(self, run: "RunDir", estimator: Any) -> None:
        """curve.csv, and curve.png when plots are on (nothing when no curve was recorded)."""
        if self.callback is None:
            self._final_point(estimator, self.fit_seconds)
        if not (self.curve and self.points):
            return
        run.add_artifact("curve.csv", lambda fh: fh.write(curve_csv(self.points).encode()))
        if self.config.output.plots:
            from digitclf.plots import convergence_curve

            stopped = self.callback.stop_reason if self.callback is not None else None
            best = self.callback.rule.best_iteration if self.callback is not None and self.callback.rule else None
            ax = convergence_curve(self.points, title=self.config.name, best_iteration=best, stop_reason=stopped)
            run.add_artifact("curve.png", lambda fh: ax.figure.savefig(fh, format="png", dpi=100))


def watch(config: "RunConfig", estimator: Any, events: "RunObserver | None" = None) -> FitWatch:
    """The watch for one fit of ``estimator`` under ``config`` (checked by ``checks.preflight`` already)."""
    model = config.model
    how = stopping.support(estimator)
    curve = config.output.curve if config.output.curve is not None else model.early_stopping is not None
    if how == "native" and model.early_stopping is not None:
        fraction = None  # the estimator holds out its own slice from what it is given
    elif curve or (how == "callbacks" and model.early_stopping is not None):
        fraction = model.early_stopping.validation_fraction if model.early_stopping else CURVE_VALIDATION_FRACTION
    else:
        fraction = None
    return FitWatch(config, how, curve, fraction, events)


def read_run_curve(run: "RunDir") -> list[CurvePoint]:
    """A saved run's curve (a RunError when the run recorded none or the file is damaged)."""
    from digitclf.records import read_curve

    return read_curve(run.file("curve.csv"))


def has_curve(run: "RunDir") -> bool:
    """Whether the run recorded a curve (curve.csv is one of its artifacts)."""
    return "curve.csv" in run.record().artifacts


def summary(run: "RunDir") -> dict[str, Any] | None:
    """What a run's curve says, for evaluate and report: iterations, the kept iteration, best and last
    validation accuracy (None when the run recorded no curve)."""
    if not has_curve(run):
        return None
    points = read_run_curve(run)
    metrics = run.metrics()
    best = max(points, key=lambda p: p.val_accuracy) if points else None
    return {"file": "curve.csv", "iterations": len(points), "n_validation": metrics.n_validation,
            "stopped_early": metrics.stopped_early, "stop_reason": metrics.stop_reason,
            "kept_iteration": metrics.best_iteration,
            "best_val_accuracy": best.val_accuracy if best else None,
            "best_val_iteration": best.iteration if best else None,
            "last_val_accuracy": points[-1].val_accuracy if points else None}


def plot_run(run: "RunDir", ax: Any = None) -> Any:
    """A saved run's curve, drawn from curve.csv (the same figure as its curve.png)."""
    from digitclf.plots import convergence_curve

    metrics = run.metrics()
    return convergence_curve(read_run_curve(run), title=f"{run.name} / {run.id}", ax=ax,
                             best_iteration=metrics.best_iteration, stop_reason=metrics.stop_reason)
