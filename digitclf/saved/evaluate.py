"""``evaluate``: reload a saved model and score it again, on its own test split or on another data set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from digitclf.choices import NORMALIZE, SPLITS, STYLES
from digitclf.errors import ConfigError, DatasetError, RunError
from digitclf.records import RunRecord, SavedSplit, now
from digitclf.runs import RunDir, as_trained, load_model_noting, load_split, write_json

if TYPE_CHECKING:
    from digitclf.config import DatasetConfig, SplitConfig
    from digitclf.datasets import Dataset



def evaluate(run: RunDir, *, dataset: str | None = None, split: str = "test", style: str = "seaborn",
             normalize: str | None = None, save: bool = True, trust: bool = False,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Reload the run's model and score it again, without retraining.

    By default on the exact test rows the run saved (after checking the data set's fingerprint);
    ``dataset`` (a name or a path) scores it on another data set with the same image shape, and
    ``split`` picks that set's ``test`` part (canonical, or the run's split rule), ``train`` or ``all``.
    Writes ``evaluation.json`` and refreshes ``confusion_matrix.png`` (``evaluation-<data>-<split>.json``
    and ``confusion_matrix-<data>-<split>.png`` for anything but the run's own test split; ``<data>`` of a
    set given by path ends with its fingerprint's first 8 digits).
    ``trust`` loads a pickled model that is not signed with this user's key (``digitclf.signing``).
    """
    from digitclf import metrics as metrics_mod
    from digitclf.datasets import class_names

    for option, value, allowed in (("--split", split, SPLITS), ("--style", style, STYLES),
                                   ("--normalize", normalize, (None, *NORMALIZE))):
        if value not in allowed:
            raise ConfigError(f"{option}: {value!r} is not one of {', '.join(a for a in allowed if a)}")
    record = run.record()
    recorded = run.metrics()  # a damaged or swapped metrics.json is refused here, not compared against
    saved = load_split(run)
    data, same_data = _load_data(run, record, dataset, progress)
    if same_data and split == "test" and recorded.scored_on == "cross-validation":
        raise ConfigError(f"run {run.id} is cross-validated: its saved model was refit on all {len(data.y):,} "
                          f"images of {data.name}, so none is left to test it on (its cross-validated accuracy, "
                          f"{recorded.accuracy:.4f}, is in metrics.json); score it on another data set with "
                          "--dataset, or use --split all for its accuracy on the images it was fitted on")
    rows = _rows(data, saved, record, same_data, split)
    if not len(rows):
        raise ConfigError(f"--split {split}: this run leaves no {split} rows of {data.name} "
                          f"({len(data.y):,} images); use --split {'all' if split == 'train' else 'train'}")
    X, y_true = np.asarray(data.X[rows]), np.asarray(data.y[rows])
    if same_data and split == "test" and not np.array_equal(y_true, saved.y_test):
        raise RunError(f"{run.path}/split.npz: the saved test labels do not match the data set's rows; "
                       "the run or the data set is damaged")
    notes: list[str] = []
    run_max = record.dataset.pixel_max if record.dataset else data.pixel_max
    if not (np.isfinite(run_max) and run_max > 0):
        raise RunError(f"{run.path}/run.json: dataset.pixel_max is {run_max:g}, not a pixel range; the run is damaged, "
                       "train it again")
    if data.pixel_max != run_max:
        X = X * np.float32(run_max / data.pixel_max)
        notes.append(f"pixels rescaled from 0-{data.pixel_max:g} to the run's 0-{run_max:g}")

    names = class_names(record.config.dataset.name)
    model, load_notes = load_model_noting(run, trust=trust)
    expects = getattr(model, "n_features_in_", None)
    if expects is not None and int(expects) != X.shape[1]:
        raise RunError(f"{run.path}: its model takes {expects} pixels but its images have {X.shape[1]}; the run "
                       "is damaged, train it again")
    y_pred = as_trained(model, record, "predict", X)
    unknown = np.setdiff1d(np.unique(y_true), np.asarray(getattr(model, "classes_", np.unique(y_true))))
    if unknown.size:  # another set's coding of its classes (labels 10-19, letters): say why accuracy is so low
        shown = ", ".join(map(str, unknown[:5].tolist())) + (", ..." if unknown.size > 5 else "")
        notes.append(f"{unknown.size} label(s) of the data set ({shown}) are not classes of this model, so it "
                     "gets none of their images right")
    labels = np.union1d(saved.labels, np.unique(y_true))
    scores = metrics_mod.score(y_true, y_pred, labels)
    result: dict[str, Any] = {
        "schema": 1,
        "run_id": run.id,
        "name": run.name,
        "run_path": str(run.path),
        "model": recorded.model_label,
        "evaluated": now(),
        "dataset": {"name": data.name, "source": data.source, "fingerprint": data.fingerprint,
                    "image_shape": list(data.image_shape), "same_as_training": same_data},
        "split": split,
        "class_names": list(names) if names else None,
        **scores,
        "notes": notes + load_notes,
    }
    from digitclf.curves import summary as curve_summary

    result["curve"] = curve_summary(run)  # what the fit saw on its validation slice (None: no curve recorded)
    own_test = same_data and split == "test"
    if own_test:
        result["recorded_accuracy"] = recorded.accuracy
        result["matches_recorded"] = recorded.accuracy == scores["accuracy"]
        result["changed_predictions"] = int(np.sum(y_pred != saved.y_pred))
    if save:
        from digitclf import plots

        suffix = "" if own_test else f"-{_data_tag(data)}-{split}"
        result["files"] = [f"evaluation{suffix}.json", f"confusion_matrix{suffix}.png"]
        shown = [names[int(label)] for label in labels] if names and labels.max() < len(names) else labels
        ax = plots.confusion_matrix(scores["confusion_matrix"], shown, accuracy=scores["accuracy"],
                                    style=style, normalize=normalize)
        run.replace_artifact(result["files"][1], plots.png_bytes(ax))
        write_json(run.file(result["files"][0]), result)
    return result


def _data_tag(data: "Dataset") -> str:
    """``<data>`` in the file names: the set's name, and for a set given by path (every one is ``idx`` or ``npz``)
    its fingerprint's first 8 digits, so evaluating two folders never replaces one's files with the other's."""
    if not data.source.startswith("path:"):
        return data.name
    return f"{data.name}-{data.fingerprint.rpartition(':')[2][:8]}"


def _recorded_dataset(record: RunRecord) -> "DatasetConfig":
    """The run's data set config; a relative ``path:`` that moved falls back to the resolved path recorded."""
    cfg = record.config.dataset
    source = record.dataset.source if record.dataset else ""
    if cfg.path is not None and not Path(cfg.path).expanduser().exists() and source.startswith("path:"):
        recorded = Path(source.removeprefix("path:"))
        if recorded.exists():
            return cfg.model_copy(update={"path": recorded})
    return cfg


def _load_data(run: RunDir, record: RunRecord, ref: str | None,
               progress: Callable[[str], None] | None) -> tuple["Dataset", bool]:
    """The run's own data set (refused if its content changed), or the one ``--dataset`` names (same image shape)."""
    from digitclf.datasets import dataset_config, load_dataset

    trained_on = record.dataset
    if ref is None:
        cfg = _recorded_dataset(record)
        if cfg.path is not None and not os.path.lexists(Path(cfg.path).expanduser()):
            raise DatasetError(f"run {run.id} was trained on {cfg.path}, which no longer exists; put the data "
                               "back there, or score the run on another data set with --dataset")
        data = load_dataset(cfg, progress=progress)
        if trained_on is not None and data.fingerprint != trained_on.fingerprint:
            raise RunError(f"data set {data.name!r} ({data.source}) has fingerprint {data.fingerprint}, but run {run.id} "
                           f"was trained on {trained_on.fingerprint}; the saved test split does not apply to it. "
                           f"Restore the original data, or score it as another data set with --dataset")
    else:
        data = load_dataset(dataset_config(ref), progress=progress)
        if trained_on is not None and tuple(data.image_shape) != tuple(trained_on.image_shape):
            shape = trained_on.image_shape
            raise ConfigError(f"--dataset {ref}: its images are {'x'.join(map(str, data.image_shape))} but run "
                              f"{run.id} was trained on {'x'.join(map(str, shape))} images; pick a data set with "
                              "the same image size")
    return data, trained_on is not None and data.fingerprint == trained_on.fingerprint


def _rows(data: "Dataset", saved: SavedSplit, record: RunRecord, same_data: bool, split: str) -> np.ndarray:
    """Row numbers to score: the saved test rows on the run's own data; on another set its canonical test
    part (or the run's seeded split rule when it has none); ``train`` is the rest, ``all`` everything."""
    from digitclf.datasets import split_indices

    n = len(data.y)
    if same_data:
        test = saved.test_index
        if test.size and test.max() >= n:
            raise RunError(f"{record.id}: split.npz names test rows beyond the data set's {n}; the run is damaged")
    elif data.n_train is not None:
        test = np.arange(data.n_train, n)
    else:
        test = np.asarray(split_indices(data, _run_split(record))[1])
    return {"test": test, "train": np.setdiff1d(np.arange(n), test), "all": np.arange(n)}[split]


def _run_split(record: RunRecord) -> "SplitConfig":
    split = record.config.split
    if split.kind == "predefined":  # the other set has no canonical part: fall back to the seeded rule
        split = split.model_copy(update={"kind": "random"})
    return split
