"""Log saved runs to MLflow (the optional extra ``digitclf[mlflow]``).

Everything is read back from a complete run folder, never from training code: a
run can be logged after the fact, and a tracking failure never loses the run.
MLflow is imported only inside these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from digitclf.config import flatten
from digitclf.errors import ConfigError, DigitclfError, RunError, TrackingError
from digitclf.models import portable
from digitclf.observers import RunObserver, SweepObserver
from digitclf.records import Metrics, RunRecord, parse_time
from digitclf.runs import SKOPS_TRUSTED, RunDir, load_model, load_split, versions

if TYPE_CHECKING:
    from digitclf.config import MlflowConfig
    from digitclf.records import DatasetInfo
    from digitclf.runner import RunResult
    from digitclf.sweep import SweepPlan, SweepResult

ARTIFACTS = ("metrics.json", "config.yaml", "run.json", "confusion_matrix.png", "misclassified.png")
MODEL_NAME = "model"
PARENT_TAG = "mlflow.parentRunId"
MAX_PARAM_VALUE = 6000  # MLflow's limits on a param and a tag value
MAX_TAG_VALUE = 8000
EXAMPLE_ROWS = 3
CONNECT_TIMEOUT = 5.0  # seconds

# mlflow.sklearn.log_model only knows the process-wide tracking URI; switching it is
# serialised so that two threads logging to different stores do not cross
_global_uri_lock = threading.Lock()


def log_run(run: RunDir, settings: "MlflowConfig", *, parent_run_id: str | None = None, trust: bool = False) -> str:
    """Log one complete run folder to MLflow and return the MLflow run id.

    Whatever MLflow prints ("View run ... at: http://...") goes to stderr: stdout stays the caller's
    (``train --json`` prints one JSON document there).

    Params are the flattened resolved config (``model.params.C``) and every parameter of the
    classifier, defaults too; metrics the scores, sizes, n_iter and per-phase seconds; the data
    set is a dataset input (its fingerprint the digest); tags the data fingerprint, versions and
    run folder; metrics.json, config.yaml, run.json and the plots are artifacts; the model, made
    ``portable`` (scikit-learn and numpy only), is logged with ``mlflow.sklearn``.
    ``parent_run_id`` makes it a child run (a sweep point).
    """
    with stdout_to_stderr():
        return _log_run(run, settings, parent_run_id=parent_run_id, trust=trust)


def _log_run(run: RunDir, settings: "MlflowConfig", *, parent_run_id: str | None, trust: bool) -> str:
    mlflow, client, uri = _connect(settings)
    from mlflow.entities import Metric, Param

    status = run.status()
    if status != "complete":
        raise RunError(f"run {run.id} is {status}, not complete; only complete runs are logged to MLflow")
    record = run.record()
    metrics = run.metrics()
    model = portable(load_model(run, trust=trust))
    artifacts = [_verified(run, record, name) for name in ARTIFACTS
                 if name in record.artifacts or run.file(name).is_file()]
    params = {**params_of(record.config.to_dict()), **estimator_params(model)}
    tags = run_tags(run, record, metrics)
    if parent_run_id is not None:
        tags[PARENT_TAG] = parent_run_id

    experiment_id, run_id = _create_run(client, uri, settings.experiment, "log the run", tags=tags,
                                        run_name=f"{run.name}/{run.id}", start_time=_millis(record.started))
    finished = _millis(record.finished)
    stamp = finished or int(time.time() * 1000)
    with _reporting(uri, f"log the run (MLflow run {run_id} is marked FAILED)", failed_run=(client, run_id)):
        client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()],
                         metrics=[Metric(key, value, stamp, 0) for key, value in run_metrics(metrics).items()])
        if record.dataset is not None:
            client.log_inputs(run_id, datasets=[dataset_input(record.dataset, metrics)])
        for path in artifacts:
            client.log_artifact(run_id, str(path))
        # created here, in the run's experiment: log_model alone files it under the active
        # (or the default) experiment
        logged_model = client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                                  params=params)
        with _global_tracking_uri(mlflow, uri):
            mlflow.sklearn.log_model(
                model, name=MODEL_NAME, model_id=logged_model.model_id, run_id=run_id,
                input_example=_input_example(run), skops_trusted_types=sorted(SKOPS_TRUSTED),
                signature=model_signature(record.dataset) if record.dataset is not None else None,
                # given, not inferred: inferring starts a subprocess that imports the model
                pip_requirements=requirements(),
            )
        client.set_terminated(run_id, "FINISHED", end_time=finished)
    return run_id


def start_parent_run(settings: "MlflowConfig", name: str, params: dict[str, Any]) -> str:
    """Start a parent MLflow run for a sweep and return its id (for ``log_run(..., parent_run_id=...)``).

    ``params`` (nested dicts are flattened) describe the sweep; ``end_parent_run`` ends it.
    """
    with stdout_to_stderr():
        _, client, uri = _connect(settings)
        from mlflow.entities import Param

        found = versions()
        tags = {"digitclf.kind": "sweep", **_source_tags(),
                **{f"{dist}.version": found[dist] for dist in ("digitclf", "scikit-learn") if dist in found}}
        _, run_id = _create_run(client, uri, settings.experiment, "start the sweep's parent run", tags=tags,
                                run_name=name)
        with _reporting(uri, f"log the sweep's params (MLflow run {run_id} is marked FAILED)",
                        failed_run=(client, run_id)):
            client.log_batch(run_id, params=[Param(key, value) for key, value in params_of(params).items()])
        return run_id


def end_parent_run(settings: "MlflowConfig", run_id: str, status: str) -> None:
    """Mark a sweep's parent run FINISHED, FAILED or KILLED (what MLflow prints goes to stderr)."""
    with stdout_to_stderr():
        _, client, uri = _connect(settings)
        with _reporting(uri, f"finish the sweep's parent run {run_id}"):
            client.set_terminated(run_id, status)


@contextlib.contextmanager
def parent_run(settings: "MlflowConfig", name: str, params: dict[str, Any]) -> Iterator[str]:
    """``start_parent_run`` for a block: FINISHED when it completes, FAILED on an error, KILLED on Ctrl-C."""
    run_id = start_parent_run(settings, name, params)
    try:
        yield run_id
    except KeyboardInterrupt:
        _quietly(end_parent_run, settings, run_id, "KILLED")
        raise
    except BaseException:
        _quietly(end_parent_run, settings, run_id, "FAILED")
        raise
    end_parent_run(settings, run_id, "FINISHED")


# ---------------------------------------------------------------- observers


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


class MlflowRunLogger(RunObserver):
    """Logs a run to MLflow when it completes; a tracking failure is a warning, the run folder is already saved.

    ``logged`` holds the MLflow run id afterwards (None if logging failed).
    """

    def __init__(self, settings: "MlflowConfig", *, parent_run_id: str | None = None,
                 warn: Callable[[str], None] = _warn) -> None:
        self.settings, self.parent_run_id, self.warn = settings, parent_run_id, warn
        self.logged: str | None = None

    def log(self, run: RunDir) -> str | None:
        try:
            self.logged = log_run(run, self.settings, parent_run_id=self.parent_run_id)
        except DigitclfError as exc:
            self.warn(f"run {run.id} is saved but was not logged to MLflow: {exc}")
            self.logged = None
        return self.logged

    def on_complete(self, result: "RunResult") -> None:
        self.log(result.run)


class MlflowSweepLogger(SweepObserver):
    """A parent MLflow run for the sweep, a child run for each point that ran to completion."""

    def __init__(self, settings: "MlflowConfig", *, warn: Callable[[str], None] = _warn) -> None:
        self.settings, self.warn = settings, warn
        self.parent_run_id: str | None = None

    def on_plan(self, plan: "SweepPlan", start: dict[str, Any]) -> None:
        try:
            self.parent_run_id = start_parent_run(self.settings, plan.id, {"grid": plan.grid, "variants": plan.variants})
        except DigitclfError as exc:
            self.warn(f"the sweep is not logged to MLflow: {exc}")

    def on_point(self, row: Any, done: int, total: int) -> None:
        if self.parent_run_id is None or row.status != "complete" or row.action != "ran":
            return
        logger = MlflowRunLogger(self.settings, parent_run_id=self.parent_run_id,
                                 warn=lambda message: self.warn(f"point {row.index}: {message}"))
        logger.log(RunDir(Path(row.run)))

    def _end(self, status: str) -> None:
        if self.parent_run_id is not None:
            try:
                end_parent_run(self.settings, self.parent_run_id, status)
            except DigitclfError as exc:
                self.warn(str(exc))
            self.parent_run_id = None

    def on_complete(self, result: "SweepResult") -> None:
        self._end("FINISHED")

    def on_interrupt(self, result: "SweepResult") -> None:
        self._end("KILLED")

    def on_fail(self, error: BaseException) -> None:
        self._end("FAILED")


# ---------------------------------------------------------------- what is logged


def params_of(data: dict[str, Any]) -> dict[str, str]:
    """MLflow params: dotted keys (``model.params.C``), values as text (JSON for non-strings), cut to 6000 chars."""
    return {key: _cut(value if isinstance(value, str) else json.dumps(value, default=str), MAX_PARAM_VALUE)
            for key, value in flatten(data).items()}


def run_metrics(metrics: Metrics) -> dict[str, float]:
    """The numbers of metrics.json that MLflow can chart: scores, sizes, n_iter, per-phase seconds."""
    out = {key: float(getattr(metrics, key)) for key in ("accuracy", "macro_f1", "n_iter", "n_train", "n_test",
                                                         "n_errors", "n_features") if getattr(metrics, key) is not None}
    low, high = metrics.accuracy_ci95
    out.update(accuracy_ci95_low=float(low), accuracy_ci95_high=float(high))
    for phase, seconds in metrics.timings.items():
        out[f"time_{phase}_wall"] = seconds.wall
        out[f"time_{phase}_cpu"] = seconds.cpu
    return out


def run_tags(run: RunDir, record: RunRecord, metrics: Metrics) -> dict[str, str]:
    """Where the run came from: data fingerprint, versions, the run folder, convergence, notes."""
    dataset = record.dataset
    tags: dict[str, Any] = {
        "digitclf.run_id": run.id,
        "digitclf.run_dir": str(run.path.resolve()),
        "digitclf.config_digest": record.config_digest,
        "digitclf.version": record.version_of("digitclf"),
        "scikit-learn.version": record.version_of("scikit-learn"),
        "dataset.name": dataset.name if dataset else None,
        "dataset.fingerprint": dataset.fingerprint if dataset else None,
        "estimator": metrics.estimator,
        "converged": str(metrics.converged).lower(),
        **_source_tags(),
    }
    if record.sweep is not None:  # a sweep point: which sweep, which point
        tags.update({"digitclf.sweep_id": record.sweep.id, "digitclf.sweep_index": record.sweep.index})
    lines = [*record.notes, *record.warnings]
    if lines:  # shown as the run's description in the MLflow UI
        tags["mlflow.note.content"] = _cut("\n".join(f"- {line}" for line in lines), MAX_TAG_VALUE)
    return {key: str(value) for key, value in tags.items() if value is not None}


def _verified(run: RunDir, record: RunRecord, name: str) -> Any:
    """An artifact recorded with a sha256 is checked before it is logged (config.yaml and run.json are not recorded)."""
    return run.verify(name) if name in record.artifacts else run.file(name)


def _input_example(run: RunDir) -> Any:
    """A few misclassified test images (raw pixels, as saved in split.npz); None if there were no errors."""
    images = load_split(run).error_images[:EXAMPLE_ROWS]
    return images.reshape(len(images), -1) if len(images) else None


def estimator_params(model: Any) -> dict[str, str]:
    """The classifier's every parameter, defaults too, as ``model.params.<name>`` (what the config left out
    is what scikit-learn chose: C, max_iter, ...); a one-vs-rest wrapper's inner classifier."""
    from sklearn.multiclass import OneVsRestClassifier

    classifier = model.steps[-1][1] if hasattr(model, "steps") else model
    if isinstance(classifier, OneVsRestClassifier):
        classifier = classifier.estimator
    return params_of({"model": {"params": classifier.get_params(deep=False)}})


def dataset_input(dataset: "DatasetInfo", metrics: Metrics) -> Any:
    """The run's data set as an MLflow dataset input: digitclf's fingerprint as its digest, where it came
    from as its source, the pixels' shape and type as its schema (the data itself is not uploaded)."""
    import numpy as np
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.types import Schema, TensorSpec

    schema = Schema([TensorSpec(np.dtype(dataset.dtype or "uint8"), (-1, dataset.n_features), "pixels"),
                     TensorSpec(np.dtype("int64"), (-1,), "label")])
    meta = MetaDataset(_dataset_source(dataset.source), name=dataset.name, digest=dataset.fingerprint,
                       schema=schema)
    context = f"training ({metrics.n_train} rows) and evaluation ({metrics.n_test} rows)"
    return DatasetInput(meta._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])


def _dataset_source(source: str) -> Any:
    """openml:<id> -> its OpenML page; import:/cache:<folder> -> that folder; else (a scikit-learn loader) code."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.sources import LocalArtifactDatasetSource

    kind, _, where = source.partition(":")
    if kind == "openml":
        return HTTPDatasetSource(f"https://www.openml.org/d/{where}")
    if kind in ("import", "cache"):
        return LocalArtifactDatasetSource(where)
    return CodeDatasetSource({"digitclf.source": source})


def model_signature(dataset: "DatasetInfo") -> Any:
    """One number per pixel in, a label out; any numeric dtype in (uint8 pixels, float64, ...): MLflow casts
    a column-based input to double, where a tensor signature refuses every dtype but its own."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("double") for _ in range(dataset.n_features)]),
                          outputs=Schema([ColSpec("long")]))


def requirements() -> list[str]:
    """What a logged model needs where it is loaded, pinned to what is installed here: MLflow (mlflow-skinny
    when that is all there is: pyfunc needs no more, and pandas with it), scikit-learn and skops. Never
    digitclf: the pipelines are scikit-learn and numpy only (``models.portable``)."""
    from importlib.metadata import PackageNotFoundError, version

    def pinned(dist: str) -> str:
        return f"{dist}=={version(dist)}"

    try:
        mlflow = [pinned("mlflow")]
    except PackageNotFoundError:
        mlflow = [pinned("mlflow-skinny"), pinned("pandas")]
    return [*mlflow, pinned("scikit-learn"), pinned("skops")]


def _source_tags() -> dict[str, str]:
    """What ``mlflow.start_run`` would add (a run made by the client has no user otherwise)."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        user = "unknown"
    return {"mlflow.user": user, "mlflow.source.name": "digitclf", "mlflow.source.type": "LOCAL"}


# ---------------------------------------------------------------- MLflow plumbing


_stdout_lock = threading.Lock()
_stdout_users = 0
_stdout_saved: Any = None


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """What anything prints on stdout in the block goes to stderr ("View run ... at: http://..."), so that
    stdout stays one JSON document for ``--json``.  Counted, unlike ``contextlib.redirect_stdout``: blocks
    overlapping in two threads restore the real stdout when the last one ends, not a stale one."""
    import sys

    global _stdout_users, _stdout_saved
    with _stdout_lock:
        if _stdout_users == 0:
            _stdout_saved, sys.stdout = sys.stdout, sys.stderr
        _stdout_users += 1
    try:
        yield
    finally:
        with _stdout_lock:
            _stdout_users -= 1
            if _stdout_users == 0:
                sys.stdout, _stdout_saved = _stdout_saved, None


def _connect(settings: "MlflowConfig") -> tuple[Any, Any, str]:
    """(mlflow, a client bound to the tracking URI, the URI); MLflow's default URI when none is set.

    Called before the run folder is read: a missing MLflow or a server that is down is the
    first thing to report.
    """
    try:
        import mlflow
        import mlflow.sklearn  # noqa: F401 - the flavour log_run needs
    except ImportError:
        raise ConfigError("output.mlflow / --mlflow needs MLflow, which is not installed; "
                          "pip install 'digitclf[mlflow]'") from None
    uri = settings.tracking_uri or mlflow.get_tracking_uri()
    _check_reachable(uri)
    with _reporting(uri, "open the tracking store"):
        return mlflow, mlflow.MlflowClient(tracking_uri=uri), uri


def _check_reachable(uri: str) -> None:
    """Fail in seconds on a server that is down: MLflow itself retries for about four minutes."""
    import socket
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(parts.hostname):
        return  # reached through a proxy: only MLflow's own request can tell
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise TrackingError(f"MLflow server {uri} is not reachable ({exc}); start it "
                            "(mlflow server --backend-store-uri sqlite:///mlflow.db) or fix "
                            "output.mlflow.tracking_uri / MLFLOW_TRACKING_URI") from None


def _create_run(client: Any, uri: str, experiment: str, action: str, **fields: Any) -> tuple[str, str]:
    """(experiment id, run id) of a new run in ``experiment``, created if missing."""
    with _reporting(uri, action):
        experiment_id = _experiment_id(client, experiment, uri)
        return experiment_id, client.create_run(experiment_id, **fields).info.run_id


def _experiment_id(client: Any, name: str, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # created meanwhile by another process
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(f"MLflow experiment {name!r} is deleted in {uri}; restore it (MLFLOW_TRACKING_URI={uri} "
                            f"mlflow experiments restore --experiment-id {experiment.experiment_id}) "
                            "or set output.mlflow.experiment to another name")
    return experiment.experiment_id


@contextlib.contextmanager
def _global_tracking_uri(mlflow: Any, uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking URI at ``uri`` for the block, then put back what was there.

    ``mlflow.set_tracking_uri`` mirrors its value into MLFLOW_TRACKING_URI, so that
    variable holds the previous choice (None: unset, MLflow's default).
    """
    with _global_uri_lock:
        previous = os.environ.get("MLFLOW_TRACKING_URI")
        if uri == mlflow.get_tracking_uri():
            yield
            return
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous)


@contextlib.contextmanager
def _reporting(uri: str, action: str, failed_run: tuple[Any, str] | None = None) -> Iterator[None]:
    """Turn what MLflow, its store or the network raise into one TrackingError line.

    ``failed_run`` (client, run id) is a half-logged MLflow run: marked FAILED on an
    error, KILLED on Ctrl-C, so it does not stay RUNNING for ever.
    """
    try:
        yield
    except KeyboardInterrupt:
        if failed_run is not None:
            _quietly(failed_run[0].set_terminated, failed_run[1], "KILLED")
        raise
    except DigitclfError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow, SQLAlchemy, requests and OSError all end up here
        if failed_run is not None:
            _quietly(failed_run[0].set_terminated, failed_run[1], "FAILED")
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TrackingError(f"MLflow at {uri}: could not {action}: {_cut(first, 700)} "
                            "(fix output.mlflow.tracking_uri or MLFLOW_TRACKING_URI)") from exc


def _millis(stamp: str | None) -> int | None:
    """A record's time as epoch milliseconds (what MLflow stores)."""
    moment = parse_time(stamp)
    return int(moment.timestamp() * 1000) if moment else None


def _quietly(func: Callable[..., Any], *args: Any) -> None:
    """Best effort: the store may be the thing that failed; the original error is the one to show."""
    try:
        func(*args)
    except Exception:  # noqa: BLE001
        pass


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
