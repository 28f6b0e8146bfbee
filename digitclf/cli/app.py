"""The Typer app, shared options and the error boundary: library errors become one ``Error:`` line."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import typer
from typer.core import TyperGroup

from digitclf.cli.completion import DEFAULT_OUTPUTS, complete_config, complete_run, complete_set
from digitclf.errors import DigitclfError

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MAX_ERROR = 2000  # characters in an Error: line
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose output pipe closed
INTERRUPTED = "interrupted (Ctrl-C or SIGTERM); a run in progress was recorded as interrupted"


def _plain_flags(command: Any, ctx: Any = None) -> None:
    """Flags take no value, so --help shows no type for them (Typer would print <bool>)."""
    from typer._click.core import Context

    ctx = Context(command, parent=ctx, info_name=command.name, **(command.context_settings or {}))
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub, ctx)


class DigitclfGroup(TyperGroup):
    """Runs commands with click's standalone mode off, so every failure is shown our way."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _pipe_closed_quietly():  # --help and --version print while the context is made
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _pipe_closed_quietly():
            return super().invoke(ctx)

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None,
             complete_var: Optional[str] = None, standalone_mode: bool = True, **extra: Any) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        debug = _root_flag(args, "--debug") or os.environ.get("DIGITCLF_DEBUG") == "1"
        _plain_flags(self)
        if any(key.endswith("_COMPLETE") for key in os.environ) or "--show-completion" in args \
                or "--install-completion" in args:
            from digitclf.cli.completion import register_bash

            register_bash()
        try:
            code = super().main(args=args, prog_name=prog_name or "digitclf", complete_var=complete_var,
                                standalone_mode=False, **extra)
        except DigitclfError as exc:
            fail(str(exc), exc.exit_code, debug)
        except typer.Abort:
            fail("aborted", EXIT_INTERRUPTED, debug)
        except KeyboardInterrupt:
            fail(INTERRUPTED, EXIT_INTERRUPTED, debug)
        except BrokenPipeError:
            _stdout_gone()
        except MemoryError:
            fail("out of memory; use a smaller data set, split or model", EXIT_RUNTIME, debug)
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            fail(f"{exc.strerror or exc}{where}; check the path, permissions and free disk space", EXIT_RUNTIME, debug)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if type(exc).__name__ == "NoArgsIsHelpError":  # help was already shown
                code = EXIT_USAGE
            elif hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click's (typer's copy) errors
                ctx = getattr(exc, "ctx", None)
                see = f" (see '{ctx.command_path} --help')" if ctx is not None and exc.exit_code == EXIT_USAGE else ""
                fail(f"{exc.format_message()}{see}{_dash_file_hint(exc, args)}", exc.exit_code, debug)
            else:
                fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                     EXIT_RUNTIME, debug)
        code = code if isinstance(code, int) else 0
        if code == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130) before we see it
            fail(INTERRUPTED, EXIT_INTERRUPTED, debug)
        if standalone_mode:
            sys.exit(code)
        return code


def _dash_file_hint(exc: Any, args: Sequence[str]) -> str:
    """An unknown option that is really a file whose name starts with '-' (``predict -7.png``): say how to name it."""
    name = getattr(exc, "option_name", None)
    for arg in args if name else ():
        if arg.startswith("-") and name.lstrip("-") in arg and arg != "--" and os.path.lexists(arg):
            return f"; {arg!r} is a file: put file names that start with '-' after '--', or write ./{arg}"
    return ""


def _root_flag(args: Sequence[str], flag: str) -> bool:
    """``flag`` given before the command name (``digitclf --debug train``), where the root option lives."""
    for arg in args:
        if arg == flag:
            return True
        if not arg.startswith("-"):
            return False
    return False


@contextlib.contextmanager
def _pipe_closed_quietly() -> Iterator[None]:
    """A closed stdout is exit 141, before click (exit 1) or rich (help's SystemExit(1)) turn it into an error."""
    try:
        yield
    except BrokenPipeError:
        _stdout_gone()
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # rich's Console.on_broken_pipe
            _stdout_gone()
        raise


def _stdout_gone() -> None:
    """The reader of stdout went away (``digitclf runs | head -1``): stop quietly, as Unix tools do on
    SIGPIPE (exit 141), and keep Python from complaining about the closed pipe at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_PIPE)


def fail(message: str, code: int, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    line = " ".join(str(message).split())  # always one line, whatever the message holds
    if len(line) > MAX_ERROR:  # a value quoted whole (a huge array, a long path) would drown the message:
        half = MAX_ERROR // 2  # keep its start (what is wrong) and its end (how to fix it)
        line = f"{line[:half]} ...[{len(line) - 2 * half:,} characters cut]... {line[-half:]}"
    try:
        typer.echo(f"Error: {line}", err=True)
    except (OSError, ValueError):
        pass  # stderr is gone: the exit code still says what happened
    sys.exit(code)


app = typer.Typer(
    cls=DigitclfGroup,
    help="digitclf: reproducible digit-classification experiments with scikit-learn.\n\n"
    "Example: digitclf train --config configs/digits_lbfgs.yaml",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"digitclf {version('digitclf')}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback on errors."),
    version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """digitclf: reproducible digit-classification experiments with scikit-learn."""


# ---------------------------------------------------------------- shared options and output

TrustOpt = typer.Option(False, "--trust", help="Load a pickled model that is not signed with your key (a run "
                                               "copied from elsewhere): loading a pickle runs its code.")


ConfigOpt = typer.Option(None, "--config", "-c", autocompletion=complete_config,
                         help="YAML config: a path, or a bare name looked up in ./ then configs/.")
SetOpt = typer.Option(None, "--set", "-s", metavar="KEY.PATH=VALUE", autocompletion=complete_set,
                      help="Override a config value (repeatable), e.g. --set model.params.C=10.")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout and nothing else there.")
OutputsOpt = typer.Option(None, "--outputs", "-o", help="Outputs folder (default: the config's output.dir; "
                                                        "without a config, 'outputs').")
RunArg = typer.Argument(None, metavar="[RUN]", autocompletion=complete_run,
                        help="A run folder, a run id (a unique prefix is enough) or a run name (its newest complete "
                             "run); default: the latest complete run.")
StyleOpt = typer.Option("seaborn", "--style", help="Confusion matrix: annotated seaborn heatmap or plain matplotlib.")
NormalizeOpt = typer.Option(None, "--normalize",
                            help="Show the confusion matrix as fractions of each actual (true) or predicted "
                                 "(pred) class, or of all images.")


def resolve(ref: Optional[str], outputs: Optional[Path]) -> Any:
    """The run a command names (``RUN`` and ``--outputs``)."""
    from digitclf.runs import resolve_run

    return resolve_run(ref, outputs or DEFAULT_OUTPUTS)


def echo_json(data: Any) -> None:
    """``--json`` output: strict JSON, so an infinite or NaN number is null (JSON has no Infinity; the
    corrected t-test's t is infinite when every fold differs by one value, and strict parsers refuse it)."""
    typer.echo(json.dumps(_finite(data), indent=2, default=str, allow_nan=False))


def _finite(value: Any) -> Any:
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def info(message: str, quiet: bool = False) -> None:
    """Human progress and notes: always stderr, so stdout stays clean for --json.  A stderr that cannot
    be written (closed, /dev/full) loses the note, never the run."""
    if not quiet:
        try:
            typer.echo(message, err=True)
        except (OSError, ValueError):
            pass


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """An aligned text table (columns in ``right`` right-aligned), trailing spaces trimmed."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    pads = [str.rjust if i in right else str.ljust for i in range(len(header))]
    return "\n".join("  ".join(pad(str(cell), w) for pad, cell, w in zip(pads, r, widths)).rstrip()
                     for r in [header, *rows])
