"""``digitclf plot-errors`` and ``digitclf plot-samples``: the tutorial's image grids as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitclf.choices import ErrorOrder
from digitclf.cli.app import OutputsOpt, RunArg, app, resolve
from digitclf.cli.completion import complete_dataset


@app.command("plot-errors")
def plot_errors(
    run: Optional[str] = RunArg,
    n: int = typer.Option(25, "--n", min=1, help="How many misclassified images to show."),
    cols: int = typer.Option(5, "--cols", min=1, help="Images per row."),
    sort: ErrorOrder = typer.Option("index", "--sort", help="Test order, or the most confident mistakes first."),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG file to write (default: misclassified-<run-id>.png); "
                                                           "an existing file is replaced only if digitclf drew it."),
    outputs: Optional[Path] = OutputsOpt,
) -> None:
    """Draw a grid of misclassified test images, each titled "Predicted: p, Actual: a" (and p=probability for
    models with predict_proba).

    Example: digitclf plot-errors --n 10 --sort confidence --out errors.png
    """
    from digitclf import plots
    from digitclf.saved.grids import error_grid

    found = resolve(run, outputs)
    path = plots.save(error_grid(found, n=n, cols=cols, sort=sort), out or Path(f"misclassified-{found.id}.png"))
    typer.echo(str(path))


@app.command("plot-samples")
def plot_samples(
    dataset: str = typer.Option(..., "--dataset", autocompletion=complete_dataset, help="A data set name (digits, mnist, ...) or a path "
                                "(IDX folder or .npz)."),
    n: int = typer.Option(5, "--n", min=1, help="How many images (the first ones of the data set)."),
    cols: int = typer.Option(5, "--cols", min=1, help="Images per row."),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG file to write (default: samples-<dataset>.png); "
                                                           "an existing file is replaced only if digitclf drew it."),
) -> None:
    """Draw the first N images of a data set with their labels (the seed tutorial's first figure).

    Example: digitclf plot-samples --dataset digits --n 5 --out samples.png
    """
    from digitclf import plots
    from digitclf.saved.grids import sample_grid

    default = Path(f"samples-{Path(dataset).name or 'data'}.png")
    typer.echo(str(plots.save(sample_grid(dataset, n=n, cols=cols), out or default)))
