"""A point's state on disk and what a sweep does with it: resume, reuse, keep, clear, and the folder lock.

A sweep creates a point's folder and writes its run.json while holding the lock on the run
name's folder, so two sweeps never run one point at once and no sweep sees a half-made folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitclf.errors import RunError
from digitclf.observers import RunObserver
from digitclf.records import PointRow
from digitclf.runs import RunDir, supersede

if TYPE_CHECKING:
    from digitclf.config import RunConfig
    from digitclf.sweep.plan import SweepPlan

LOCK_FILE = ".sweep.lock"
DONE_AS = {"reuse": "reused", "keep": "kept"}  # decide()'s verdict as the row's action
# a complete point's, from metrics.json
RESULTS = ("accuracy", "accuracy_ci95", "fit_seconds", "n_iter", "converged", "scored_on", "n_test")


def point_state(run_dir: Path) -> str:
    """missing, running, complete, failed, interrupted, abandoned, or damaged (a folder with no usable run.json).

    A sweep creates a point's folder and writes its run.json while holding the folder lock
    (see ``execute.run_point``), so outside that lock a folder without run.json was left by a crash.
    """
    if not run_dir.exists():
        return "missing"
    try:
        return RunDir(run_dir).status()
    except RunError:
        return "damaged"


def decide(state: str, rerun: bool = False, retry_failed: bool = False) -> str:
    """What a sweep does with a point in ``state``: run, reuse (complete), keep (failed), busy (running elsewhere)."""
    if state == "running":
        return "busy"
    if state == "complete":
        return "run" if rerun else "reuse"
    if state == "failed":
        return "run" if rerun or retry_failed else "keep"
    return "run"  # missing, interrupted, abandoned, damaged: nothing worth keeping


def actions(plan: "SweepPlan", rerun: bool = False, retry_failed: bool = False) -> list[tuple[str, str]]:
    """(state, action) per point, as things stand now (what a dry run shows)."""
    out = []
    for point in plan.points:
        state = point_state(plan.run_dir(point))
        out.append((state, decide(state, rerun, retry_failed)))
    return out


def clear_point(run_dir: Path, state: str) -> Path | None:
    """Make way for a new run: complete and failed folders move to ``.superseded/``, partial ones are removed."""
    if state == "missing":
        return None
    if state in ("complete", "failed"):
        return supersede(run_dir)
    trash = run_dir.parent / f".{run_dir.name}.removing-{os.getpid()}"
    os.rename(run_dir, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return None


class FolderLock:
    """An exclusive lock on ``<outputs>/<name>/`` (flock on a file there; the OS drops it if the process dies).

    Held while a point's state is checked, its old folder cleared, and the new run folder
    created with its run.json, so no other sweep sees a half-made folder.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOCK_FILE
        self.handle: Any = None

    def acquire(self) -> "FolderLock":
        from digitclf.paths import open_lock_file

        self.handle = open_lock_file(self.path)
        try:
            import fcntl
        except ImportError:  # not POSIX: the exclusive mkdir in RunDir.create still prevents double runs
            return self
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def release(self) -> None:
        if self.handle is not None:  # closing the file drops the flock
            self.handle.close()
            self.handle = None


def check_lock_files(folders: "set[Path]") -> None:
    """These run-name folders can hold runs, and the lock files already there are regular files (else one error
    naming it)."""
    from digitclf.paths import open_lock_file
    from digitclf.runs import RUN_IDS_LOCK, check_name_folder

    for folder in sorted(folders):
        check_name_folder(folder)
        for name in (LOCK_FILE, RUN_IDS_LOCK):
            if os.path.lexists(folder / name):
                open_lock_file(folder / name).close()


class ReleaseOnStart(RunObserver):
    """Releases the folder lock once the point's run folder and its run.json exist (the run has started)."""

    def __init__(self, lock: FolderLock) -> None:
        self.lock = lock

    def on_start(self, run: RunDir, config: "RunConfig") -> None:
        self.lock.release()


def read_point(run_dir: Path, **fields: Any) -> PointRow:
    """A point's summary row: the state of its run folder, its results when complete, its error when it
    failed or was interrupted; ``fields`` (index, values, run_id, action, worker, ...) complete the row
    and win over what the folder says."""
    row: dict[str, Any] = {"run": str(run_dir), "status": point_state(run_dir)}
    if row["status"] == "complete":
        metrics = RunDir(run_dir).metrics()
        row.update({key: getattr(metrics, key) for key in RESULTS}, pruned=metrics.stop_reason == "pruned")
    elif row["status"] in ("failed", "interrupted"):
        row["error"] = RunDir(run_dir).record().error
    return PointRow.model_validate({**row, **fields})
