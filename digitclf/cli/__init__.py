"""digitclf's command line: a thin Typer layer over the library."""

from __future__ import annotations

from digitclf.cli import (  # noqa: F401  (importing a command module registers its commands)
    compare_cmd,
    config_cmd,
    data_cmd,
    evaluate_cmd,
    plot_cmd,
    predict_cmd,
    report_cmd,
    runs_cmd,
    sweep_cmd,
    train_cmd,
)
from digitclf.cli.app import app


def main() -> None:
    app(prog_name="digitclf")


__all__ = ["app", "main"]
