"""``digitclf report``: one self-contained HTML page about saved runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitclf.choices import Normalize, Style
from digitclf.cli.app import DEFAULT_OUTPUTS, NormalizeOpt, OutputsOpt, StyleOpt, app, resolve
from digitclf.cli.completion import complete_run


@app.command()
def report(
    refs: Optional[list[str]] = typer.Argument(None, metavar="[RUN...]", autocompletion=complete_run, help="Runs to include (default: every "
                                               "complete run in the outputs folder)."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write; an existing file is replaced only "
                                                      "if it is a digitclf report."),
    errors: int = typer.Option(10, "--errors", min=0, help="Misclassified images shown per run."),
    style: Style = StyleOpt,
    normalize: Optional[Normalize] = NormalizeOpt,
    outputs: Optional[Path] = OutputsOpt,
) -> None:
    """Write one self-contained HTML page (images embedded, no JavaScript) about saved runs.

    Example: digitclf report --out report.html
    """
    from digitclf import report as report_mod
    from digitclf.errors import RunNotFoundError
    from digitclf.runs import iter_runs

    outputs = outputs or DEFAULT_OUTPUTS
    if refs:
        chosen = [resolve(ref, outputs) for ref in refs]
    else:
        from digitclf.listing import run_row

        chosen = [run for run in iter_runs(outputs) if run_row(run)["status"] == "complete"]  # damaged ones left out
        if not chosen:
            raise RunNotFoundError(f"no complete run in {outputs}/; train one first: "
                                   "digitclf train --config configs/digits_lbfgs.yaml")
    typer.echo(str(report_mod.write(chosen, out, errors=errors, style=style, normalize=normalize)))
