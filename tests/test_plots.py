"""plots: the figures drawn from arrays (confusion matrix, accuracy against fit time)."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from digitclf import plots, threads
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


# ---------------------------------------------------------------- Renderer: the run's PNGs drawn in a process of its own

# 600x600: the confusion matrix's fixed 6-inch figure; 520x270: two cells of (8 + 2.4) x (8 + 2.2 + 0.6)
# pixels at 0.25 inch per pixel (image_grid's layout), at 100 dpi
SIZES = [(600, 600), (520, 270)]


def _batch():
    cm = np.array([[5, 1], [0, 4]])
    images = np.arange(2 * 64, dtype=np.uint8).reshape(2, 64)
    return [(plots.confusion_matrix_png, (cm, [0, 1]), {"accuracy": 0.9}),
            (plots.misclassified_png, (images, [0, 1], [1, 0], (8, 8)), {"confidence": np.array([0.7, 0.6])})]


def _decoded(pngs):
    from PIL import Image

    return [np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in pngs]


@pytest.fixture
def idle_core(monkeypatch):
    """The process may use two cores, whatever its affinity while the tests run."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)


@pytest.mark.slow  # starts a Python process that imports matplotlib and seaborn
def test_the_drawing_process_draws_what_this_process_draws(idle_core):
    with plots.Renderer() as renderer:
        assert renderer._proc is not None  # a process was started: this is not the fallback
        there = renderer.draw(_batch())()
        again = renderer.draw(_batch()[:1])()  # the process serves more than one batch
    here = plots.Renderer(process=False).draw(_batch())()
    assert [png_size(p) for p in there] == [png_size(p) for p in here] == SIZES
    for a, b in zip(_decoded(there), _decoded(here)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_decoded(again)[0], _decoded(here)[0])


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/true"])
def test_a_process_that_cannot_start_or_dies_falls_back_to_drawing_here(monkeypatch, idle_core, executable):
    monkeypatch.setattr(sys, "executable", executable)  # cannot start / exits at once
    with plots.Renderer() as renderer:
        pngs = renderer.draw(_batch())()
    assert [png_size(p) for p in pngs] == SIZES


def test_no_process_is_started_on_a_single_core(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")  # would be refused if it were started
    with plots.Renderer() as renderer:
        assert renderer._proc is None
        assert [png_size(p) for p in renderer.draw(_batch())()] == SIZES


def test_an_argument_that_cannot_be_pickled_is_drawn_here(monkeypatch, idle_core):
    monkeypatch.setattr(sys, "executable", "/bin/cat")  # a "process" that would echo the batch back
    with plots.Renderer() as renderer:
        pngs = renderer.draw([(lambda: b"drawn here", (), {})])()
    assert pngs == [b"drawn here"]


def test_grid_titles_never_overlap_in_a_small_panel():
    """README's notebook layout: a 16x8 figure, the error grid in its right half."""
    from matplotlib.figure import Figure

    from digitclf import plots

    fig = Figure(figsize=(16, 8))
    _, right = fig.subplots(1, 2)
    titles = [f"Predicted: {k}\nActual: {k + 1} (0.93)" for k in range(25)]
    ax = plots.image_grid(np.random.default_rng(0).random((25, 64)), titles, (8, 8), cols=5, ax=right)
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
    if renderer is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 25
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


@pytest.mark.parametrize(("style", "normalize"), [("bogus", None), ("seaborn", "bogus"), ("Seaborn", "true"),
                                                  ("matplotlib", "")])
def test_an_unknown_style_or_normalization_is_a_config_error_naming_the_choices(style, normalize):
    from digitclf.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        plots.confusion_matrix([[1, 0], [0, 1]], [0, 1], style=style, normalize=normalize)
    assert str(caught.value) == (f"confusion matrix: style {style!r} / normalize {normalize!r}: use a style from "
                                 "seaborn, matplotlib and normalize None or one of true, pred, all")
