"""``digitclf sweep``: run a grid of configs, in parallel or on Dask, resuming where it stopped."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from digitclf.cli.app import ConfigOpt, JsonOpt, OutputsOpt, SetOpt, app, echo_json, info

if TYPE_CHECKING:
    from digitclf.sweep import SweepPlan, SweepResult


class SweepProgress:
    """Points done, elapsed time and what remains on stderr: a rich bar on a terminal, a line per point otherwise.

    Failures are printed as they happen, even with --json (stderr only).
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None
        self.started = time.perf_counter()
        self.keys: list[str] = []

    def __enter__(self) -> "SweepProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def say(self, message: str, always: bool = False) -> None:
        if self.bar is not None:
            self.bar.console.print(message, markup=False, highlight=False)
        elif always or not self.quiet:
            info(message)

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "start":
            self.keys = data["keys"]
            self.started = time.perf_counter()
            skipped = [f"{data[k]} {label}" for k, label in (("reused", "complete, reused"),
                                                               ("kept_failed", "failed, kept (--retry-failed runs them)"),
                                                               ("busy", "running elsewhere")) if data[k]]
            self.say(f"sweep: {data['points']} points, {data['to_run']} to run"
                     + (f" ({'; '.join(skipped)})" if skipped else "") + f"; {data['where']}")
            if data["to_run"] and not self.quiet and sys.stderr.isatty():
                self._start_bar(data["to_run"])
        elif kind == "point":
            from digitclf.sweep import point_label

            row, done, total = data["row"], data["done"], data["to_run"]
            elapsed = time.perf_counter() - self.started
            line = f"[{done}/{total}] point {row['index']} ({point_label(row['values'], self.keys)}): " + row["status"]
            if row["status"] == "complete":
                line += f", accuracy {row['accuracy']:.4f}, fit {row['fit_seconds']:.2f}s"
            elif row["status"] == "failed":
                line += f": {row['error']} (traceback: {row['run']}/traceback.txt)"
            elif row["action"] != "ran":
                line += f" ({row['action']})"
            if self.bar is not None:
                self.bar.advance(self.task)
                if row["status"] == "failed":
                    self.say(line)
            else:
                left = elapsed / done * (total - done)
                self.say(f"{line}  [{elapsed:.1f}s elapsed, ~{left:.1f}s left]", always=row["status"] == "failed")
        else:
            self.say(f"note: {data['message']}")

    def _start_bar(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.bar = Progress(TextColumn("points"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
                            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                            console=Console(stderr=True))
        self.task = self.bar.add_task("sweep", total=total)
        self.bar.start()


def format_plan(plan: "SweepPlan", states: list[tuple[str, str]]) -> str:
    from digitclf.sweep import short_keys

    keys = plan.keys
    short = short_keys(keys)
    header = ["#", *[short[k] for k in keys], "run id", "state", "action"]
    body = [[str(p.index), *[_cell(p.values.get(k)) for k in keys], p.run_id, state, action]
            for p, (state, action) in zip(plan.points, states)]
    would_run = sum(action == "run" for _, action in states)
    return _table(header, body) + (f"\nsweep {plan.id}: {len(plan.points)} valid points, {would_run} would run; "
                                   f"runs go to {plan.outputs}/{plan.name}/")


def format_summary(result: "SweepResult") -> str:
    from digitclf.sweep import short_keys

    keys = result.plan.keys
    short = short_keys(keys)
    header = ["#", *[short[k] for k in keys], "status", "accuracy", "95% CI", "fit s", "n_iter", "conv", "run id"]
    body = []
    for row in result.rows:
        ci = row["accuracy_ci95"]
        body.append([str(row["index"]), *[_cell(row["values"].get(k)) for k in keys],
                     row["status"] + ("" if row["action"] in ("ran", "pending") else f" ({row['action']})"),
                     _num(row["accuracy"], ".4f"), f"{ci[0]:.4f}-{ci[1]:.4f}" if ci else "-",
                     _num(row["fit_seconds"], ".2f"), _cell(row["n_iter"]),
                     {True: "yes", False: "no"}.get(row["converged"], "-"), row["run_id"]])
    counts = ", ".join(f"{n} {status}" for status, n in result.counts.items())
    ran = sum(row["action"] == "ran" for row in result.rows)
    return _table(header, body) + (f"\nsweep {result.plan.id}: {counts} ({ran} ran now)\n"
                                   f"summary   {result.plan.folder}/summary.csv, summary.json, tradeoff.png")


def _cell(value: Any) -> str:
    return "-" if value is None else value if isinstance(value, str) else repr(value)


def _num(value: Optional[float], fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *body])


def mlflow_point_logger(forward: Any, settings: Any, parent_id: str) -> Any:
    """Sweep events that also log each point that ran to completion as a child of the parent run."""
    from digitclf.errors import DigitclfError
    from digitclf.runs import RunDir
    from digitclf.tracking import log_run

    def events(kind: str, data: dict[str, Any]) -> None:
        forward(kind, data)
        row = data.get("row") if kind == "point" else None
        if row and row["status"] == "complete" and row["action"] == "ran":
            try:
                log_run(RunDir(Path(row["run"])), settings, parent_run_id=parent_id)
            except DigitclfError as exc:
                info(f"warning: point {row['index']} is saved but was not logged to MLflow: {exc}")

    return events


@app.command()
def sweep(
    config: Optional[str] = ConfigOpt,
    grid: Optional[list[str]] = typer.Option(None, "--grid", "-g", metavar="KEY.PATH=V1,V2",
                                             help="Sweep a key over values (repeatable; YAML values, "
                                                  "e.g. --grid model.params.C=0.1,1,10)."),
    set_: Optional[list[str]] = SetOpt,
    jobs: int = typer.Option(1, "--jobs", "-j", help="Points run at once in separate processes (-1: one per core; "
                                                  "with --backend dask the cluster's threads decide)."),
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
) -> None:
    """Run a grid of configs (skipping points already complete) and summarize accuracy against fit time.

    Example: digitclf sweep --config digits_lbfgs.yaml --grid model.params.solver=lbfgs,saga --grid model.params.C=0.1,1 --jobs 2
    """
    from digitclf.sweep import actions, check_options, plan_sweep, run_sweep

    check_options(jobs, backend, scheduler)
    plan = plan_sweep(config, grid or [], set_ or [], outputs)  # every point validated before any runs
    if mlflow and plan.points and plan.points[0].config.output.mlflow is None:
        plan = plan_sweep(config, grid or [], [*(set_ or []), "output.mlflow={}"], outputs)
    if dry_run:
        states = actions(plan, rerun, retry_failed)
        if json_:
            spec = plan.to_dict()
            spec["points"] = [{**p, "state": s, "action": a} for p, (s, a) in zip(spec["points"], states)]
            echo_json(spec)
        else:
            typer.echo(format_plan(plan, states))
        return
    settings = plan.points[0].config.output.mlflow if plan.points else None
    with SweepProgress(quiet=json_ or quiet) as progress, contextlib.ExitStack() as stack:
        events = progress
        if settings is not None:
            from digitclf.errors import TrackingError
            from digitclf.tracking import parent_run

            try:
                parent_id = stack.enter_context(
                    parent_run(settings, plan.id, {"grid": plan.grid, "variants": plan.variants}))
            except TrackingError as exc:
                info(f"warning: the sweep is not logged to MLflow: {exc}")
            else:
                events = mlflow_point_logger(progress, settings, parent_id)
        result = run_sweep(plan, jobs=jobs, backend=backend, scheduler=scheduler, rerun=rerun,
                           retry_failed=retry_failed, fail_fast=fail_fast, events=events)
    if json_:
        echo_json(result.to_dict())
    else:
        typer.echo(format_summary(result))
    failed = result.failed
    if failed:
        kept = sum(row["action"] == "kept" for row in failed)
        hint = "; rerun with --retry-failed to run them again" if kept else ""
        info(f"{len(failed)} of {len(result.rows)} points failed (traceback.txt in each run folder){hint}")
        raise typer.Exit(1)
