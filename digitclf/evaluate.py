"""Working with a saved run: evaluate it again, draw its mistakes, predict image files, compare runs.

Nothing here trains.  Every function starts from a ``RunDir`` (see ``digitclf.runs.resolve_run``)
and reads what the run saved: its resolved config, the data fingerprint, the test indices
and predictions in ``split.npz`` and the sha256-checked model.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from digitclf.errors import ConfigError, RunError
from digitclf.runs import RunDir, load_json, load_model, load_split, write_json

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from digitclf.config import DatasetConfig
    from digitclf.datasets import Dataset

SPLITS = ("test", "train", "all")
ERROR_ORDERS = ("index", "confidence")
MCNEMAR_METHOD = "McNemar exact test (two-sided binomial test on the discordant predictions, scipy.stats.binomtest)"


# ---------------------------------------------------------------- shared pieces


def dataset_config(ref: str) -> "DatasetConfig":
    """A ``--dataset`` value: a registry name (mnist), or a path to an IDX folder or a Keras-style .npz."""
    from digitclf.config import DatasetConfig, suggest
    from digitclf.datasets import DATASETS

    if ref in DATASETS:
        return DatasetConfig(name=ref)
    path = Path(ref).expanduser()
    if path.exists():
        return DatasetConfig(name="npz" if path.suffix == ".npz" else "idx", path=path)
    raise ConfigError(f"--dataset: {ref!r} is neither a known data set{suggest(ref, DATASETS)} "
                      f"({', '.join(DATASETS)}) nor an existing IDX folder or .npz file")


def class_names(record: dict[str, Any]) -> tuple[str, ...] | None:
    """Names of the classes of the run's data set (Fashion-MNIST), or None when labels are their own names."""
    from digitclf.datasets import DATASETS

    spec = DATASETS.get(record.get("config", {}).get("dataset", {}).get("name", ""))
    return spec.class_names if spec else None


def model_description(record: dict[str, Any], metrics: dict[str, Any] | None = None) -> str:
    """``LogisticRegression(lbfgs)``: from metrics.json when the run finished, else from its config."""
    if metrics and metrics.get("estimator"):
        solver = metrics.get("solver")
        return f"{metrics['estimator']}({solver})" if solver else str(metrics["estimator"])
    model = record.get("config", {}).get("model", {})
    solver = model.get("params", {}).get("solver")
    return f"{model.get('estimator', '?')}({solver})" if solver else str(model.get("estimator", "?"))


def load_model_noting(run: RunDir) -> tuple[Any, list[str]]:
    """``runs.load_model`` with its warnings (scikit-learn version change) returned as notes, not printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(run)
    notes = sorted({str(w.message).splitlines()[0] for w in caught})
    return model, notes


def _recorded_dataset(run: RunDir, record: dict[str, Any]) -> "DatasetConfig":
    """The run's data set config; a relative ``path:`` that moved falls back to the resolved path recorded."""
    from digitclf.config import from_dict

    cfg = from_dict(record["config"], f"{run.path}/run.json").dataset
    source = str(record.get("dataset", {}).get("source", ""))
    if cfg.path is not None and not Path(cfg.path).expanduser().exists() and source.startswith("path:"):
        recorded = Path(source.removeprefix("path:"))
        if recorded.exists():
            return cfg.model_copy(update={"path": recorded})
    return cfg


# ---------------------------------------------------------------- evaluate


def evaluate(run: RunDir, *, dataset: str | None = None, split: str = "test", style: str = "seaborn",
             normalize: str | None = None, save: bool = True, progress: Any = None) -> dict[str, Any]:
    """Reload the run's model and score it again, without retraining.

    By default on the exact test rows the run saved (after checking the data set's fingerprint);
    ``dataset`` (a name or a path) scores it on another data set with the same image shape, and
    ``split`` picks that set's ``test`` part (canonical, or the run's split rule), ``train`` or ``all``.
    Writes ``evaluation.json`` and refreshes ``confusion_matrix.png`` (``evaluation-<data>-<split>.json``
    and ``confusion_matrix-<data>-<split>.png`` for anything but the run's own test split).
    """
    from digitclf import metrics as metrics_mod

    if split not in SPLITS:
        raise ConfigError(f"--split: {split!r} is not one of {', '.join(SPLITS)}")
    record = run.record()
    saved = load_split(run)
    data, same_data = _load_data(run, record, dataset, progress)
    rows = _rows(data, saved, record, same_data, split)
    X, y_true = np.asarray(data.X[rows]), np.asarray(data.y[rows])
    if same_data and split == "test" and not np.array_equal(y_true, saved["y_test"]):
        raise RunError(f"{run.path}/split.npz: the saved test labels do not match the data set's rows; "
                       "the run or the data set is damaged")
    notes: list[str] = []
    run_max = float(record.get("dataset", {}).get("pixel_max") or data.pixel_max)
    if data.pixel_max != run_max:
        X = X * np.float32(run_max / data.pixel_max)
        notes.append(f"pixels rescaled from 0-{data.pixel_max:g} to the run's 0-{run_max:g}")

    model, load_notes = load_model_noting(run)
    y_pred = as_trained(model, record, "predict", X)
    labels = np.union1d(saved["labels"], np.unique(y_true))
    scores = metrics_mod.score(y_true, y_pred, labels)
    recorded = _metrics_or_none(run) or {}
    result: dict[str, Any] = {
        "schema": 1,
        "run_id": run.id,
        "name": run.name,
        "run_path": str(run.path),
        "model": model_description(record, recorded),
        "evaluated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dataset": {"name": data.name, "source": data.source, "fingerprint": data.fingerprint,
                    "image_shape": list(data.image_shape), "same_as_training": same_data},
        "split": split,
        "class_names": list(class_names(record) or []) or None,
        **scores,
        "notes": notes + load_notes,
    }
    own_test = same_data and split == "test"
    if own_test:
        result["recorded_accuracy"] = recorded.get("accuracy")
        result["matches_recorded"] = recorded.get("accuracy") == scores["accuracy"]
        result["changed_predictions"] = int(np.sum(y_pred != saved["y_pred"]))
    if save:
        from digitclf import plots

        suffix = "" if own_test else f"-{data.name}-{split}"
        result["files"] = [f"evaluation{suffix}.json", f"confusion_matrix{suffix}.png"]
        ax = plots.confusion_matrix(scores["confusion_matrix"], labels, accuracy=scores["accuracy"],
                                    style=style, normalize=normalize)
        _replace_artifact(run, result["files"][1], plots.png_bytes(ax))
        write_json(run.file(result["files"][0]), result)
    return result


def _load_data(run: RunDir, record: dict[str, Any], ref: str | None, progress: Any) -> tuple["Dataset", bool]:
    """The run's own data set (refused if its content changed), or the one ``--dataset`` names (same image shape)."""
    from digitclf.datasets import load_dataset

    trained_on = record.get("dataset", {})
    if ref is None:
        data = load_dataset(_recorded_dataset(run, record), progress=progress)
        if trained_on.get("fingerprint") and data.fingerprint != trained_on["fingerprint"]:
            raise RunError(f"data set {data.name!r} ({data.source}) has fingerprint {data.fingerprint}, but run {run.id} "
                           f"was trained on {trained_on['fingerprint']}; the saved test split does not apply to it. "
                           f"Restore the original data, or score it as another data set with --dataset")
    else:
        data = load_dataset(dataset_config(ref), progress=progress)
        shape = tuple(trained_on.get("image_shape") or ())
        if shape and tuple(data.image_shape) != shape:
            raise ConfigError(f"--dataset {ref}: its images are {'x'.join(map(str, data.image_shape))} but run "
                              f"{run.id} was trained on {'x'.join(map(str, shape))} images; pick a data set with "
                              "the same image size")
    return data, data.fingerprint == trained_on.get("fingerprint")


def _rows(data: "Dataset", saved: dict[str, Any], record: dict[str, Any], same_data: bool, split: str) -> np.ndarray:
    """Row numbers to score: the saved test rows on the run's own data; on another set its canonical test
    part (or the run's seeded split rule when it has none); ``train`` is the rest, ``all`` everything."""
    from digitclf.datasets import split_indices

    n = len(data.y)
    if same_data:
        test = saved["test_index"]
    elif data.n_train is not None:
        test = np.arange(data.n_train, n)
    else:
        test = np.asarray(split_indices(data, _run_split(record))[1])
    return {"test": test, "train": np.setdiff1d(np.arange(n), test), "all": np.arange(n)}[split]


def _replace_artifact(run: RunDir, name: str, content: bytes) -> None:
    """Write a file into the run folder atomically and record its new sha256 in run.json (``verify`` still holds)."""
    run.add_artifact(name, lambda fh: fh.write(content))
    run.update(artifacts={**run.record().get("artifacts", {}), name: run.written[name]})


def _metrics_or_none(run: RunDir) -> dict[str, Any] | None:
    try:
        return load_json(run, "metrics.json")
    except RunError:
        return None


def _run_split(record: dict[str, Any]) -> Any:
    from digitclf.config import from_dict

    split = from_dict(record["config"]).split
    if split.kind == "predefined":  # the other set has no canonical part: fall back to the seeded rule
        split = split.model_copy(update={"kind": "random"})
    return split


# ---------------------------------------------------------------- mistakes


def select_errors(saved: dict[str, Any], n: int = 25, sort: str = "index") -> dict[str, Any]:
    """The first ``n`` mistakes of a saved split, in test order or most confident first."""
    if sort not in ERROR_ORDERS:
        raise ConfigError(f"--sort: {sort!r} is not one of {', '.join(ERROR_ORDERS)}")
    where = np.asarray(saved["error_index"], dtype=np.int64)
    proba = saved.get("proba")
    confidence = proba[where].max(axis=1) if proba is not None and len(where) else None
    order = np.arange(len(where))
    if sort == "confidence":
        if confidence is None:
            raise ConfigError("--sort confidence: this model has no predict_proba, so its mistakes have no "
                              "confidence; use --sort index")
        order = np.argsort(-confidence, kind="stable")
    order = order[: max(0, n)]
    return {"images": saved["error_images"][order], "y_true": saved["y_test"][where[order]],
            "y_pred": saved["y_pred"][where[order]], "test_position": where[order],
            "confidence": None if confidence is None else confidence[order], "n_errors": int(len(where))}


def error_grid(run: RunDir, *, n: int = 25, cols: int = 5, sort: str = "index") -> "Axes":
    """The seed's grid of misclassified test images for a saved run ("Predicted: p, Actual: a", p=probability)."""
    from digitclf import plots

    saved = load_split(run)
    chosen = select_errors(saved, n, sort)
    return plots.misclassified(chosen["images"], chosen["y_true"], chosen["y_pred"], saved["image_shape"],
                               confidence=chosen["confidence"], cols=cols, class_names=class_names(run.record()))


def sample_grid(dataset: str, *, n: int = 5, cols: int = 5) -> "Axes":
    """The seed's first figure: the first ``n`` images of a data set with their labels."""
    from digitclf import plots
    from digitclf.datasets import load_dataset

    data = load_dataset(dataset_config(dataset))
    n = max(1, min(n, len(data.y)))
    labels = [data.class_names[int(v)] if data.class_names else int(v) for v in data.y[:n]]
    return plots.samples(np.asarray(data.X[:n]), labels, data.image_shape, cols=min(cols, n))


# ---------------------------------------------------------------- predict image files


def as_trained(model: Any, record: dict[str, Any], method: str, X: np.ndarray) -> Any:
    """``model.<method>(X)`` the way the run computed its own predictions: preprocessing with the
    library's threads, the classifier under the run's ``model.blas_threads`` (BLAS sums in another
    order with another thread count, and a prediction can flip)."""
    from digitclf.runner import blas_threads

    steps = getattr(model, "steps", None)
    if not steps:
        return getattr(model, method)(X)
    for _, step in steps[:-1]:
        X = step.transform(X)
    with blas_threads(((record.get("config") or {}).get("model") or {}).get("blas_threads")):
        return getattr(steps[-1][1], method)(X)


def predict_images(run: RunDir, paths: Sequence[str | Path], top: int = 3) -> dict[str, Any]:
    """Predicted label and the ``top`` most likely classes for PNG/JPEG files (or folders of them)."""
    from digitclf import images

    record = run.record()
    trained_on = record.get("dataset", {})
    shape = tuple(trained_on.get("image_shape") or load_split(run)["image_shape"])
    pixel_max = float(trained_on.get("pixel_max") or 255.0)
    files = images.collect(paths)
    X = np.stack([images.load_input(file, shape, pixel_max) for file in files])
    model, notes = load_model_noting(run)
    names = class_names(record)
    classes = np.asarray(model.classes_)
    if hasattr(model, "predict_proba"):
        scores, kind = as_trained(model, record, "predict_proba", X), "probability"
    else:
        scores, kind = np.asarray(as_trained(model, record, "decision_function", X)), "score"
        if scores.ndim == 1:  # two classes: one margin, positive for classes_[1]
            scores = np.column_stack([-scores, scores])
    rows = []
    for file, row in zip(files, scores):
        best = np.argsort(-row, kind="stable")[:top]
        ranked = [{"label": int(classes[i]), kind: float(row[i]),
                   **({"class_name": names[int(classes[i])]} if names else {})} for i in best]
        rows.append({"file": str(file), "label": ranked[0]["label"],
                     **({"class_name": ranked[0]["class_name"]} if names else {}), "top": ranked})
    return {"run_id": run.id, "name": run.name, "image_shape": list(shape), "pixel_max": pixel_max,
            "ranked_by": kind, "predictions": rows, "notes": notes}


# ---------------------------------------------------------------- compare


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test on paired predictions: is one model right where the other is wrong more often than chance?

    Only the discordant images count: ``a_only`` (A right, B wrong) and ``b_only``; under the null
    hypothesis each is Binomial(a_only + b_only, 1/2).  Two-sided p-value; 1.0 when they never disagree.
    """
    from scipy.stats import binomtest

    right_a, right_b = np.asarray(pred_a) == y_true, np.asarray(pred_b) == y_true
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p_value = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"method": MCNEMAR_METHOD, "n": int(len(y_true)), "a_only_correct": a_only, "b_only_correct": b_only,
            "accuracy_difference": float(np.mean(right_a) - np.mean(right_b)), "p_value": p_value}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"params": {"C": 1}}}`` -> ``{"model.params.C": 1}`` (lists are values)."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


COMPARED_METRICS = ("accuracy", "accuracy_ci95", "macro_f1", "n_errors", "n_train", "n_test", "n_features",
                    "fit_seconds", "n_iter", "converged")


def compare(runs: Sequence[RunDir], *, only_changed: bool = False) -> dict[str, Any]:
    """Config, data and metrics of runs side by side, the keys that differ, and McNemar tests for every
    pair of runs scored on the same test images."""
    if len(runs) < 2:
        raise ConfigError("compare needs at least two runs, e.g. digitclf compare RUN_A RUN_B")
    records = [run.record() for run in runs]
    run_metrics = [load_json(run, "metrics.json") for run in runs]
    sections = {
        "config": [flatten(record.get("config", {})) for record in records],
        "data": [{"dataset.fingerprint": r.get("dataset", {}).get("fingerprint"),
                  "dataset.n_samples": r.get("dataset", {}).get("n_samples"),
                  "versions.scikit-learn": r.get("versions", {}).get("scikit-learn")} for r in records],
        "metrics": [{key: m.get(key) for key in COMPARED_METRICS} for m in run_metrics],
    }
    table: dict[str, dict[str, list[Any]]] = {}
    changed: list[str] = []
    for section, per_run in sections.items():
        keys = list(dict.fromkeys(key for values in per_run for key in values))
        table[section] = {}
        for key in keys:
            values = [values.get(key) for values in per_run]
            differs = any(v != values[0] for v in values[1:])
            if differs:
                changed.append(f"{section}:{key}")
            if differs or not only_changed:
                table[section][key] = values
    splits = [load_split(run) for run in runs]
    tests = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            pair = {"a": runs[i].id, "b": runs[j].id}
            same = (records[i].get("dataset", {}).get("fingerprint") == records[j].get("dataset", {}).get("fingerprint")
                    and np.array_equal(splits[i]["test_index"], splits[j]["test_index"]))
            if same:
                pair.update(mcnemar(splits[i]["y_test"], splits[i]["y_pred"], splits[j]["y_pred"]))
            else:
                pair["skipped"] = "different data or test split: a paired test needs the same test images"
            tests.append(pair)
    return {"runs": [{"id": run.id, "name": run.name, "path": str(run.path)} for run in runs],
            "sections": table, "changed": changed, "tests": tests}
