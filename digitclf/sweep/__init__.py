"""Sweeps: expand a grid of config values into points, check each point once, run the missing ones in parallel.

A point is the base config with some keys set (``model.params.C=10``); its run id comes
from its resolved config and the data set's fingerprint, so re-running a sweep finds its
points again: complete ones are reused, the rest run (in this process, in loky worker
processes, or on a Dask cluster).  A sweep writes ``<outputs>/sweeps/<sweep-id>/``:
spec.yaml, summary.csv, summary.json and tradeoff.png.

- ``plan``: the grid, the points and their identities (``plan_sweep``), nothing run or written
- ``search``: the strategies (grid, random, halving, optuna): which points run, batch after batch, and
  which one is selected on validation data to be scored on the test set once
- ``state``: a point's folder on disk, what to do with it, the lock that keeps two sweeps apart
- ``execute``: running the points (``run_sweep``), announcing the sweep to ``SweepObserver``s
- ``summary``: summary.json, summary.csv and the accuracy/fit-time trade-off plot
"""

from digitclf.sweep.execute import PointTask, SweepResult, check_options, run_point, run_sweep
from digitclf.sweep.plan import (SWEEPS_DIR, Point, SweepPlan, dataset_fingerprint, expand, parse_grid_option,
                                 plan_sweep, point_label, point_run_id, short_keys)
from digitclf.sweep.search import Search, draw, halving_schedule, make_search
from digitclf.sweep.state import FolderLock, actions, clear_point, decide, point_state, read_point
from digitclf.sweep.summary import summary_csv, write_summary

__all__ = [
    "SWEEPS_DIR", "FolderLock", "Point", "PointTask", "Search", "SweepPlan", "SweepResult", "actions",
    "check_options", "clear_point", "dataset_fingerprint", "decide", "draw", "expand", "halving_schedule",
    "make_search", "parse_grid_option", "plan_sweep", "point_label",
    "point_run_id", "point_state", "read_point", "run_point", "run_sweep", "short_keys", "summary_csv",
    "write_summary",
]
