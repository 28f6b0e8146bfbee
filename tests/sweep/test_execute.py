"""digitclf.sweep.execute: points run in worker processes, rows and the observer protocol."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import joblib
import pytest

from digitclf.observers import SweepObserver
from digitclf.sweep import plan_sweep, run_sweep

DIGITS = "configs/digits_lbfgs.yaml"


class Recorder(SweepObserver):
    """Every event, in order: (method, what it was given)."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.stop_after = stop_after

    def on_plan(self, plan, start):
        self.events.append(("plan", (plan.id, start)))

    def on_point(self, row, done, total):
        self.events.append(("point", (row.index, row.status, row.action, done, total)))
        if done == self.stop_after:
            raise KeyboardInterrupt  # as Ctrl-C would, while the sweep waits for the next point

    def on_note(self, message):
        self.events.append(("note", message))

    def on_complete(self, result):
        self.events.append(("complete", result))

    def on_interrupt(self, result):
        self.events.append(("interrupt", result))

    def on_fail(self, error):
        self.events.append(("fail", error))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@pytest.mark.slow
def test_parallel_workers_match_the_sequential_sweep():
    grid = ["model.params.solver=lbfgs,newton-cg", "model.params.C=0.1,1,10"]
    one = run_sweep(plan_sweep(DIGITS, grid, ["output.plots=false"], Path("one")), jobs=1)
    two = run_sweep(plan_sweep(DIGITS, grid, ["output.plots=false"], Path("two")), jobs=2)
    assert one.plan.id == two.plan.id
    assert [(r.accuracy, r.n_iter) for r in two.rows] == [(r.accuracy, r.n_iter) for r in one.rows]
    assert {r.status for r in two.rows} == {"complete"}
    workers = {r.worker for r in two.rows}
    assert str(os.getpid()) not in {w.split("@")[0] for w in workers}  # ran in other processes
    assert len(workers) <= 2
    assert sum(r.loaded_data for r in two.rows) <= len(workers)  # the data set is loaded once per worker
    cores = joblib.cpu_count()
    assert all(2 * r.blas_threads <= max(cores, 2) for r in two.rows)  # jobs x threads <= cores


def test_observers_hear_the_plan_each_point_run_and_the_end():
    grid = ["model.params.C=0.1,1"]
    run_sweep(plan_sweep(DIGITS, grid, ["output.plots=false"]), jobs=1)  # C=0.1 and C=1 are complete now
    recorder = Recorder()
    plan = plan_sweep(DIGITS, ["model.params.C=0.1,1,10"], ["output.plots=false"])
    result = run_sweep(plan, jobs=1, observers=[recorder])
    assert recorder.kinds() == ["plan", "point", "complete"]  # only the point that ran is announced
    _, (plan_id, start) = recorder.events[0]
    assert plan_id == plan.id
    assert {k: start[k] for k in ("points", "to_run", "reused", "kept_failed", "busy")} == {
        "points": 3, "to_run": 1, "reused": 2, "kept_failed": 0, "busy": 0}
    assert recorder.events[1][1] == (3, "complete", "ran", 1, 1)
    assert recorder.events[2][1] is result
    assert [(r.status, r.action) for r in result.rows] == [("complete", "reused")] * 2 + [("complete", "ran")]
    assert result.rows[2].accuracy == result.summary().points[2].accuracy > 0.9


def test_an_interrupted_sweep_tells_its_observers_and_writes_the_summary():
    recorder = Recorder(stop_after=1)
    plan = plan_sweep(DIGITS, ["model.params.C=0.1,1,10"], ["output.plots=false"])
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, jobs=1, observers=[recorder])
    assert recorder.kinds() == ["plan", "point", "interrupt"]
    result = recorder.events[-1][1]
    assert result.interrupted and not result.stopped_early
    assert [(r.status, r.action) for r in result.rows] == [("complete", "ran"), ("missing", "pending"),
                                                           ("missing", "pending")]
    written = json.loads((plan.folder / "summary.json").read_text())
    assert written == result.to_dict() and written["interrupted"] is True


def test_summary_document_keeps_its_keys():
    recorder = Recorder()
    result = run_sweep(plan_sweep(DIGITS, ["model.params.C=0.1,1"], ["output.plots=false"]), jobs=1,
                       observers=[recorder])
    document = result.to_dict()
    assert list(document) == ["sweep", "name", "folder", "keys", "counts", "ran", "interrupted", "stopped_early",
                              "search", "selection", "points"]
    assert document["search"] == {"search": "grid"} and document["selection"] is None  # a grid selects nothing
    assert [list(p) for p in document["points"]] == [[
        "index", "values", "status", "action", "accuracy", "accuracy_ci95", "fit_seconds", "n_iter", "converged",
        "run_id", "run", "error", "worker", "scored_on", "n_test", "selected", "selected_from", "pruned"]] * 2
    assert {p["scored_on"] for p in document["points"]} == {"test"}
    assert result.rows[0].loaded_data in (True, False) and result.rows[0].blas_threads >= 1  # internal, not saved
    assert json.loads((result.plan.folder / "summary.json").read_text()) == json.loads(json.dumps(document))


def test_a_train_run_id_claiming_a_point_first_leaves_it_busy_not_failed(monkeypatch):
    """A ``train --run-id`` of a point's id that claims the folder between the sweep's look and its run: the
    point is busy (the other process's run is left alone), not a failure."""
    from digitclf.config import load_config
    from digitclf.runs import RunDir
    from digitclf import runner

    real_train = runner.train

    def claimed_first(checked, *, outputs, run_id, **kwargs):
        other = RunDir.create(outputs, checked.config.name, run_id)
        other.start(load_config(None, ["name=held_by_train_run_id"]))  # pid: this (alive) process
        return real_train(checked, outputs=outputs, run_id=run_id, **kwargs)

    monkeypatch.setattr(runner, "train", claimed_first)  # the worker imports it when a point runs
    result = run_sweep(plan_sweep(DIGITS, ["model.params.C=0.1"], ["output.plots=false"]), jobs=1)
    assert [(r.status, r.action) for r in result.rows] == [("running", "busy")]
    assert RunDir(Path(result.rows[0].run)).record().config.name == "held_by_train_run_id"
