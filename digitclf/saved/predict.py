"""``predict``: the label of PNG/JPEG files under a saved model (the images are prepared by ``digitclf.images``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from digitclf.runs import RunDir, as_trained, load_model_noting, load_split


def predict_images(run: RunDir, paths: Sequence[str | Path], top: int = 3, *, trust: bool = False) -> dict[str, Any]:
    """Predicted label and the ``top`` most likely classes for PNG/JPEG files (or folders of them);
    ``trust`` loads a pickled model not signed with this user's key."""
    from digitclf import images
    from digitclf.datasets import class_names

    record = run.record()
    shape = tuple(record.dataset.image_shape) if record.dataset else load_split(run).image_shape
    pixel_max = record.dataset.pixel_max if record.dataset else 255.0
    files = images.collect(paths)
    X = np.stack([images.load_input(file, shape, pixel_max) for file in files])
    model, notes = load_model_noting(run, trust=trust)
    names = class_names(record.config.dataset.name)
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
