"""``digitclf runs``: the table of saved runs, filtered and sorted, and pruning runs that can never finish."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from digitclf.choices import TableFormat
from digitclf.cli.app import DEFAULT_OUTPUTS, OutputsOpt, app, echo_json, info, table

if TYPE_CHECKING:
    from typing import Sequence


def _confirm(question: str) -> bool:
    """typer.confirm; no answer at all (standard input closed or empty) is a usage error, not a crash."""
    import sys

    from digitclf.errors import ConfigError

    try:
        return typer.confirm(question, err=True)
    except (typer.Abort, EOFError, RuntimeError, OSError, ValueError):
        try:
            at_terminal = sys.stdin is not None and sys.stdin.isatty()
        except (ValueError, OSError):
            at_terminal = False
        if at_terminal:
            raise typer.Abort() from None  # Ctrl-C at the question
        info("")  # end the unanswered question's line, so the Error line stands alone
        raise ConfigError("--prune asks before deleting, but no answer came (standard input is closed or "
                          "empty); pass --yes to delete without asking") from None


def render(rows: "Sequence[dict[str, Any]]", fmt: str = "table") -> str:
    """The rows as an aligned text table, CSV, JSON (every key) or a Markdown table."""
    import csv
    import io
    import json

    from digitclf.listing import COLUMNS, KEYS, NUMERIC, cell

    if fmt == "json":
        return json.dumps([{key: cell(key, v) if key == "date" and v else v for key, v in row.items()}
                           for row in rows], indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(KEYS), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: cell(key, v) if key == "date" and v else json.dumps(v) if isinstance(v, list) else v
                          for key, v in row.items()} for row in rows)
        return buffer.getvalue().rstrip("\n")
    headers = [c.replace("_", " ") for c in COLUMNS]
    cells = [[cell(c, row[c], row) for c in COLUMNS] for row in rows]
    if fmt == "md":
        rule = "|" + "|".join("---:" if c in NUMERIC else "---" for c in COLUMNS) + "|"
        return "\n".join(["| " + " | ".join(headers) + " |", rule] + ["| " + " | ".join(line) + " |" for line in cells])
    return table(headers, cells, right=[i for i, c in enumerate(COLUMNS) if c in NUMERIC])


@app.command()
def runs(
    name: Optional[str] = typer.Option(None, "--name", help="Only runs with this name (a glob like 'digits_*' works)."),
    status: Optional[str] = typer.Option(None, "--status", help="Only runs with this status: running, complete, "
                                         "failed, interrupted, abandoned (process gone) or damaged."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Only the points of this sweep (its id or a prefix)."),
    sort: str = typer.Option("date", "--sort", help="Column to sort by: id, name, dataset, model, accuracy, "
                             "fit_seconds, converged, status, date, accuracy_ci95, scored_on, sweep, path."),
    reverse: bool = typer.Option(False, "--reverse", "-r", help="Sort in descending order."),
    fmt: TableFormat = typer.Option("table", "--format", help="Output format."),
    prune: bool = typer.Option(False, "--prune", help="Delete the listed runs that can never finish "
                               "(abandoned, failed, interrupted) or are damaged, after confirmation."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --prune: do not ask for confirmation (for scripts)."),
    outputs: Optional[Path] = OutputsOpt,
) -> None:
    """List saved runs: id, name, data set, model, accuracy, fit time, convergence, status, date.

    Example: digitclf runs --name 'mnist_*' --sort accuracy --reverse --format md
    """
    from digitclf import listing

    outputs = outputs or DEFAULT_OUTPUTS
    rows = listing.list_runs(outputs, name=name, status=status, sweep=sweep, sort=sort, reverse=reverse)
    if prune:
        doomed = listing.prunable(rows)
        if not doomed:
            info(f"nothing to prune: no abandoned, failed, interrupted or damaged runs{' match' if rows else ''} "
                 f"in {outputs}/")
            return
        info(render(doomed, "table"))
        if not yes and not _confirm(f"Delete these {len(doomed)} run folder(s)?"):
            info("nothing deleted")
            return
        deleted = listing.prune(doomed, outputs)
        if fmt == "json":
            echo_json([str(path) for path in deleted])
        else:
            typer.echo("\n".join(f"deleted {path}" for path in deleted) or "nothing deleted")
        return
    if not rows:
        info(f"no runs match in {outputs}/")
    if rows or fmt == "json":
        typer.echo(render(rows, fmt))
