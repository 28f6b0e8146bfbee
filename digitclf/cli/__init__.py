"""digitclf's command line: a thin Typer layer over the library."""

from __future__ import annotations

import os
import sys
from typing import Any

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
    """The ``digitclf`` program: run the command, then end the process (``exit``)."""
    try:
        app(prog_name="digitclf")
    except SystemExit as done:
        exit_process(done.code)
    exit_process(0)


def exit_process(code: Any) -> None:
    """End the process with ``code`` once its work is done, without tearing the interpreter down.

    A run leaves scikit-learn, scipy and its arrays loaded; freeing them one object at a time at
    exit took 0.1-0.2 s of every command's wall time (benchmarks/RESULTS.md).  What an exit must
    still do is done first: the ``atexit`` functions run and stdout and stderr are flushed.  If
    another thread is still running, the interpreter's own exit waits for it as usual.
    """
    import atexit
    import threading

    if not isinstance(code, int):  # sys.exit("message") or sys.exit(None)
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or its reader went away: the exit code still holds
            pass
    os._exit(code)


__all__ = ["app", "main"]
