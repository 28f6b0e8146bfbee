"""One run: load, split, preprocess, fit, predict, score -- each phase timed -- then save it all.

``train`` owns the phases only: a checked config comes in (``checks.preflight``), a run folder
(``runs.RunDir``) records the lifecycle, observers (``observers.RunObserver``) hear about it,
``artifacts.save`` writes the results.
"""

from __future__ import annotations

import contextlib
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from digitclf.checks import CheckedConfig, preflight
from digitclf.config import RunConfig
from digitclf.errors import ConfigError, DatasetError, DigitclfError
from digitclf.observers import RunEvents, RunObserver
from digitclf.records import Metrics
from digitclf.runs import RunDir, write_text
from digitclf.threads import blas_threads, capped, fit_blas_threads, sigterm_as_interrupt

if TYPE_CHECKING:
    from digitclf.datasets import Dataset
    from digitclf.plots import Renderer


@dataclass
class RunResult:
    """What one run produced; plots and commands read this (or the saved run), never the training code."""

    run: RunDir
    config: RunConfig
    metrics: Metrics
    model: Any
    y_test: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    image_shape: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Timer:
    """Wall and CPU seconds per phase; each phase is announced to the observers once."""

    def __init__(self, events: RunObserver) -> None:
        self.timings: dict[str, dict[str, float]] = {}
        self._events = events

    @contextlib.contextmanager
    def phase(self, name: str, detail: str = "") -> Iterator[None]:
        """Time the block; a phase entered again adds to its total."""
        if name not in self.timings:
            self._events.on_phase(name, detail)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            before = self.timings.get(name, {"wall": 0.0, "cpu": 0.0})
            self.timings[name] = {"wall": before["wall"] + time.perf_counter() - wall,
                                  "cpu": before["cpu"] + time.process_time() - cpu}


@contextlib.contextmanager
def _refused_by_sklearn(key: str) -> Iterator[None]:
    """A ValueError from scikit-learn on the real data (n_neighbors > samples, PCA wider than the
    images) is a configuration the data cannot support: one line naming the config key, exit 2."""
    try:
        yield
    except (ValueError, OverflowError) as exc:  # OverflowError: a parameter too large for the compiled solver
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{key}: {message} (scikit-learn, on this data); change {key} in the config") from exc


def train(config: RunConfig | CheckedConfig, *, observers: Sequence[RunObserver] = (),
          outputs: Path | None = None, run_id: str | None = None, data: "Dataset | None" = None,
          record: dict[str, Any] | None = None, renderer: "Renderer | None" = None) -> RunResult:
    """Run a config into a new run folder and return the result.

    A plain RunConfig is checked first (``checks.preflight``); a CheckedConfig is trusted as it is.
    ``run_id`` names the folder (default: time + random suffix; an existing one is an error);
    ``data`` is an already loaded data set (sweeps load it once per worker); ``record`` adds
    keys to run.json (a sweep marks its points); ``renderer`` draws the plots (``plots.Renderer``,
    started early to overlap; default: drawn in this process).  The folder is ``running`` until every
    artifact is written, then ``complete``; an exception marks it ``failed`` (traceback
    saved), Ctrl-C or SIGTERM ``interrupted``.
    """
    cfg = preflight(config).config
    events = RunEvents(observers)
    run = RunDir.create(Path(outputs or cfg.output.dir), cfg.name, run_id)
    run.start(cfg, config_digest=cfg.digest(), **(record or {}))
    events.on_start(run, cfg)
    try:
        with sigterm_as_interrupt():
            result = _execute(cfg, run, events, data, renderer)
    except KeyboardInterrupt:
        if _record_end(run, "interrupted", "interrupted by the user (Ctrl-C or SIGTERM)", None):
            events.on_interrupt(run)
        raise
    except BaseException as exc:
        if _record_end(run, "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()):
            events.on_fail(run, exc)
        raise
    events.on_complete(result)
    return result


def _record_end(run: RunDir, status: str, error: str, trace: str | None) -> bool:
    """Record how the run ended; False when it was already complete (a signal after the last write).

    Best effort: on a full disk recording the failure can fail too; the original error still wins.
    """
    try:
        if run.record().status == "complete":
            return False
    except (OSError, DigitclfError):
        pass
    try:  # the status first: on a full disk it still fits in run.json's spare room, a traceback may not
        run.finish(status, error=error)
    except (OSError, DigitclfError):
        pass
    if trace:
        try:
            write_text(run.file("traceback.txt"), trace)
        except OSError:
            pass
    return True


def _execute(cfg: RunConfig, run: RunDir, events: RunObserver, data: "Dataset | None",
             renderer: "Renderer | None") -> RunResult:
    from digitclf import artifacts, curves, datasets, metrics, models, splits

    write_text(run.file("config.yaml"), cfg.to_yaml())
    timer = Timer(events)
    with timer.phase("load"):
        if data is None:
            data = datasets.load_dataset(cfg.dataset, progress=events.on_note)
    run.update(dataset=data.describe())
    if cfg.split.kind == "kfold" or cfg.split.cv:  # cross-validation: digitclf.cv runs the folds, saves the run
        from digitclf import cv

        return RunResult(run, cfg, **cv.execute(cfg, run, events, data, timer, _refused_by_sklearn))
    with timer.phase("split"):
        train_rows, test_rows = splits.train_and_scored_rows(data, cfg.split)  # test rows, or validation rows
        X_train, y_train = data.X[train_rows], data.y[train_rows]
        X_test, y_test = data.X[test_rows], data.y[test_rows]
    datasets.release_pages(data.X)  # a random split copied its rows: the mapped pages can go
    labels = np.unique(y_train)
    if len(labels) < 2:
        raise DatasetError(f"the training split has a single class ({labels[0]}); use a larger or stratified split")
    estimator, notes = models.build_estimator(cfg.model, cfg.seed, len(labels))
    for note in notes:
        events.on_note(note)
    watch = curves.watch(cfg, estimator, events)  # a validation slice from the training split, never the test set
    X_train, y_train = watch.carve(X_train, y_train)
    steps = models.build_preprocessor(cfg.preprocess, data.pixel_max, cfg.seed)
    # preprocessing under the same policy, from the raw data's size: a two-thread PCA on a busy machine took
    # 1.1-5.9 s against 0.53-0.63 s with one thread (benchmarks/RESULTS.md)
    pre_cap = fit_blas_threads(cfg.model.blas_threads, int(X_train.size))
    with timer.phase("preprocess"), _refused_by_sklearn("preprocess"), blas_threads(pre_cap):
        X_train = models.fit_transform_steps(steps, X_train)
        watch.transform(steps)
    description = models.describe_estimator(estimator)
    solver = f" (solver={description['solver']})" if description["solver"] else ""
    cap = fit_blas_threads(cfg.model.blas_threads, int(X_train.size))  # auto: from the fitted data's size
    with timer.phase("fit", f"{description['class']}{solver} on {len(y_train):,} images"), \
            _refused_by_sklearn("model.params"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if cfg.model.accelerator:  # in this thread: sklearnex sets oneDAL's threads (n_jobs) only in the main thread
            with blas_threads(cap):
                models.fit_accelerated(estimator, X_train, y_train, cap)
        else:
            capped(cap, lambda: watch.fit(estimator, X_train, y_train))()
    n_features = int(X_train.shape[1])
    del X_train
    with timer.phase("preprocess"), _refused_by_sklearn("preprocess"), blas_threads(pre_cap):  # the test set only now
        for _, step in steps:
            X_test = step.transform(X_test)
    with timer.phase("predict"), _refused_by_sklearn("model.params"):
        y_pred = capped(cap, lambda: estimator.predict(X_test))()
        proba = capped(cap, lambda: estimator.predict_proba(X_test).astype(np.float32))() \
            if hasattr(estimator, "predict_proba") else None
    del X_test  # not needed for saving: lower peak memory while plotting
    with timer.phase("score"):
        scores = metrics.score(y_test, y_pred, labels)

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline

    warning_lines = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    for line in warning_lines:
        events.on_warning(line)
    result_metrics = Metrics.model_validate({
        "schema": 1,
        "name": cfg.name,
        "run_id": run.id,
        "dataset": cfg.dataset.name,
        "estimator": description["class"],
        "solver": description["solver"],
        "n_train": int(len(y_train)),
        "n_features": n_features,
        "timings": timer.timings,
        "fit_seconds": timer.timings["fit"]["wall"],
        "n_iter": models.n_iter(estimator),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        "scored_on": splits.scored_on(cfg.split),
        **scores,
        **watch.metrics(estimator),
    })
    model = Pipeline([*steps, ("clf", estimator)])  # steps are fitted: predict works on raw images
    result = RunResult(run, cfg, result_metrics, model, y_test, y_pred, proba, data.image_shape, notes, warning_lines)
    events.on_phase("save")
    watch.save(run, estimator)
    artifacts.save(result, data.X[test_rows], test_rows, data.class_names, renderer)
    run.finish("complete", notes=notes, warnings=warning_lines, one_vs_rest=description["one_vs_rest"],
               fit_seconds=result_metrics.fit_seconds, accuracy=result_metrics.accuracy, blas_threads=cap,
               **({"accelerator": _accelerator(cfg)} if cfg.model.accelerator else {}))
    return result


def _accelerator(cfg: RunConfig) -> dict[str, str]:
    """run.json's ``accelerator``: what fitted the model (the saved model is scikit-learn's own class)."""
    from importlib.metadata import version

    return {"name": cfg.model.accelerator or "", "package": "scikit-learn-intelex",
            "version": version("scikit-learn-intelex"), "scope": "fit"}
