"""Typed records of every file digitclf writes and reads back: run.json, metrics.json, a cache manifest,
a sweep summary.

Each file has one pydantic model; it is written with that model and parsed with it where it is
read (``read``), so the rest of the code reads attributes.  A file that is missing, is not JSON
or does not fit its model is one ``RunError``/``DatasetError`` saying the file is damaged.  Keys
not in a model are kept (``extra="allow"``): newer files read back, and a rewrite keeps them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from digitclf.config import RunConfig
from digitclf.errors import RunError

TIMESTAMP = "%Y-%m-%dT%H:%M:%S%z"  # every time written into a record
ID_TIME = "%Y%m%d-%H%M%S"  # the time at the start of a run id (and of a superseded folder's name)
STATUSES = ("running", "complete", "failed", "interrupted", "abandoned")
Status = Literal["running", "complete", "failed", "interrupted"]  # abandoned is derived, never written


def now() -> str:
    """The current local time in the records' format."""
    return time.strftime(TIMESTAMP)


def parse_time(stamp: str | None) -> datetime | None:
    """A record's time as an aware datetime (None when absent or unreadable)."""
    try:
        return datetime.strptime(stamp, TIMESTAMP) if stamp else None
    except ValueError:
        return None


class Record(BaseModel):
    """A JSON record: extra keys kept, values checked on read."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


R = TypeVar("R", bound=Record)


def parse(model: type[R], data: Any, where: str, error: type[Exception], owner: str = "it") -> R:
    """``data`` as ``model``, or ``error`` naming the first key that does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = " ".join(str(first["msg"]).split())[:200]
        raise error(f"{where} does not hold what digitclf wrote ({key}: {message}); {owner} is damaged") from None


def read(model: type[R], path: Path, error: type[Exception], missing: str | None = None,
         owner: str = "it") -> R:
    """Read and parse a record file; a missing, unreadable or ill-formed file is one ``error``
    (``owner`` names what is then damaged: "the run", "the cache")."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(missing or f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise error(f"{path} is unreadable ({' '.join(str(exc).split())[:200]}); {owner} is damaged") from None
    except RecursionError:
        raise error(f"{path} is nested too deeply to be what digitclf wrote; {owner} is damaged") from None
    return parse(model, data, str(path), error, owner)


# ---------------------------------------------------------------- run.json


class DatasetInfo(Record):
    """What a run trained on: run.json's ``dataset``."""

    name: str
    source: str
    fingerprint: str
    n_samples: int
    n_features: int
    image_shape: tuple[int, int]
    n_train_canonical: int | None = None
    pixel_max: float = 255.0
    dtype: str | None = None


class SweepMark(Record):
    """run.json's ``sweep`` for a sweep point: which sweep ran it, with which values."""

    id: str
    point: dict[str, Any] = Field(default_factory=dict)
    index: int | None = None


class RunRecord(Record):
    """run.json: status, process, times, versions, config, data fingerprint, artifacts' sha256."""

    id: str
    name: str
    status: Status = "running"
    pid: int | None = None
    host: str | None = None
    started: str | None = None
    finished: str | None = None
    config: RunConfig
    versions: dict[str, str] = Field(default_factory=dict)
    artifacts: dict[str, str] = Field(default_factory=dict)  # file name -> sha256
    signatures: dict[str, str] = Field(default_factory=dict)  # model file name -> HMAC with this user's key
    config_digest: str | None = None
    token: str | None = None  # random, set at start: tells runs of one fixed id apart (model signatures bind it)
    dataset: DatasetInfo | None = None
    sweep: SweepMark | None = None
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    one_vs_rest: bool | None = None
    fit_seconds: float | None = None
    accuracy: float | None = None
    blas_threads: int | None = None  # the BLAS threads fit and predict had (model.blas_threads resolved)

    @property
    def model_label(self) -> str:
        """``LogisticRegression(lbfgs)`` from the config (metrics.json's ``model_label`` once it finished)."""
        solver = self.config.model.params.get("solver")
        return f"{self.config.model.estimator}({solver})" if solver else self.config.model.estimator

    def version_of(self, dist: str) -> str | None:
        """The version of ``dist`` (scikit-learn, numpy, ...) the run was made with, if recorded."""
        return self.versions[dist] if dist in self.versions else None


# ---------------------------------------------------------------- metrics.json


class PhaseTime(Record):
    wall: float
    cpu: float


class ClassScores(Record):
    precision: float
    recall: float
    f1: float
    support: int


class CvScores(Record):
    """metrics.json's ``cv`` for a cross-validated run: every fold's scores and their mean with its 95% CI."""

    n_splits: int
    repeats: int
    fold_accuracy: list[float]
    fold_fit_seconds: list[float]
    fold_n_train: list[int]
    fold_n_test: list[int]
    mean: float
    std: float
    ci95: tuple[float, float]
    ci_method: str = ("Nadeau-Bengio corrected resampled t-interval, (1/J + n_test/n_train) s^2, df = J - 1, "
                      "clipped to [0, 1]")


class Metrics(Record):
    """metrics.json: the results of one run, in the stable shape README documents (schema 1)."""

    schema_version: int = Field(1, alias="schema")
    name: str
    run_id: str
    dataset: str
    estimator: str
    solver: str | None = None
    accuracy: float
    accuracy_ci95: tuple[float, float]
    n_train: int
    n_test: int
    n_features: int
    timings: dict[str, PhaseTime]
    fit_seconds: float
    n_iter: int | None = None
    converged: bool
    n_errors: int
    labels: list[int]
    per_class: dict[str, ClassScores]
    macro_f1: float
    confusion_matrix: list[list[int]]
    n_validation: int = 0  # training images held out to score every iteration (curve, early stopping)
    stopped_early: bool = False
    stop_reason: Literal["patience", "time_budget", "pruned"] | None = None
    best_iteration: int | None = None  # the iteration whose model was kept (early stopping), else None
    scored_on: Literal["test", "validation", "cross-validation"] = "test"  # the images the scores count
    cv: CvScores | None = None  # the folds of a cross-validated run (split.kind: kfold)

    @property
    def model_label(self) -> str:
        """``LogisticRegression(lbfgs)``."""
        return f"{self.estimator}({self.solver})" if self.solver else self.estimator

    def flat(self) -> dict[str, Any]:
        """Scores and counts, one level (what `dvc metrics show` and spreadsheets read without adapters).

        No timings: they differ on every run, and would fill every `dvc metrics diff` (``flat_timings``)."""
        flat: dict[str, Any] = {key: getattr(self, key) for key in (
            "accuracy", "macro_f1", "n_train", "n_test", "n_errors", "n_iter", "converged")}
        flat["accuracy_ci95_low"], flat["accuracy_ci95_high"] = self.accuracy_ci95
        return flat

    def flat_timings(self) -> dict[str, float]:
        """Wall and CPU seconds per phase, one level: ``fit_wall_seconds``, ``fit_cpu_seconds``, ..."""
        flat: dict[str, float] = {}
        for phase, seconds in self.timings.items():
            flat[f"{phase}_wall_seconds"] = seconds.wall
            flat[f"{phase}_cpu_seconds"] = seconds.cpu
        return flat


# ---------------------------------------------------------------- curve.csv

CURVE_COLUMNS = ("iteration", "wall_seconds", "val_accuracy", "val_log_loss")


class CurvePoint(Record):
    """One row of curve.csv: the held-out slice scored after an iteration of the fit."""

    iteration: int = Field(ge=0)
    wall_seconds: float | None = None  # since the fit began (None: the estimator did not say, e.g. MLP's own scores)
    val_accuracy: float = Field(ge=0.0, le=1.0)
    val_log_loss: float | None = None  # None for estimators without predict_proba


def curve_csv(points: list[CurvePoint]) -> str:
    """curve.csv's text, written with the columns ``read_curve`` reads back."""
    def cell(value: float | None) -> str:
        return "" if value is None else repr(value)

    rows = [",".join(CURVE_COLUMNS)]
    rows += [f"{p.iteration},{cell(p.wall_seconds)},{cell(p.val_accuracy)},{cell(p.val_log_loss)}" for p in points]
    return "\n".join(rows) + "\n"


def read_curve(path: Path) -> list[CurvePoint]:
    """curve.csv as points; a file that is not what digitclf wrote is one RunError saying the run is damaged."""
    import csv

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise RunError(f"{path} is missing; train with output.curve: true to record a curve") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is unreadable ({exc}); the run is damaged") from None
    rows = list(csv.reader(lines))
    if not rows or tuple(rows[0]) != CURVE_COLUMNS:
        raise RunError(f"{path} does not start with the header {','.join(CURVE_COLUMNS)}; the run is damaged")
    data = [{key: (cell or None) for key, cell in zip(CURVE_COLUMNS, row)} for row in rows[1:]]
    if any(len(row) != len(CURVE_COLUMNS) for row in rows[1:]):
        raise RunError(f"{path} has a row without {len(CURVE_COLUMNS)} cells; the run is damaged")
    return [parse(CurvePoint, row, str(path), RunError, "the run") for row in data]


# ---------------------------------------------------------------- the data cache


class ArrayEntry(Record):
    file: str
    sha256: str
    xxh3_128: str | None = None  # absent in caches written before digitclf recorded it


class CacheArrays(Record):
    X: ArrayEntry
    y: ArrayEntry


class CacheManifest(Record):
    """A cached data set's manifest.json: where it came from, its shape and its arrays' checksums."""

    name: str | None = None
    source: str
    created: str | None = None
    image_shape: tuple[int, int]
    n_train: int | None = None
    shape: tuple[int, int]
    fingerprint: str
    arrays: CacheArrays
    signature: str | None = None  # HMAC with this user's key over what identifies the content (digitclf.signing)

    def signed_parts(self, name: str) -> tuple[str, ...]:
        """What the manifest's signature covers: the entry's name, source, shape, fingerprint and checksums."""
        return ("digitclf-cache-v1", name, self.source, str(list(self.image_shape)), str(self.n_train),
                str(list(self.shape)), self.fingerprint, self.arrays.X.sha256, self.arrays.y.sha256,
                str(self.arrays.X.xxh3_128), str(self.arrays.y.xxh3_128))

    @model_validator(mode="after")
    def _shapes_agree(self) -> "CacheManifest":
        height, width = self.image_shape
        if height < 1 or width < 1 or height * width != self.shape[1] or self.shape[0] < 1:
            raise ValueError(f"image_shape {list(self.image_shape)} does not fit rows of {self.shape[1]} pixels")
        return self


# ---------------------------------------------------------------- a sweep's summary


class PointRow(Record):
    """One point of a sweep as its summary shows it."""

    index: int
    values: dict[str, Any] = Field(default_factory=dict)
    status: str
    action: str
    accuracy: float | None = None
    accuracy_ci95: tuple[float, float] | None = None
    fit_seconds: float | None = None
    n_iter: int | None = None
    converged: bool | None = None
    run_id: str
    run: str
    error: str | None = None
    worker: str | None = None
    scored_on: str | None = None  # test, validation or cross-validation (metrics.json's)
    n_test: int | None = None  # the images scored
    selected: bool = False  # the selected point's run on the test set
    selected_from: int | None = None  # the point it retrains (ranked first on validation data)
    pruned: bool = False  # an Optuna trial its pruner stopped early: never selected


class Selection(Record):
    """summary.json's ``selection``: which point won on which data, and its one score on the test set."""

    point: int  # the winning point
    values: dict[str, Any] = Field(default_factory=dict)
    selected_on: str
    validation_accuracy: float
    scored_on: str
    test_point: int  # the row of the test-set run
    run_id: str
    status: str
    accuracy: float | None = None
    accuracy_ci95: tuple[float, float] | None = None


class SweepSummary(Record):
    """A sweep folder's summary.json."""

    sweep: str
    name: str
    folder: str
    keys: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    ran: int = 0
    interrupted: bool = False
    stopped_early: bool = False
    search: dict[str, Any] = Field(default_factory=dict)  # the strategy and its settings (halving's rungs)
    selection: Selection | None = None
    points: list[PointRow] = Field(default_factory=list)


# ---------------------------------------------------------------- split.npz


@dataclass(frozen=True)
class SavedSplit:
    """split.npz: a run's test rows with their labels, predictions and probabilities, and its mistakes' images."""

    test_index: np.ndarray  # rows of the data set that were the test set
    y_test: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None  # (n_test, n_classes) or None for models without predict_proba
    error_index: np.ndarray  # positions in the test set of the misclassified images
    error_images: np.ndarray  # their raw pixels, one row each
    image_shape: tuple[int, int]
    labels: np.ndarray

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], where: str) -> "SavedSplit":
        """Check the arrays fit together (names, shapes, ranges); a RunError says the file is damaged."""
        names = [f for f in cls.__dataclass_fields__]
        missing = [name for name in names if name not in arrays]

        def damaged(why: str) -> RunError:
            return RunError(f"{where} is damaged ({why}); train the run again")

        if missing:
            raise damaged(f"no {', '.join(missing)}")
        a = {name: arrays[name] for name in names}
        n = len(a["y_test"]) if a["y_test"].ndim == 1 else -1
        if n < 0 or a["y_pred"].shape != (n,) or a["test_index"].shape != (n,):
            raise damaged("test_index, y_test and y_pred must be three arrays of one length")
        for key in ("test_index", "error_index"):
            if a[key].ndim != 1 or a[key].dtype.kind not in "iu":
                raise damaged(f"{key} must be a list of whole numbers")
        if a["error_index"].size and (a["error_index"].min() < 0 or a["error_index"].max() >= n):
            raise damaged("error_index points outside the test set")
        if a["test_index"].size and a["test_index"].min() < 0:
            raise damaged("test_index has negative rows")
        shape = a["image_shape"]
        if shape.shape != (2,) or shape.dtype.kind not in "iu" or shape.min() < 1:
            raise damaged("image_shape must be two positive sizes")
        image_shape = (int(shape[0]), int(shape[1]))
        images = a["error_images"]
        if images.ndim != 2 or len(images) != len(a["error_index"]) or \
                (images.size and images.shape[1] != image_shape[0] * image_shape[1]):
            raise damaged("error_images must hold one image of image_shape per mistake")
        proba = a["proba"] if a["proba"].size else None
        if proba is not None and (proba.ndim != 2 or len(proba) != n):
            raise damaged("proba must have one row per test image")
        return cls(a["test_index"], a["y_test"], a["y_pred"], proba, a["error_index"], images, image_shape,
                   a["labels"])
