"""``predict``: the digit(s) in PNG/JPEG files under a saved model, with flags that say when not to trust it.

Each file is read (``digitclf.images``), its digit or digits found and put in the training frame
(``digitclf.extract``), and ranked by the model. An answer carries flags: ``tiny``, ``faint`` and
``touches_border`` from extraction, ``refused`` for a file of a batch that could not be read or
held no digit (its ``error`` says why), ``low_confidence`` when the top probability is under
``LOW_CONFIDENCE`` (the label becomes ``"unsure"`` under ``min_confidence``), ``not_digits`` when the
run's classes are not the digits 0-9.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from digitclf.errors import ConfigError, InputError, RunError
from digitclf.runs import RUN_FILE, RunDir, as_trained, load_model_noting, load_split

LOW_CONFIDENCE = 0.5  # a top probability under this is flagged low_confidence
UNSURE = "unsure"
EXPLAIN_SUFFIX = ".explain.png"
EXPLAIN_MARK = b"Software\x00digitclf"  # the tEXt chunk digitclf.explain.save writes


def _not_digits(names: Sequence[str] | None, classes: np.ndarray, dataset: str) -> str | None:
    """A warning when the run's classes are not the digits 0-9, else None."""
    if names:
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        return (f"this run's classes are not digits ({dataset}: {shown}); "
                "its answer for a photo of a digit means nothing")
    if not set(np.asarray(classes).tolist()) <= set(range(10)):
        return "this run's classes are not the digits 0-9; its answer for a photo of a digit means nothing"
    return None


def predict_images(run: RunDir, paths: Sequence[str | Path], top: int = 3, *, trust: bool = False,
                   multi: bool = False, min_confidence: float | None = None, deskew: bool = False,
                   explain: str | Path | None = None) -> dict[str, Any]:
    """Predicted label(s) and the ``top`` most likely classes for PNG/JPEG files (or folders of them).

    ``multi`` reads every digit of an image left to right as a string; ``min_confidence`` turns an
    answer whose top probability is lower into ``"unsure"``; ``explain`` is a folder that gets one
    ``<name>.explain.png`` per image; ``trust`` loads a pickled model not signed with this user's key."""
    from digitclf import extract, images
    from digitclf.datasets import class_names

    if isinstance(paths, (str, Path)):  # one file or folder, not a sequence of one-letter names
        paths = [paths]
    if not isinstance(top, int) or top < 1:
        raise ConfigError(f"top: {top!r}; give how many classes to rank, at least 1")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ConfigError(f"--min-confidence: {min_confidence!r} is not a probability; give a number from 0 to 1")
    record = run.record()
    shape, pixel_max = _frame(run, record)
    files = images.collect(paths, skip=(EXPLAIN_SUFFIX,))  # predict photos/ --explain photos/, run twice
    folder = _explain_folder(explain)
    explain_names = _explain_names(files)
    for name in explain_names if folder is not None else ():  # before any work: never over someone's file
        _check_explain_target(folder / name)
    found: list[tuple[Any, Any]] = []  # (picture, extraction), or (None, the error) for a file refused
    read_notes: list[str] = []  # what Pillow warned about a file (corrupt EXIF data: its rotation may be wrong)
    for file in files:
        try:
            gray = images.read_gray(file, notes=read_notes)
            found.append((gray, extract.extract(gray, shape, multi=multi, skew=deskew, source=str(file))))
        except InputError as refused:
            found.append((None, refused))
    if all(gray is None for gray, _ in found):
        raise found[0][1]  # nothing to answer: the first file's problem is the one Error line
    model, notes = load_model_noting(run, trust=trust)
    expects = getattr(model, "n_features_in_", None)
    if expects is not None and int(expects) != shape[0] * shape[1]:
        raise RunError(f"{run.path}/{RUN_FILE}: its images are {shape[0]}x{shape[1]} but the model takes {expects} "
                       "pixels; the run is damaged, train it again")
    names = class_names(record.config.dataset.name)
    classes = np.asarray(model.classes_)
    has_proba = hasattr(model, "predict_proba")
    if min_confidence is not None and not has_proba:
        estimator = model.steps[-1][1] if hasattr(model, "steps") else model
        raise InputError(f"--min-confidence needs probabilities, and this run's model "
                         f"({type(estimator).__name__}) has no predict_proba; leave the option out")
    X = np.stack([d.frame.ravel() * pixel_max for gray, e in found if gray is not None for d in e.digits])
    if has_proba:
        scores, kind = as_trained(model, record, "predict_proba", X), "probability"
    else:
        scores, kind = np.asarray(as_trained(model, record, "decision_function", X)), "score"
        if scores.ndim == 1:  # two classes: one margin, positive for classes_[1]
            scores = np.column_stack([-scores, scores])
    warning = _not_digits(names, classes, record.config.dataset.name)
    warnings = [warning] if warning else []
    rows, at = [], 0
    for file, (gray, extraction) in zip(files, found):
        if gray is None:  # in a batch, a refused file is a flagged answer: the others are still answered
            rows.append({"file": str(file), "label": None, "error": str(extraction), "flags": ["refused"]})
            continue
        digits = []
        for digit, row in zip(extraction.digits, scores[at: at + len(extraction.digits)]):
            best = np.argsort(-row, kind="stable")[:top]
            ranked = [{"label": int(classes[i]), kind: float(row[i]),
                       **({"class_name": names[int(classes[i])]} if names else {})} for i in best]
            flags = list(digit.flags) + (["not_digits"] if warning else [])
            label: int | str = ranked[0]["label"]
            if has_proba and ranked[0][kind] < LOW_CONFIDENCE:
                flags.append("low_confidence")
            if min_confidence is not None and ranked[0][kind] < min_confidence:
                label = UNSURE
            digits.append({"label": label, **({"class_name": ranked[0]["class_name"]} if names and label != UNSURE
                                              else {}),
                           "top": ranked, "box": list(digit.box), "flags": flags})
        at += len(extraction.digits)
        rows.append(_row(file, digits, multi))
        if folder is not None:
            rows[-1]["explain"] = str(_explain(folder, explain_names[len(rows) - 1], file, gray, extraction,
                                               digits, kind))
    return {"run_id": run.id, "name": run.name, "image_shape": list(shape), "pixel_max": pixel_max,
            "ranked_by": kind, "multi": multi, "min_confidence": min_confidence, "warnings": warnings,
            "predictions": rows, "notes": read_notes + notes}


def _frame(run: RunDir, record: Any) -> tuple[tuple[int, int], float]:
    """The training frame (image shape) and pixel range a picture is put into, as run.json records them."""
    import math

    if record.dataset is None:
        return load_split(run).image_shape, 255.0
    info = record.dataset
    shape, pixel_max = (int(info.image_shape[0]), int(info.image_shape[1])), float(info.pixel_max)
    if min(shape) < 1 or shape[0] * shape[1] != info.n_features or not (math.isfinite(pixel_max) and pixel_max > 0):
        raise RunError(f"{run.path}/{RUN_FILE}: dataset.image_shape {shape[0]}x{shape[1]} and pixel_max {pixel_max:g} "
                       f"do not describe images of {info.n_features} pixels; the run is damaged, train it again")
    return shape, pixel_max


def _row(file: Path, digits: list[dict[str, Any]], multi: bool) -> dict[str, Any]:
    """One file's answer: one digit as before (label, top), several as a string read left to right."""
    flags = sorted({flag for d in digits for flag in d["flags"]})
    if not multi:
        return {"file": str(file), **{k: v for k, v in digits[0].items() if k != "flags"}, "flags": flags}
    text = "".join("?" if d["label"] == UNSURE else str(d["label"]) for d in digits)
    return {"file": str(file), "label": text, "digits": digits, "flags": flags}


def _explain_folder(explain: str | Path | None) -> Path | None:
    if explain is None:
        return None
    from digitclf.paths import article, kind, run_folder_of

    folder = Path(explain).expanduser()
    found = kind(folder)
    if found == "file":
        raise InputError(f"--explain {str(explain)!r} is a file; give a folder for the pictures")
    if found not in ("missing", "folder"):
        raise InputError(f"--explain {str(explain)!r} is {article(found)}; give a folder for the pictures")
    run = run_folder_of(folder / EXPLAIN_SUFFIX)
    if run is not None:
        raise InputError(f"--explain {str(explain)!r} is inside the run folder {run}, which holds only what the "
                         "run saved; give a folder somewhere else")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_explain_target(path: Path) -> None:
    """``path`` is free, or a picture an earlier ``--explain`` drew (it carries ``Software: digitclf``)."""
    from digitclf.paths import article, kind

    found = kind(path)
    if found == "missing":
        return
    head = b""
    if found == "file":
        with open(path, "rb") as fh:
            head = fh.read(4096)
    if EXPLAIN_MARK not in head:
        what = "another file" if found == "file" else article(found)
        raise InputError(f"--explain: {path} is {what}, not a picture digitclf drew; move it away or give "
                         "another --explain folder")


def _explain_names(files: Sequence[Path]) -> list[str]:
    """``<stem>.explain.png`` per file; files of the same stem (from several folders) get ``-2``, ``-3``..."""
    seen: dict[str, int] = {}
    names = []
    for file in files:
        seen[file.stem] = seen.get(file.stem, 0) + 1
        names.append(f"{file.stem}{'' if seen[file.stem] == 1 else '-' + str(seen[file.stem])}{EXPLAIN_SUFFIX}")
    return names


def _explain(folder: Path, name: str, file: Path, gray: np.ndarray, extraction: Any, digits: list[dict[str, Any]],
             kind: str) -> Path:
    from digitclf import explain

    tops = [[(str(t["label"]) + (f" {t['class_name']}" if "class_name" in t else ""), t[kind]) for t in d["top"]]
            for d in digits]
    answer = "".join(str(d["label"]) for d in digits)
    flags = sorted({flag for d in digits for flag in d["flags"]})
    title = f"{file.name}\nanswer: {answer}\ntop 3 by {kind}" + (f"\nflags: {', '.join(flags)}" if flags else "")
    image = explain.picture(gray, [e.frame for e in extraction.digits], [e.box for e in extraction.digits],
                            tops, title)
    return explain.save(image, folder / name)
