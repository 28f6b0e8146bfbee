"""`digitclf sweep --backend dask` on a loopback LocalCluster gives the same summary as the local run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

GRID = ("--grid", "model.params.solver=lbfgs,newton-cg", "--grid", "model.params.C=0.1,10")
ARGS = ("sweep", "--config", "configs/digits_lbfgs.yaml", "--set", "output.plots=false", *GRID, "--json")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


@pytest.mark.slow
def test_dask_sweep_matches_the_local_sweep(cli, cluster):
    remote = cli(*ARGS, "--backend", "dask", "--scheduler", cluster.scheduler_address, "--outputs", "dask_out")
    assert remote.exit_code == 0, remote.output
    local = cli(*ARGS, "--outputs", "local_out")
    assert local.exit_code == 0, local.output
    on_dask, here = json.loads(remote.stdout), json.loads(local.stdout)
    assert on_dask["sweep"] == here["sweep"]
    fields = ("values", "run_id", "status", "accuracy", "accuracy_ci95", "n_iter", "converged")
    assert [{k: r[k] for k in fields} for r in on_dask["points"]] == [{k: r[k] for k in fields} for r in here["points"]]
    assert {r["status"] for r in on_dask["points"]} == {"complete"}
    # the runs were written by the cluster's worker processes into the same outputs folder
    for row in on_dask["points"]:
        record = json.loads((Path(row["run"]) / "run.json").read_text())
        assert record["status"] == "complete" and record["sweep"]["id"] == on_dask["sweep"]
        assert record["pid"] != os.getpid() and row["worker"].startswith(f"{record['pid']}@")
    # again on the cluster: every point is complete already
    again = cli(*ARGS, "--backend", "dask", "--scheduler", cluster.scheduler_address, "--outputs", "dask_out")
    assert again.exit_code == 0, again.output
    assert {r["action"] for r in json.loads(again.stdout)["points"]} == {"reused"}


def test_dask_missing_is_one_error_line(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if the extra were not installed
    result = cli(*ARGS, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:8786")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --backend dask needs dask.distributed: pip install 'digitclf[dask]'"]


def test_unreachable_scheduler_is_one_error_line(cli):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = cli(*ARGS, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: --scheduler tcp://127.0.0.1:9: cannot connect to a Dask scheduler (")
    assert lines[0].endswith("); start one with 'dask scheduler' or check the address")


@pytest.mark.slow
def test_halving_search_on_dask_matches_the_local_search(cli, cluster):
    args = ("sweep", "--config", "configs/search_digits.yaml", "--search", "halving", "--trials", "4",
            "--set", "output.plots=false", "--json")
    remote = cli(*args, "--backend", "dask", "--scheduler", cluster.scheduler_address, "--outputs", "dask_out")
    assert remote.exit_code == 0, remote.output
    local = cli(*args, "--jobs", "2", "--outputs", "local_out")
    assert local.exit_code == 0, local.output
    on_dask, here = json.loads(remote.stdout), json.loads(local.stdout)
    fields = ("values", "run_id", "status", "accuracy", "scored_on", "selected")
    assert [{k: r[k] for k in fields} for r in on_dask["points"]] == [{k: r[k] for k in fields} for r in here["points"]]
    assert on_dask["selection"]["run_id"] == here["selection"]["run_id"] and on_dask["points"][-1]["selected"]
