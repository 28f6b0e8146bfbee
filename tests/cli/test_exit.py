"""How the ``digitclf`` program ends: ``cli.exit_process`` skips the interpreter's teardown, and must
still do everything an exit does (exit codes, atexit functions, flushed output, other threads)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from digitclf.cli.app import EXIT_PIPE, EXIT_USAGE


def available_configs() -> str:
    return "available: " + ", ".join(sorted(p.name for p in Path("configs").glob("*.yaml")))


def program(*lines: str, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``digitclf ARGS`` as its console script runs it, after ``lines`` of set-up in the same process."""
    code = "\n".join([*lines, "import sys", f"sys.argv = ['digitclf', *{list(args)!r}]",
                      "from digitclf.cli import main", "main()"])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_exit_codes_and_output_are_those_of_the_command(tmp_path):
    done = program(args=("--version",))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("digitclf ")
    args = ("train", "--config", str(tmp_path / "none.yaml"))
    bad = program(args=args)
    assert bad.returncode == EXIT_USAGE
    assert bad.stderr.splitlines() == [f"Error: config file '{tmp_path / 'none.yaml'}' not found "
                                       f"(looked in ./ and configs/); {available_configs()}"]


def test_atexit_functions_run_and_buffered_output_is_flushed():
    """Output still in Python's buffers (stdout is a pipe here: block-buffered) reaches the reader, and
    functions registered with atexit (as MLflow and coverage tools do) run, in their order."""
    done = program("import atexit, sys",
                   "atexit.register(lambda: print('atexit: first registered, runs last'))",
                   "atexit.register(lambda: print('atexit: second registered, runs first'))",
                   "sys.stdout.write('x' * 5000)", args=("--version",))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("x" * 5000 + "digitclf ")
    assert lines[1:] == ["atexit: second registered, runs first", "atexit: first registered, runs last"]


def test_another_running_thread_is_waited_for_as_the_interpreter_would():
    done = program("import threading, time",
                   "threading.Thread(target=lambda: (time.sleep(0.5), print('thread finished'))).start()",
                   args=("--version",))
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == "thread finished"


@pytest.mark.parametrize(("code", "status", "stderr"), [(None, 0, ""), (3, 3, ""), ("a message", 1, "a message\n")])
def test_sys_exit_values_end_the_process_as_python_would(code, status, stderr):
    from digitclf.cli import exit_process

    done = subprocess.run([sys.executable, "-c", f"from digitclf.cli import exit_process; exit_process({code!r})"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (status, stderr)
    assert callable(exit_process)


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("train", "--help"), ("runs", "--help")])
def test_help_and_version_into_a_closed_pipe_end_as_a_closed_pipe(args):
    """``digitclf --help | head -0``: the reader is gone before anything is written.  A closed stdout is
    exit 141 (what a shell reports for SIGPIPE) and nothing on stderr; it was exit 1 (rich's and click's
    own handling), which ``set -o pipefail`` scripts read as a failure."""
    proc = subprocess.Popen([sys.executable, "-c", "from digitclf.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (EXIT_PIPE, b"")
