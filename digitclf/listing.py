"""The table of saved runs (``digitclf runs``): rows, filters, sorting, formats, and pruning dead runs."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path
from typing import Any, Iterable

from digitclf.errors import ConfigError, RunError, RunNotFoundError
from digitclf.records import STATUSES, SweepSummary, parse_time, read
from digitclf.runs import DAMAGED, RunDir, is_run_folder, iter_runs, load_split

COLUMNS = ("id", "name", "dataset", "model", "accuracy", "fit_seconds", "converged", "status", "date")
KEYS = (*COLUMNS, "accuracy_ci95", "scored_on", "sweep", "path")
NUMERIC = ("accuracy", "fit_seconds")  # right-aligned
PRUNABLE = ("abandoned", "failed", "interrupted", "damaged")
SETTLED = 60.0  # seconds: a folder without run.json younger than this may be a run being created right now


def run_row(run: RunDir) -> dict[str, Any]:
    """One run as a flat row.  A run.json that cannot be read, or a complete run whose metrics.json or
    split.npz is missing or does not hold what digitclf wrote, gives status 'damaged'."""
    row: dict[str, Any] = dict.fromkeys(KEYS)
    row.update(id=run.id, name=run.name, path=str(run.path))
    try:
        record = run.record()
        row["status"] = run.status()
    except RunError:
        row["status"] = DAMAGED
        return row
    metrics = None
    if row["status"] == "complete":
        try:
            metrics = run.metrics()
            load_split(run)  # sha256-checked and its arrays checked against each other
        except RunError:
            row["status"] = DAMAGED
            metrics = None
    row.update(
        dataset=record.dataset.name if record.dataset else record.config.dataset.name,
        model=metrics.model_label if metrics else record.model_label,
        accuracy=metrics.accuracy if metrics else record.accuracy,
        accuracy_ci95=list(metrics.accuracy_ci95) if metrics else None,
        scored_on=metrics.scored_on if metrics else None,
        fit_seconds=metrics.fit_seconds if metrics else record.fit_seconds,
        converged=metrics.converged if metrics else None,
        date=parse_time(record.started),
        sweep=record.sweep.id if record.sweep else None,
    )
    return row


def sweep_points(outputs: Path, prefix: str) -> set[tuple[str, str]]:
    """(name, run id) of every point in the summaries of the sweeps whose id starts with ``prefix``.

    A point a sweep reused from an earlier sweep keeps that sweep's id in its own run.json;
    the later sweep's summary still lists it.
    """
    from digitclf.sweep import SWEEPS_DIR

    points: set[tuple[str, str]] = set()
    for path in (Path(outputs) / SWEEPS_DIR).glob("*/summary.json"):
        if not path.parent.name.startswith(prefix):
            continue
        try:
            summary = read(SweepSummary, path, RunError)
        except RunError:
            continue  # an unreadable summary lists nothing; the run records still count
        points.update((Path(row.run).parent.name, row.run_id) for row in summary.points)
    return points


def list_runs(outputs: Path, *, name: str | None = None, status: str | None = None, sweep: str | None = None,
              sort: str = "date", reverse: bool = False) -> list[dict[str, Any]]:
    """Rows for every run folder under ``outputs``, filtered and sorted.

    ``name`` is a run name or a glob (``digits_*``); ``sweep`` a sweep id or its prefix.
    Raises RunNotFoundError when ``outputs`` holds no runs at all; filters may leave an empty list.
    """
    if status is not None and status not in (*STATUSES, DAMAGED):
        raise ConfigError(f"--status: {status!r} is not one of {', '.join((*STATUSES, DAMAGED))}")
    if sort not in KEYS:
        raise ConfigError(f"--sort: {sort!r} is not a column; use one of {', '.join(KEYS)}")
    from digitclf.paths import article, kind

    found = kind(outputs)
    if found not in ("missing", "folder"):
        raise RunNotFoundError(f"outputs folder {outputs} is {article(found)}, not a folder; give the folder runs "
                               "were saved in with --outputs")
    runs = iter_runs(outputs)
    if not runs:
        raise RunNotFoundError(f"no runs in {outputs}/; train one first: digitclf train --config configs/digits_lbfgs.yaml")
    rows = [run_row(run) for run in runs if name is None or fnmatch.fnmatchcase(run.name, name)]
    listed = sweep_points(outputs, sweep) if sweep is not None else set()
    rows = [r for r in rows if (status is None or r["status"] == status)
            and (sweep is None or str(r["sweep"] or "").startswith(sweep) or (r["name"], r["id"]) in listed)]
    present = sorted((r for r in rows if r[sort] is not None), key=lambda r: (r[sort], r["id"]), reverse=reverse)
    return present + [r for r in rows if r[sort] is None]  # rows without the value last, either way


# ---------------------------------------------------------------- cells


def cell(key: str, value: Any, row: dict[str, Any] | None = None) -> str:
    """One value as shown in a table; given its ``row``, a cross-validated run's accuracy reads
    ``mean ± half-width of its 95% CI`` (the wider side when the interval was clipped at 0 or 1)."""
    if value is None:
        return "-"
    if key == "accuracy":
        if row is not None and row["scored_on"] == "cross-validation" and row["accuracy_ci95"]:
            low, high = row["accuracy_ci95"]
            return f"{value:.4f} ± {max(value - low, high - value):.4f}"
        return f"{value:.4f}"
    if key == "fit_seconds":
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    if key == "converged":
        return "yes" if value else "no"
    if key == "date":
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# ---------------------------------------------------------------- prune


def prunable(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of runs that can never produce results: abandoned, failed, interrupted or damaged."""
    return [r for r in rows if r["status"] in PRUNABLE]


def prune(rows: Iterable[dict[str, Any]], outputs: Path) -> list[Path]:
    """Delete those run folders (and a name folder left empty); returns the deleted paths.

    The status is read again just before deleting, so a run that came back to life is kept.
    """
    import time

    outputs = Path(outputs).resolve()
    deleted = []
    for row in prunable(rows):
        path = Path(row["path"])
        if path.is_symlink() or path.resolve().parent.parent != outputs or not is_run_folder(path):
            continue  # only ever delete run folders themselves, two levels inside outputs
        path = path.resolve()
        state = run_row(RunDir(path))["status"]  # read again: a run that came back to life is kept
        if state not in PRUNABLE:
            continue
        if not (path / "run.json").exists() and time.time() - path.stat().st_mtime < SETTLED:
            continue  # no run.json yet: possibly a run being created this very moment
        shutil.rmtree(path)
        deleted.append(path)
        if path.parent != outputs:
            _remove_if_empty(path.parent)
    return deleted


def _remove_if_empty(folder: Path) -> None:
    """Remove a run name's folder once its last run is pruned; its run-id lock file goes too, unless a
    process holds it (that process is claiming a run folder there right now)."""
    from digitclf.errors import RunBusyError
    from digitclf.runs import RUN_IDS_LOCK, lock_run_ids

    if {p.name for p in folder.iterdir()} - {RUN_IDS_LOCK}:
        return
    try:
        claim = lock_run_ids(folder, wait=0) if (folder / RUN_IDS_LOCK).exists() else None
    except RunBusyError:
        return
    try:
        (folder / RUN_IDS_LOCK).unlink(missing_ok=True)
        folder.rmdir()
    except OSError:
        pass  # a run came meanwhile: the folder stays
    finally:
        if claim is not None:
            claim.close()
