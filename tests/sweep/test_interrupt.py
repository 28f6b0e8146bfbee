"""Interrupting a real `digitclf sweep` process and running it again completes only the missing points."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitclf.sweep import plan_sweep, point_state

# six saga points of about half a second each on digits: slow enough to stop the sweep half way
SETS = ["output.plots=false", "preprocess=[scale]", "model.params.solver=saga", "model.params.tol=0",
        "model.params.max_iter=100"]
GRID = ["model.params.C=1,2,3,4,5,6"]
ARGS = ["sweep", "--config", "configs/digits_lbfgs.yaml", *[a for s in SETS for a in ("--set", s)],
        *[a for g in GRID for a in ("--grid", g)]]


def statuses(run_dirs: list[Path]) -> list[str]:
    return [point_state(run_dir) for run_dir in run_dirs]


def half_way(states: list[str]) -> bool:
    """A point is complete and a later one has started (so the complete one's process moved on)."""
    complete = states.count("complete")
    return complete >= 1 and len(states) - states.count("missing") > complete


@pytest.mark.slow
@pytest.mark.parametrize("sig, jobs", [(signal.SIGTERM, 2), (signal.SIGINT, 1)])
def test_interrupted_sweep_resumes_only_missing_points(cli, sig, jobs):
    plan = plan_sweep("configs/digits_lbfgs.yaml", GRID, SETS)
    run_dirs = [plan.run_dir(p) for p in plan.points]
    proc = subprocess.Popen([sys.executable, "-c", "from digitclf.cli import main; main()", *ARGS,
                             "--jobs", str(jobs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not half_way(statuses(run_dirs)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no point completed in 120 s"
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("Error: interrupted")

    before = statuses(run_dirs)
    done = [i for i, s in enumerate(before) if s == "complete"]
    assert done and len(done) < len(run_dirs), before  # stopped half way
    # stopped inside a run (interrupted; abandoned when a worker process was killed), or between
    # creating a folder and writing its run.json (damaged): all of them run again
    assert set(before) <= {"complete", "interrupted", "abandoned", "damaged", "missing"}, before
    summary = json.loads((plan.folder / "summary.json").read_text())  # written even when interrupted
    assert [row["status"] for row in summary["points"]] == before
    records = {i: (run_dirs[i] / "run.json").read_text() for i in done}

    again = cli(*ARGS, "--jobs", "1", "--json")
    assert again.exit_code == 0, again.output
    rows = json.loads(again.stdout)["points"]
    assert [row["action"] for row in rows] == ["reused" if i in done else "ran" for i in range(len(rows))]
    assert {row["status"] for row in rows} == {"complete"}
    assert {i: (run_dirs[i] / "run.json").read_text() for i in done} == records  # complete runs untouched
    final = json.loads((plan.folder / "summary.json").read_text())
    assert [row["status"] for row in final["points"]] == ["complete"] * len(rows)
