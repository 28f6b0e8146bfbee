"""Every figure digitclf draws.  Plots read results (arrays or a saved run); they never train.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no global
backend state); each function accepts an existing ``Axes`` to draw into.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from digitclf.choices import NORMALIZE, STYLES  # the styles and normalizations offered


def _axes(ax: "Axes | None", figsize: tuple[float, float]) -> "Axes":
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained").add_subplot()


def confusion_matrix(cm: Sequence[Sequence[float]], labels: Sequence[Any], *, accuracy: float | None = None,
                     style: str = "seaborn", normalize: str | None = None, ax: "Axes | None" = None) -> "Axes":
    """The seed's confusion matrix: an annotated seaborn heatmap, or its plain-matplotlib version."""
    if style not in STYLES or (normalize is not None and normalize not in NORMALIZE):
        from digitclf.errors import ConfigError

        raise ConfigError(f"confusion matrix: style {style!r} / normalize {normalize!r}: use a style from "
                          f"{', '.join(STYLES)} and normalize None or one of {', '.join(NORMALIZE)}")
    cm = np.asarray(cm, dtype=float)
    if normalize == "true":
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    elif normalize == "pred":
        cm = cm / np.maximum(cm.sum(axis=0, keepdims=True), 1)
    elif normalize == "all":
        cm = cm / max(cm.sum(), 1)
    fmt = ".2f" if normalize else ".0f"
    if ax is None:  # a fixed layout: constrained layout is much slower to save (benchmarks/RESULTS.md)
        from matplotlib.figure import Figure

        size = max(6.0, 0.6 * len(labels) + 2)
        ax = Figure(figsize=(size, size)).add_axes((1.1 / size, 0.9 / size, 1 - 1.5 / size, 1 - 1.5 / size))
    names = [str(label) for label in labels]
    if style == "seaborn":
        import seaborn as sns

        sns.heatmap(cm, annot=True, fmt=fmt, linewidths=0.5, square=True, cmap="Blues_r",
                    xticklabels=names, yticklabels=names, ax=ax)
    else:
        image = ax.imshow(cm, interpolation="nearest", cmap="Pastel1")
        ax.figure.colorbar(image, ax=ax)
        ticks = np.arange(len(names))
        ax.set_xticks(ticks, names, rotation=45, size=10)
        ax.set_yticks(ticks, names, size=10)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.annotate(format(cm[i, j], fmt), xy=(j, i), ha="center", va="center")
    ax.set_ylabel("Actual label")
    ax.set_xlabel("Predicted label")
    title = "Confusion matrix" if accuracy is None else f"Accuracy Score: {accuracy:.4f}"
    ax.set_title(title + (f" (normalized over {normalize})" if normalize else ""), size=15)
    return ax


def _scale(ax: "Axes", width: float, height: float) -> float:
    """How much smaller (or larger) than its natural size in inches a grid is drawn into ``ax``: titles
    scale with the images, so they never run into each other in a small panel."""
    box = ax.get_position()
    fig = ax.figure
    fits = min(box.width * fig.get_figwidth() / width, box.height * fig.get_figheight() / height)
    return float(np.clip(fits, 0.45, 1.5))


def image_grid(images: np.ndarray, titles: Sequence[str], image_shape: Sequence[int], *, cols: int = 5,
               ax: "Axes | None" = None, title: str | None = None) -> "Axes":
    """Images in a grid inside one ``ax``, each with its title above it (gray colormap, as in the seed).

    Every image is placed by its extent in a single Axes: no Axes (and no tick machinery) per
    image, which made a grid several times slower to save (benchmarks/RESULTS.md).
    """
    n = len(images)
    cols = max(1, min(cols, n)) if n else 1
    rows = max(1, -(-n // cols))
    height, width = (int(v) for v in image_shape)
    unit = 2.0 / max(height, width)  # inches per pixel: the longer side of each image is 2 inches
    pad_x, title_h = 0.6 / unit, 0.55 / unit  # in pixels: a gap between columns, room for a two-line title
    cell_w, cell_h = width + pad_x, height + title_h
    if ax is None:
        from matplotlib.figure import Figure

        top = 0.45 if title else 0.0
        fig = Figure(figsize=(cols * cell_w * unit, (rows * cell_h + pad_x / 4) * unit + top))
        ax = fig.add_axes((0, 0, 1, 1 - top / fig.get_figheight()))
    ax.set_axis_off()
    if title:
        ax.set_title(title, size=14)
    if n == 0:
        ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", size=14, transform=ax.transAxes)
        return ax
    font = 9.0 * _scale(ax, cols * cell_w * unit, (rows * cell_h + pad_x / 4) * unit)
    for k, (image, text) in enumerate(zip(images, titles)):
        r, c = divmod(k, cols)
        left, top_edge = c * cell_w + pad_x / 2, r * cell_h + title_h
        ax.imshow(np.reshape(image, (height, width)), cmap="gray", interpolation="nearest",
                  extent=(left, left + width, top_edge + height, top_edge))
        ax.text(left + width / 2, top_edge - 0.04 / unit, text, size=font, ha="center", va="bottom")
    ax.set_xlim(0, cols * cell_w)
    ax.set_ylim(rows * cell_h + pad_x / 4, 0)
    ax.set_aspect("equal")
    return ax


def misclassified(images: np.ndarray, y_true: Sequence[Any], y_pred: Sequence[Any], image_shape: Sequence[int], *,
                  confidence: Sequence[float] | None = None, cols: int = 5, ax: "Axes | None" = None,
                  class_names: Sequence[str] | None = None) -> "Axes":
    """The seed's grid of mistakes, each titled "Predicted: p, Actual: a" (plus the probability if given)."""
    def name(label: Any) -> str:
        return class_names[int(label)] if class_names else str(label)

    titles = [f"Predicted: {name(p)}, Actual: {name(a)}" + (f"\np={confidence[i]:.2f}" if confidence is not None else "")
              for i, (p, a) in enumerate(zip(y_pred, y_true))]
    return image_grid(images, titles, image_shape, cols=cols, ax=ax,
                      title=None if len(images) else "No misclassified images")


def samples(images: np.ndarray, labels: Sequence[Any], image_shape: Sequence[int], *, cols: int = 5,
            ax: "Axes | None" = None) -> "Axes":
    """The seed's first figure: images titled "Training: label"."""
    return image_grid(images, [f"Training: {label}" for label in labels], image_shape, cols=cols, ax=ax)


def accuracy_vs_time(points: Sequence[dict[str, Any]], *, ax: "Axes | None" = None) -> "Axes":
    """Test accuracy (with its 95% CI) against fit seconds, one labelled point per run.

    Each point is a mapping with ``label``, ``fit_seconds``, ``accuracy`` and optionally ``accuracy_ci95``.
    """
    ax = _axes(ax, (7.0, 4.5))
    points = [p for p in points if p.get("accuracy") is not None and p.get("fit_seconds") is not None]
    if not points:
        ax.text(0.5, 0.5, "no complete runs", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    x = np.array([p["fit_seconds"] for p in points], dtype=float)
    y = np.array([p["accuracy"] for p in points], dtype=float)
    ci = np.array([p.get("accuracy_ci95") or [a, a] for p, a in zip(points, y)], dtype=float)
    ax.errorbar(x, y, yerr=[y - ci[:, 0], ci[:, 1] - y], fmt="o", capsize=3, color="tab:blue", ecolor="0.6")
    for xi, yi, point in zip(x, y, points):
        ax.annotate(str(point["label"]), (xi, yi), xytext=(4, 4), textcoords="offset points", size=8)
    if x.min() > 0 and x.max() / x.min() > 20:  # runs from 0.05 s to minutes: a log axis keeps both readable
        ax.set_xscale("log")
    ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    ax.set_xlabel("fit time (s)")
    ax.set_ylabel("test accuracy (95% CI)")
    ax.set_title("Accuracy versus fit time", size=13)
    ax.grid(True, alpha=0.3)
    return ax


def tradeoff(points: Sequence[dict[str, Any]], *, title: str | None = None, ax: "Axes | None" = None) -> "Axes":
    """A sweep's picture: accuracy (with its 95% CI) against fit seconds, one numbered marker per point.

    Each point has ``index``, ``label`` (for the legend), ``fit_seconds``, ``accuracy``, ``accuracy_ci95``.
    """
    ax = _axes(ax, (8, 6))
    for point in points:
        low, high = point["accuracy_ci95"]
        acc = point["accuracy"]
        ax.errorbar([point["fit_seconds"]], [acc], yerr=[[acc - low], [high - acc]], fmt="o", capsize=3,
                    label=point["label"])
        ax.annotate(str(point["index"]), (point["fit_seconds"], acc), textcoords="offset points", xytext=(5, 3),
                    fontsize=9)
    return _sweep_axes(ax, [p["fit_seconds"] for p in points], legend="point: swept values",
                       empty="no complete points yet", ylabel="test accuracy (95% CI)", title=title)


def _sweep_axes(ax: "Axes", seconds: Sequence[float], *, legend: str, empty: str, ylabel: str,
                title: str | None) -> "Axes":
    """A sweep figure's frame: fit seconds (log when they span more than 20x), the legend beside the plot
    (markers close in time would make inline labels overlap), or a note when there is nothing to draw."""
    if seconds:
        ax.figure.legend(loc="outside right upper", fontsize=8, title=legend, title_fontsize=8)
        if min(seconds) > 0 and max(seconds) / min(seconds) > 20:
            ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("fit time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "accuracy against fit time")
    ax.grid(True, alpha=0.3)
    return ax


def _root_figure(ax_or_fig: "Axes | Figure") -> "Figure":
    fig = getattr(ax_or_fig, "figure", ax_or_fig)
    if hasattr(fig, "get_figure") and fig.get_figure(root=True) is not None:
        fig = fig.get_figure(root=True)
    return fig


def png_bytes(ax_or_fig: "Axes | Figure", dpi: int = 100) -> bytes:
    """The figure encoded as PNG, in memory (the HTML report embeds these)."""
    import io

    buffer = io.BytesIO()
    _root_figure(ax_or_fig).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save(ax_or_fig: "Axes | Figure", path: str | Path, dpi: int = 100) -> Path:
    """Write the figure as PNG atomically."""
    from digitclf.paths import check_output
    from digitclf.runs import atomic_write

    fig = _root_figure(ax_or_fig)
    path = check_output(path, "png")
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi))
    return path


# ---------------------------------------------------------------- drawing in a process of its own


def warm_up(style: str = "seaborn") -> None:
    """Import what drawing a run's figures needs (matplotlib's Agg canvas; seaborn for its style)."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401

    if style == "seaborn":
        import seaborn  # noqa: F401


def confusion_matrix_png(cm: Any, labels: Sequence[Any], *, accuracy: float | None = None,
                         style: str = "seaborn") -> bytes:
    """``confusion_matrix`` encoded as PNG (what a run saves)."""
    return png_bytes(confusion_matrix(cm, labels, accuracy=accuracy, style=style))


def misclassified_png(images: np.ndarray, y_true: Sequence[Any], y_pred: Sequence[Any], image_shape: Sequence[int],
                      *, confidence: Sequence[float] | None = None,
                      class_names: Sequence[str] | None = None) -> bytes:
    """``misclassified`` encoded as PNG (what a run saves)."""
    return png_bytes(misclassified(images, y_true, y_pred, image_shape, confidence=confidence,
                                   class_names=class_names))


Drawing = tuple[Any, tuple[Any, ...], dict[str, Any]]  # (function, args, keyword args) returning bytes


def serve(style: str = "seaborn") -> None:
    """The drawing process (``Renderer``): import matplotlib at once, then draw each pickled batch
    read from stdin and write its PNGs to stdout, until stdin closes."""
    import pickle
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    # scipy is optional for seaborn (its KDEs and clustermap; the heatmap needs neither) and is most of
    # its import time: this process only draws, so it goes without (seaborn falls back by itself)
    sys.modules.setdefault("scipy", None)  # type: ignore[arg-type]
    warm_up(style)
    confusion_matrix_png([[1]], [0], style=style)  # a first figure loads fonts and text machinery before the run's
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            batch = pickle.load(source)
        except EOFError:
            return
        try:
            pngs: list[bytes] | None = [func(*args, **kwargs) for func, args, kwargs in batch]
        except Exception:  # noqa: BLE001 - the main process draws it again itself and sees the real error
            pngs = None
        pickle.dump(pngs, sink)
        sink.flush()


class Renderer:
    """Draws a run's PNGs in a process of its own, started before the slow part of a run.

    Importing matplotlib and seaborn (about a second) then overlaps importing scikit-learn and
    the fit in the main process, on the core that a one-thread fit leaves idle.  ``draw`` sends
    a batch and returns a function that waits for its PNGs; if the process cannot start or
    fails, the batch is drawn in the calling process instead (same functions, same bytes).
    ``Renderer(process=False)`` always draws in the calling process, and so does a renderer in a
    process limited to one core (``threads.can_overlap``), where the two would only take turns.
    """

    def __init__(self, style: str = "seaborn", *, process: bool = True) -> None:
        from digitclf.threads import can_overlap

        self._proc: Any = None
        if not process or not can_overlap():
            return
        import os
        import subprocess
        import sys

        package_root = str(Path(__file__).resolve().parent.parent)  # this digitclf, wherever it was imported from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", f"from digitclf.plots import serve; serve({style!r})"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        except OSError:
            self._proc = None

    def draw(self, batch: Sequence[Drawing]) -> "Callable[[], list[bytes]]":
        """Start drawing ``batch``; the returned function waits for the PNGs, in order."""
        import pickle

        def here() -> list[bytes]:
            return [func(*args, **kwargs) for func, args, kwargs in batch]

        if self._proc is None:
            return here
        try:
            pickle.dump(list(batch), self._proc.stdin)
            self._proc.stdin.flush()
        except (OSError, pickle.PicklingError, TypeError, AttributeError):  # the process died, or unpicklable
            self.close()
            return here

        def wait() -> list[bytes]:
            try:
                pngs = pickle.load(self._proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                pngs = None
            return pngs if pngs is not None else here()
        return wait

    def close(self) -> None:
        """Stop the drawing process (at once: it holds nothing that needs saving)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()
            self._proc = None

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def convergence_curve(points: Sequence[Any], *, title: str | None = None, best_iteration: int | None = None,
                      stop_reason: str | None = None, ax: "Axes | None" = None) -> "Axes":
    """A run's curve.csv: held-out accuracy (and log-loss, right axis) at each iteration of the fit.

    ``points`` are ``records.CurvePoint``; the kept iteration is marked when early stopping chose it.
    """
    ax = _axes(ax, (7, 4.5))
    iterations = [p.iteration for p in points]
    ax.plot(iterations, [p.val_accuracy for p in points], marker="." if len(points) < 60 else None,
            color="tab:blue", label="validation accuracy")
    losses = [p.val_log_loss for p in points]
    if points and all(loss is not None for loss in losses):
        right = ax.twinx()
        right.plot(iterations, losses, color="tab:orange", alpha=0.7, label="validation log-loss")
        right.set_ylabel("validation log-loss", color="tab:orange")
    if best_iteration is not None:
        ax.axvline(best_iteration, color="tab:green", linestyle="--",
                   label=f"kept: iteration {best_iteration}" + (f" ({stop_reason})" if stop_reason else ""))
    elif stop_reason and points:
        ax.axvline(iterations[-1], color="tab:red", linestyle="--", label=f"stopped ({stop_reason})")
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation accuracy", color="tab:blue")
    ax.set_title(title or "convergence")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def sweep_curves(curves: Sequence[dict[str, Any]], *, title: str | None = None, ax: "Axes | None" = None) -> "Axes":
    """Every point's validation accuracy against fit seconds, one line each (a sweep's curves.png).

    Each curve has ``label``, ``seconds`` and ``accuracy`` (lists of one length) and ``ladder``
    (True: points from refits at doubling max_iter, drawn dashed with markers).
    """
    ax = _axes(ax, (8, 6))
    for curve in curves:
        ax.plot(curve["seconds"], curve["accuracy"], linestyle="--" if curve["ladder"] else "-",
                marker="o" if curve["ladder"] or len(curve["seconds"]) < 3 else None, label=curve["label"])
    seconds = [s for curve in curves for s in curve["seconds"] if s]
    return _sweep_axes(ax, seconds, legend="point (dashed: max_iter ladder)", empty="no curves recorded",
                       ylabel="validation accuracy", title=title)
