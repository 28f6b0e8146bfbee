"""``digitclf sweep``: run a grid of configs, in parallel or on Dask, resuming where it stopped."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from digitclf.cli.app import ConfigOpt, JsonOpt, OutputsOpt, SetOpt, app, echo_json, info, table
from digitclf.cli.train_cmd import sigterm_stops
from digitclf.observers import SweepObserver

if TYPE_CHECKING:
    from digitclf.records import PointRow
    from digitclf.sweep import SweepPlan, SweepResult


class SweepProgress(SweepObserver):
    """Points done, elapsed time and what remains on stderr: a rich bar on a terminal, a line per point otherwise.

    Failures are printed as they happen, even with --json (stderr only).  ``result`` holds the
    sweep's result once it completed or was interrupted.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None
        self.started = time.perf_counter()
        self.keys: list[str] = []
        self.result: "SweepResult | None" = None

    def say(self, message: str, always: bool = False) -> None:
        if self.bar is not None:
            self.bar.console.print(message, markup=False, highlight=False)
        elif always or not self.quiet:
            info(message)

    def on_plan(self, plan: "SweepPlan", start: dict[str, Any]) -> None:
        self.keys = start["keys"]
        self.started = time.perf_counter()
        skipped = [f"{start[k]} {label}" for k, label in (("reused", "complete, reused"),
                                                            ("kept_failed", "failed, kept (--retry-failed runs them)"),
                                                            ("busy", "running elsewhere")) if start[k]]
        self.say(f"sweep: {start['points']} points, {start['to_run']} to run"
                 + (f" ({'; '.join(skipped)})" if skipped else "") + f"; {start['where']}")
        if not start["search"].startswith("grid"):
            self.say(f"search: {start['search']}")
        if start["to_run"] and not self.quiet and sys.stderr.isatty():
            self._start_bar(start["to_run"])

    def on_point(self, row: "PointRow", done: int, total: int) -> None:
        from digitclf.sweep import point_label

        elapsed = time.perf_counter() - self.started
        line = f"[{done}/{total}] point {row.index} ({point_label(row.values, self.keys)}): " + _status(row)
        if row.pruned:
            line += f" at iteration {row.n_iter}, accuracy {row.accuracy:.4f}"
        elif row.status == "complete":
            line += f", accuracy {row.accuracy:.4f}, fit {row.fit_seconds:.2f}s"
        elif row.status == "failed":
            line += f": {row.error} (traceback: {row.run}/traceback.txt)"
        elif row.action != "ran":
            line += f" ({row.action})"
        if self.bar is not None:
            self.bar.update(self.task, total=total)  # a search's later batches add points to run
            self.bar.advance(self.task)
            if row.status == "failed":
                self.say(line)
        else:
            left = elapsed / done * (total - done)
            self.say(f"{line}  [{elapsed:.1f}s elapsed, ~{left:.1f}s left]", always=row.status == "failed")

    def on_note(self, message: str) -> None:
        self.say(f"note: {message}")

    def on_complete(self, result: "SweepResult") -> None:
        self.result = result
        self._stop_bar()

    def on_interrupt(self, result: "SweepResult") -> None:
        self.result = result
        self._stop_bar()

    def on_fail(self, error: BaseException) -> None:
        self._stop_bar()

    def _start_bar(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.bar = Progress(TextColumn("points"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
                            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                            console=Console(stderr=True))
        self.task = self.bar.add_task("sweep", total=total)
        self.bar.start()

    def _stop_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def format_plan(plan: "SweepPlan", states: list[tuple[str, str]]) -> str:
    from digitclf.sweep import short_keys

    keys = plan.keys
    short = short_keys(keys)
    header = ["#", *[short[k] for k in keys], "run id", "state", "action"]
    body = [[str(p.index), *[_value(p.values, k) for k in keys], p.run_id, state, action]
            for p, (state, action) in zip(plan.points, states)]
    would_run = sum(action == "run" for _, action in states)
    search = "" if plan.search.name == "grid" else f"\nsearch: {plan.search.describe()}"
    return table(header, body) + search + (f"\nsweep {plan.id}: {len(plan.points)} valid points, "
                                           f"{would_run} would run; runs go to {plan.outputs}/{plan.name}/")


def format_summary(result: "SweepResult") -> str:
    from digitclf.sweep import short_keys

    keys = result.plan.keys
    short = short_keys(keys)
    header = ["#", *[short[k] for k in keys], "status", "scored on", "accuracy", "95% CI", "fit s", "n_iter",
              "conv", "run id"]
    body = []
    for row in result.rows:
        ci = row.accuracy_ci95
        body.append([str(row.index) + ("*" if row.selected else ""), *[_value(row.values, k) for k in keys],
                     _status(row) + ("" if row.action in ("ran", "pending") else f" ({row.action})"),
                     row.scored_on or "-", _num(row.accuracy, ".4f"), f"{ci[0]:.4f}-{ci[1]:.4f}" if ci else "-",
                     _num(row.fit_seconds, ".2f"), _cell(row.n_iter),
                     "-" if row.converged is None else "yes" if row.converged else "no", row.run_id])
    counts = ", ".join(f"{n} {status}" for status, n in result.counts.items())
    pruned = sum(row.pruned for row in result.rows)
    pruned_text = f"; {pruned} pruned: stopped early by the pruner, never selected" if pruned else ""
    selection = result.selection()
    if selection is not None:
        ci = selection.accuracy_ci95
        score = (f"test accuracy {selection.accuracy:.4f} (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci
                 else f"{selection.status}, no test score")
        body_text = (f"\nselected  point {selection.point} (validation accuracy {selection.validation_accuracy:.4f}), "
                     f"row {selection.test_point}*: {score}\n"
                     f"          selected on {selection.selected_on};\n          scored on {selection.scored_on}")
    else:
        body_text = ""
    return table(header, body) + body_text + (f"\nsweep {result.plan.id}: {counts} ({result.ran} ran now){pruned_text}\n"
                                  f"summary   {result.plan.folder}/summary.csv, summary.json, tradeoff.png")


def _status(row: "PointRow") -> str:
    """A point's status; a trial the pruner stopped (complete, never selected) reads ``pruned``."""
    return "pruned" if row.pruned else row.status


def _value(values: dict[str, Any], key: str) -> str:
    """A point's value for a swept key ("-" when its variant does not set it)."""
    return _cell(values[key]) if key in values else "-"


def _cell(value: Any) -> str:
    """A swept value in the table: a drawn float to 6 significant digits (summary.json keeps it exact)."""
    if isinstance(value, float):
        return format(value, ".6g")
    return "-" if value is None else value if isinstance(value, str) else repr(value)


def _num(value: Optional[float], fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


@app.command()
@sigterm_stops
def sweep(
    config: Optional[str] = ConfigOpt,
    grid: Optional[list[str]] = typer.Option(None, "--grid", "-g", metavar="KEY.PATH=V1,V2",
                                             help="Sweep a key over values (repeatable; YAML values, "
                                                  "e.g. --grid model.params.C=0.1,1,10)."),
    set_: Optional[list[str]] = SetOpt,
    jobs: int = typer.Option(1, "--jobs", "-j", help="Points run at once in separate processes (-1: one per core; "
                                                  "at most one per core; with --backend dask the cluster's "
                                                  "threads decide)."),
    backend: str = typer.Option("loky", "--backend", help="loky (processes on this machine) or dask (a cluster)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address for --backend dask, "
                                                                      "e.g. tcp://host:8786."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Expand and validate every point; run nothing."),
    rerun: bool = typer.Option(False, "--rerun", help="Run every point again (old folders move to .superseded/)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed points again."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed point."),
    outputs: Optional[Path] = OutputsOpt,
    json_: bool = JsonOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr (failures are still shown)."),
    mlflow: bool = typer.Option(False, "--mlflow", help="Log the sweep to MLflow: a parent run, a child per point."),
    curves: bool = typer.Option(False, "--curves", help="Record every point's curve and overlay them in curves.png "
                                "(validation accuracy against fit seconds); points without per-iteration callbacks "
                                "are refitted at max_iter 1, 2, 4, ... (the extra cost is printed)."),
    search: Optional[str] = typer.Option(None, "--search", metavar="grid|random|halving|optuna",
                                         help="The search strategy (default: the config's sweep.search, else grid); "
                                              "every strategy but grid ranks points on a validation split and "
                                              "scores the winner on the test set once."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Points a random or optuna search draws "
                                                                "(halving: first-rung candidates)."),
) -> None:
    """Run a grid of configs (skipping points already complete) and summarize accuracy against fit time.

    Example: digitclf sweep --config digits_lbfgs.yaml --grid model.params.solver=lbfgs,saga --grid model.params.C=0.1,1 --jobs 2
    """
    from digitclf.sweep import actions, check_options, plan_sweep, run_sweep

    check_options(jobs, backend, scheduler)
    from digitclf.sweep.curves import CURVE_OVERRIDE

    overrides = [*(set_ or []), *([CURVE_OVERRIDE] if curves else [])]
    plan = plan_sweep(config, grid or [], overrides, outputs, mlflow=mlflow, search=search, trials=trials,
                      jobs=jobs)  # every point checked before any runs
    if dry_run:
        states = actions(plan, rerun, retry_failed)
        if json_:
            spec = plan.to_dict()
            spec["points"] = [{**p, "state": s, "action": a} for p, (s, a) in zip(spec["points"], states)]
            echo_json(spec)
        else:
            typer.echo(format_plan(plan, states))
        return
    progress = SweepProgress(quiet=json_ or quiet)
    observers: list[SweepObserver] = [progress]
    settings = plan.points[0].config.output.mlflow if plan.points else None
    if settings is not None:
        from digitclf.tracking import MlflowSweepLogger

        observers.append(MlflowSweepLogger(settings, warn=lambda m: info(f"warning: {m}")))
    try:
        result = run_sweep(plan, jobs=jobs, backend=backend, scheduler=scheduler, rerun=rerun,
                           retry_failed=retry_failed, fail_fast=fail_fast, observers=observers)
    except KeyboardInterrupt:
        if json_ and progress.result is not None:  # the summary of what finished; the error line follows
            echo_json(progress.result.to_dict())
        raise
    if curves:
        from digitclf.sweep.curves import write_curves

        drawn = write_curves(result, note=progress.say)
        info(f"curves    {drawn.path}: {len(drawn.curves)} curves; max_iter ladder: {drawn.ladder_fits} extra fits, "
             f"{drawn.ladder_seconds:.1f}s extra", quiet or json_)
    if json_:
        echo_json(result.to_dict())
    else:
        typer.echo(format_summary(result))
    failed = result.failed
    if failed:
        kept = sum(row.action == "kept" for row in failed)
        hint = "; rerun with --retry-failed to run them again" if kept else ""
        from digitclf.errors import DigitclfError

        raise DigitclfError(f"{len(failed)} of {len(result.rows)} points failed (traceback.txt in each run "
                            f"folder){hint}")
