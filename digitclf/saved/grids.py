"""Image grids from saved results: a run's misclassified test images, a data set's first images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from digitclf.choices import ERROR_ORDERS
from digitclf.errors import ConfigError
from digitclf.runs import RunDir, load_split

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from digitclf.records import SavedSplit



@dataclass(frozen=True)
class Mistakes:
    """The chosen misclassified test images with their labels, predictions and confidence."""

    images: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    test_position: np.ndarray
    confidence: np.ndarray | None
    n_errors: int


def select_errors(saved: "SavedSplit", n: int = 25, sort: str = "index") -> Mistakes:
    """The first ``n`` mistakes of a saved split, in test order or most confident first."""
    if sort not in ERROR_ORDERS:
        raise ConfigError(f"--sort: {sort!r} is not one of {', '.join(ERROR_ORDERS)}")
    if not isinstance(n, int) or n < 1:  # n=0 drew "No misclassified images" for a run with mistakes
        raise ConfigError(f"--n: {n!r} images; give a whole number of at least 1")
    where = np.asarray(saved.error_index, dtype=np.int64)
    confidence = saved.proba[where].max(axis=1) if saved.proba is not None and len(where) else None
    order = np.arange(len(where))
    if sort == "confidence":
        if saved.proba is None:
            raise ConfigError("--sort confidence: this model has no predict_proba, so its mistakes have no "
                              "confidence; use --sort index")
        if confidence is not None:
            order = np.argsort(-confidence, kind="stable")
    order = order[:n]
    return Mistakes(saved.error_images[order], saved.y_test[where[order]], saved.y_pred[where[order]], where[order],
                    None if confidence is None else confidence[order], int(len(where)))


def error_grid(run: RunDir, *, n: int = 25, cols: int = 5, sort: str = "index", ax: "Axes | None" = None) -> "Axes":
    """The seed's grid of misclassified test images for a saved run ("Predicted: p, Actual: a", p=probability)."""
    from digitclf import plots
    from digitclf.datasets import class_names

    if not isinstance(cols, int) or cols < 1:
        raise ConfigError(f"--cols: {cols!r} images per row; give a whole number of at least 1")
    saved = load_split(run)
    chosen = select_errors(saved, n, sort)
    return plots.misclassified(chosen.images, chosen.y_true, chosen.y_pred, saved.image_shape,
                               confidence=chosen.confidence, cols=cols, ax=ax,
                               class_names=class_names(run.record().config.dataset.name))


def sample_grid(dataset: str, *, n: int = 5, cols: int = 5) -> "Axes":
    """The seed's first figure: the first ``n`` images of a data set with their labels."""
    from digitclf import plots
    from digitclf.datasets import dataset_config, load_dataset

    data = load_dataset(dataset_config(dataset))
    n = max(1, min(n, len(data.y)))
    labels = [data.class_names[int(v)] if data.class_names else int(v) for v in data.y[:n]]
    return plots.samples(np.asarray(data.X[:n]), labels, data.image_shape, cols=min(cols, n))
