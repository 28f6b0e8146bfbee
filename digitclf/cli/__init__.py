"""digitclf's command line: a thin Typer layer over the library."""

from __future__ import annotations

from digitclf.cli import config_cmd, data_cmd, runs_cmd, sweep_cmd, train_cmd  # noqa: F401  (registers commands)
from digitclf.cli.app import app


def main() -> None:
    app(prog_name="digitclf")


__all__ = ["app", "main"]
