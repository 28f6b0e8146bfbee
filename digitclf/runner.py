"""One run: load, split, preprocess, fit, predict, score -- each phase timed -- then save it all."""

from __future__ import annotations

import contextlib
import io
import signal
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from digitclf import config as config_mod
from digitclf.config import RunConfig
from digitclf.errors import ConfigError, DatasetError, DigitclfError
from digitclf.runs import RunDir, write_text

if TYPE_CHECKING:
    from digitclf.datasets import Dataset

PHASES = ("load", "split", "preprocess", "fit", "predict", "score")
Events = Callable[[str, dict[str, Any]], None]


@dataclass
class RunResult:
    """What one run produced; plots and commands read this (or the saved run), never the training code."""

    run: RunDir
    config: RunConfig
    metrics: dict[str, Any]
    model: Any
    y_test: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    image_shape: tuple[int, int]
    notes: list[str] = field(default_factory=list)


class Timer:
    """Wall and CPU seconds per phase."""

    def __init__(self, events: Events) -> None:
        self.timings: dict[str, dict[str, float]] = {}
        self._events = events

    @contextlib.contextmanager
    def phase(self, name: str, **info: Any) -> Iterator[None]:
        """Time the block; a phase entered again adds to its total (announced once)."""
        if name not in self.timings:
            self._events("phase", {"phase": name, **info})
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        before = self.timings.get(name, {"wall": 0.0, "cpu": 0.0})
        self.timings[name] = {"wall": before["wall"] + time.perf_counter() - wall,
                              "cpu": before["cpu"] + time.process_time() - cpu}


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (like Ctrl-C) so the run is recorded as interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interruptible(func: Callable[[], Any]) -> Any:
    """Run ``func`` in a worker thread and wait for it in the main thread.

    A long solver loop in compiled code (saga, liblinear) only returns to Python at
    the end, so a signal would wait for it; the waiting main thread handles Ctrl-C
    and SIGTERM at once, and the run is recorded as interrupted.  The worker is a
    daemon thread: it ends with the process.
    """
    if threading.current_thread() is not threading.main_thread():
        return func()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="digitclf-fit", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _fit_transform(step: Any, X: Any, chunk: int = 4096) -> Any:
    """fit_transform, with two steps worked through in row chunks (measured on Fashion-MNIST):

    - a StandardScaler is fitted chunk by chunk (``partial_fit``): scikit-learn accumulates float32
      input in float64, and one pass would allocate a float64 copy (preprocessing 1.6 -> 0.75 s,
      peak RSS -300 MB);
    - a PCA transforms chunk by chunk into one C-ordered array: one pass takes ~56 MB of OpenBLAS
      buffers beyond its result with two threads (fast config peak RSS 451 -> 408 MB).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if X.shape[0] <= chunk or not isinstance(step, (StandardScaler, PCA)):
        return step.fit_transform(X)
    if isinstance(step, StandardScaler):
        for start in range(0, X.shape[0], chunk):
            step.partial_fit(X[start:start + chunk])
        return step.transform(X)
    step.fit(X)
    out = np.empty((X.shape[0], step.n_components_), dtype=X.dtype)
    for start in range(0, X.shape[0], chunk):
        out[start:start + chunk] = step.transform(X[start:start + chunk])
    return out


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """At most ``limit`` BLAS threads inside the block, in the calling thread (``None``: leave them alone).

    Enter it in the thread that does the work: MKL's and OpenMP-built OpenBLAS's settings are
    per thread.  Never raises a count: the cap is the smallest of ``limit`` and every loaded
    library's current count, so a sweep worker already capped to fewer keeps its cap.  Measured
    on 2 cores (benchmarks/RESULTS.md): lbfgs on 60k x 784 fits ~1.2x faster with one OpenBLAS
    thread than with two, the skinny products being memory-bound.
    """
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_info, threadpool_limits

    counts = [lib["num_threads"] for lib in threadpool_info()
              if lib["user_api"] == "blas" and lib.get("num_threads") is not None]
    with threadpool_limits(limits=min([limit, *counts]), user_api="blas"):
        yield


def _capped(limit: int | None, func: Callable[[], Any]) -> Callable[[], Any]:
    """``func`` run under ``blas_threads(limit)`` in whichever thread calls it."""
    def run() -> Any:
        with blas_threads(limit):
            return func()
    return run


@contextlib.contextmanager
def _refused_by_sklearn(key: str) -> Iterator[None]:
    """A ValueError from scikit-learn on the real data (n_neighbors > samples, PCA wider than the
    images) is a configuration the data cannot support: one line naming the config key, exit 2."""
    try:
        yield
    except ValueError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{key}: {message} (scikit-learn, on this data); change {key} in the config") from exc


def _n_iter(estimator: Any) -> int | None:
    inner = getattr(estimator, "estimators_", None)
    if isinstance(inner, list) and inner and hasattr(inner[0], "n_iter_"):
        return int(max(np.max(e.n_iter_) for e in inner))
    value = getattr(estimator, "n_iter_", None)
    return None if value is None else int(np.max(value))


def train(cfg: RunConfig, *, events: Events | None = None, outputs: Path | None = None,
          run_id: str | None = None, data: "Dataset | None" = None,
          record: dict[str, Any] | None = None) -> RunResult:
    """Validate ``cfg``, run it into a new run folder and return the result.

    ``run_id`` names the folder (default: time + random suffix; an existing one is an error);
    ``data`` is an already loaded data set (sweeps load it once per worker); ``record`` adds
    keys to run.json (a sweep marks its points).  The folder is ``running`` until every
    artifact is written, then ``complete``; an exception marks it ``failed`` (traceback
    saved), Ctrl-C or SIGTERM ``interrupted``.
    """
    cfg = config_mod.validate(cfg.resolved())
    emit = events or (lambda kind, info: None)
    run = RunDir.create(Path(outputs or cfg.output.dir), cfg.name, run_id)
    run.start(cfg.to_dict(), config_digest=cfg.digest(), **(record or {}))
    emit("start", {"run": run})
    try:
        with sigterm_as_interrupt():
            result = _execute(cfg, run, emit, data)
    except KeyboardInterrupt:
        _record_end(run, "interrupted", "interrupted by the user (Ctrl-C or SIGTERM)", None)
        raise
    except BaseException as exc:
        _record_end(run, "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        raise
    return result


def _record_end(run: RunDir, status: str, error: str, trace: str | None) -> None:
    """Best effort: on a full disk recording the failure can fail too; the original error still wins."""
    try:
        if run.record().get("status") == "complete":
            return  # the signal came after every artifact was saved: the run stays complete
        if trace:
            write_text(run.file("traceback.txt"), trace)
        run.finish(status, error=error)
    except (OSError, DigitclfError):
        pass


def _execute(cfg: RunConfig, run: RunDir, emit: Events, data: "Dataset | None") -> RunResult:
    from digitclf import datasets, metrics, models

    write_text(run.file("config.yaml"), cfg.to_yaml())
    timer = Timer(emit)
    with timer.phase("load"):
        if data is None:
            data = datasets.load_dataset(cfg.dataset, progress=lambda message: emit("note", {"message": message}))
    run.update(dataset=data.describe())
    with timer.phase("split"):
        train_rows, test_rows = datasets.split_indices(data, cfg.split)
        X_train, y_train = data.X[train_rows], data.y[train_rows]
        X_test, y_test = data.X[test_rows], data.y[test_rows]
    datasets.release_pages(data.X)  # a random split copied its rows: the mapped pages can go
    labels = np.unique(y_train)
    if len(labels) < 2:
        raise DatasetError(f"the training split has a single class ({labels[0]}); use a larger or stratified split")
    estimator, notes = models.build_estimator(cfg.model, cfg.seed, len(labels))
    for note in notes:
        emit("note", {"message": note})
    steps = models.build_preprocessor(cfg.preprocess, data.pixel_max, cfg.seed)
    with timer.phase("preprocess"), _refused_by_sklearn("preprocess"):
        for _, step in steps:
            X_train = _fit_transform(step, X_train)
    description = models.describe_estimator(estimator)
    cap = cfg.model.blas_threads
    with timer.phase("fit", estimator=description, n_train=len(y_train)), _refused_by_sklearn("model.params"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _interruptible(_capped(cap, lambda: estimator.fit(X_train, y_train)))
    n_features = int(X_train.shape[1])
    del X_train
    with timer.phase("preprocess"), _refused_by_sklearn("preprocess"):  # the test set only now: one float copy at a time
        for _, step in steps:
            X_test = step.transform(X_test)
    with timer.phase("predict"), _refused_by_sklearn("model.params"):
        y_pred = _interruptible(_capped(cap, lambda: estimator.predict(X_test)))
        proba = _interruptible(_capped(cap, lambda: estimator.predict_proba(X_test).astype(np.float32))) \
            if hasattr(estimator, "predict_proba") else None
    del X_test  # not needed for saving: lower peak memory while plotting
    with timer.phase("score"):
        scores = metrics.score(y_test, y_pred, labels)

    from sklearn.exceptions import ConvergenceWarning

    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    warning_lines = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    for line in warning_lines:
        emit("warning", {"message": line})
    result_metrics = {
        "schema": 1,
        "name": cfg.name,
        "run_id": run.id,
        "dataset": cfg.dataset.name,
        "estimator": description["class"],
        "solver": description["solver"],
        "accuracy": scores.pop("accuracy"),
        "accuracy_ci95": scores.pop("accuracy_ci95"),
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "n_features": n_features,
        "timings": timer.timings,
        "fit_seconds": timer.timings["fit"]["wall"],
        "n_iter": _n_iter(estimator),
        "converged": converged,
        **scores,
    }
    from sklearn.pipeline import Pipeline

    model = Pipeline([*steps, ("clf", estimator)])  # steps are fitted: predict works on raw images
    result = RunResult(run, cfg, result_metrics, model, y_test, y_pred, proba, data.image_shape, notes)
    emit("phase", {"phase": "save"})
    save_artifacts(result, data.X[test_rows], test_rows, data.class_names)
    run.finish("complete", notes=notes, warnings=warning_lines, one_vs_rest=description["one_vs_rest"],
               fit_seconds=result_metrics["fit_seconds"], accuracy=result_metrics["accuracy"])
    return result


def save_model(model: Any, run: RunDir, fmt: str) -> None:
    if fmt == "skops":
        import skops.io as sio  # presence checked by config.validate

        run.add_artifact("model.skops", lambda fh: fh.write(sio.dumps(model)))
    else:
        import joblib

        run.add_artifact("model.joblib", lambda fh: joblib.dump(model, fh))


def save_artifacts(result: RunResult, test_images: np.ndarray, test_rows: Any, class_names: Any) -> None:
    """model, split.npz (what evaluate and plot-errors need), plots, then metrics.json."""
    from digitclf import plots

    run, cfg, m = result.run, result.config, result.metrics
    save_model(result.model, run, cfg.output.model_format)
    wrong = np.flatnonzero(result.y_test != result.y_pred)
    if isinstance(test_rows, slice):
        test_index = np.arange(test_rows.start, test_rows.stop)
    else:
        test_index = np.asarray(test_rows)

    def write_split(fh: Any) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, test_index=test_index, y_test=result.y_test, y_pred=result.y_pred,
            proba=result.proba if result.proba is not None else np.zeros((0, 0), np.float32),
            error_index=wrong, error_images=np.asarray(test_images[wrong]),
            image_shape=np.asarray(result.image_shape), labels=np.asarray(m["labels"]))
        fh.write(buffer.getvalue())

    run.add_artifact("split.npz", write_split)
    if cfg.output.plots:
        ax = plots.confusion_matrix(m["confusion_matrix"], m["labels"], accuracy=m["accuracy"])
        run.add_artifact("confusion_matrix.png", lambda fh: ax.figure.savefig(fh, format="png", dpi=100))
        shown = wrong[: cfg.output.misclassified]
        confidence = result.proba[shown].max(axis=1) if result.proba is not None else None
        grid = plots.misclassified(test_images[shown], result.y_test[shown], result.y_pred[shown],
                                   result.image_shape, confidence=confidence, class_names=class_names)
        run.add_artifact("misclassified.png", lambda fh: grid.figure.savefig(fh, format="png", dpi=100))
    run.add_artifact("predictions.csv", lambda fh: fh.write(_predictions_csv(result.y_test, result.y_pred)))
    run.add_artifact("metrics_flat.json", lambda fh: fh.write(_json_bytes(flat_metrics(m))))
    run.add_artifact("metrics.json", lambda fh: fh.write(_json_bytes(m)))


def flat_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """Scalars only, one level (what `dvc metrics show` and spreadsheets read without adapters)."""
    flat = {key: m[key] for key in ("accuracy", "macro_f1", "n_train", "n_test", "n_errors", "n_iter",
                                    "converged", "fit_seconds")}
    flat["accuracy_ci95_low"], flat["accuracy_ci95_high"] = m["accuracy_ci95"]
    for phase, seconds in m["timings"].items():
        flat[f"{phase}_wall_seconds"] = seconds["wall"]
        flat[f"{phase}_cpu_seconds"] = seconds["cpu"]
    return flat


def _predictions_csv(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    """One row per test image: actual,predicted (DVC's confusion template reads these two columns)."""
    rows = "".join(f"{a},{p}\n" for a, p in zip(y_true.tolist(), y_pred.tolist()))
    return ("actual,predicted\n" + rows).encode()


def _json_bytes(data: Any) -> bytes:
    import json

    return (json.dumps(data, indent=2) + "\n").encode()

