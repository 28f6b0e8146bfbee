"""plots: the figures drawn from arrays (confusion matrix, accuracy against fit time)."""

from __future__ import annotations

import numpy as np

from digitclf import plots
from helpers import png_size


def test_normalized_confusion_matrix_annotations():
    cm = np.array([[3, 1], [2, 6]])
    ax = plots.confusion_matrix(cm, [0, 1], normalize="true")
    assert [t.get_text() for t in ax.texts] == ["0.75", "0.25", "0.25", "0.75"]
    ax = plots.confusion_matrix(cm, [0, 1], normalize="pred", style="matplotlib")
    assert [t.get_text() for t in ax.texts] == ["0.60", "0.14", "0.40", "0.86"]


def test_accuracy_vs_time_points():
    points = [{"label": "a", "fit_seconds": 0.05, "accuracy": 0.95, "accuracy_ci95": [0.93, 0.97]},
              {"label": "b", "fit_seconds": 30.0, "accuracy": 0.91}]
    ax = plots.accuracy_vs_time(points)
    assert ax.get_xscale() == "log"  # 600x apart
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    assert png_size(plots.png_bytes(ax)) == (700, 450)
