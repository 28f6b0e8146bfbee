"""`digitclf runs`: the listing in every format, filters and sort, and --prune."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from digitclf.runs import RunDir, iter_runs
from helpers import make_unfinished, one_error_line, run_of


def test_runs_rows_match_what_each_run_saved(saved, cli):
    result = cli("runs", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {saved.lbfgs, saved.c10, saved.idx}
    for run_id, row in rows.items():
        metrics = run_of(run_id).metrics().to_json()
        assert (row["accuracy"], row["fit_seconds"], row["converged"]) == (
            metrics["accuracy"], metrics["fit_seconds"], metrics["converged"])
        assert row["status"] == "complete" and row["model"] == f"LogisticRegression({metrics['solver']})"
    assert rows[saved.idx]["dataset"] == "idx"
    table = cli("runs").stdout.splitlines()
    assert table[0].split() == ["id", "name", "dataset", "model", "accuracy", "fit", "seconds", "converged", "status",
                                "date"]
    assert len(table) == 4
    parsed = list(csv.DictReader(io.StringIO(cli("runs", "--format", "csv").stdout)))
    assert {r["id"] for r in parsed} == set(rows)
    md = cli("runs", "--format", "md").stdout.splitlines()
    assert md[1].startswith("|---|") and len(md) == 5


def test_runs_filter_and_sort(saved, cli):
    by_accuracy = json.loads(cli("runs", "--sort", "accuracy", "--reverse", "--format", "json").stdout)
    accuracies = [r["accuracy"] for r in by_accuracy]
    assert accuracies == sorted(accuracies, reverse=True)
    glob = json.loads(cli("runs", "--name", "digits_*", "--format", "json").stdout)
    assert {r["name"] for r in glob} == {"digits_lbfgs", "digits_c10"}
    run_of(saved.c10).update(sweep={"id": "sw-1234", "point": {}, "index": 1})
    swept = json.loads(cli("runs", "--sweep", "sw-12", "--format", "json").stdout)
    assert [r["id"] for r in swept] == [saved.c10]
    make_unfinished("failed")
    failed = json.loads(cli("runs", "--status", "failed", "--format", "json").stdout)
    assert [r["status"] for r in failed] == ["failed"]
    none = cli("runs", "--status", "interrupted")
    assert none.exit_code == 0 and none.stdout == "" and "no runs match" in none.stderr
    bad = cli("runs", "--sort", "speed")
    assert bad.exit_code == 2 and one_error_line(bad).startswith("Error: --sort: 'speed' is not a column")


def test_prune_deletes_only_dead_runs(saved, cli):
    dead = {status: make_unfinished(status) for status in ("failed", "interrupted", "running")}
    alive = make_unfinished("complete")
    alive.update(status="running", pid=os.getpid())  # this process: still running
    declined = cli("runs", "--prune", input="n\n")
    assert declined.exit_code == 0 and all(run.path.exists() for run in dead.values())
    result = cli("runs", "--prune", "--yes")
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == sorted(f"deleted {run.path.resolve()}" for run in dead.values())
    assert not any(run.path.exists() for run in dead.values())
    assert alive.path.exists() and {r.id for r in iter_runs(Path("outputs"))} == {saved.lbfgs, saved.c10, saved.idx,
                                                                                  alive.id}
    again = cli("runs", "--prune", "--yes")
    assert again.exit_code == 0 and again.stdout == "" and "nothing to prune" in again.stderr


def test_prune_removes_a_run_names_folder_with_its_last_run_and_its_run_id_lock(isolated, cli):
    assert cli("train", "-q", "--set", "output.plots=false", "--set", "name=once", "--run-id", "x").exit_code == 0
    run = RunDir(Path("outputs/once/x"))
    assert (run.path.parent / ".run-ids.lock").exists()
    run.update(status="failed")
    assert cli("runs", "--prune", "--yes").stdout == f"deleted {run.path.resolve()}\n"
    assert not Path("outputs/once").exists()
    # a process claiming a run id there right now (holding the lock) keeps the folder and its lock
    from digitclf.runs import lock_run_ids

    assert cli("train", "-q", "--set", "output.plots=false", "--set", "name=once", "--run-id", "x").exit_code == 0
    run.update(status="failed")
    claim = lock_run_ids(Path("outputs/once"))
    try:
        assert cli("runs", "--prune", "--yes").stdout == f"deleted {run.path.resolve()}\n"
    finally:
        claim.close()
    assert [p.name for p in Path("outputs/once").iterdir()] == [".run-ids.lock"]


def test_a_cross_validated_run_lists_its_mean_and_95_ci(isolated, cli):
    from scipy import stats
    import numpy as np

    for args in (["split.kind=kfold", "split.n_splits=4", "name=cv_run"], ["name=plain_run"]):
        sets = [part for arg in [*args, "output.plots=false"] for part in ("--set", arg)]
        assert cli("train", "-q", *sets).exit_code == 0
    rows = {row["name"]: row for row in json.loads(cli("runs", "--format", "json").stdout)}
    cv_id, plain_id = rows["cv_run"]["id"], rows["plain_run"]["id"]
    metrics = json.loads((Path("outputs/cv_run") / cv_id / "metrics.json").read_text())
    folds = np.array(metrics["cv"]["fold_accuracy"])
    ratio = metrics["cv"]["fold_n_test"][0] / metrics["cv"]["fold_n_train"][0]
    half = stats.t.ppf(0.975, len(folds) - 1) * np.sqrt((1 / len(folds) + ratio) * folds.var(ddof=1))
    # JSON keeps numbers: the mean, the interval, and what the scores count
    assert rows["cv_run"]["accuracy"] == folds.mean() and rows["cv_run"]["scored_on"] == "cross-validation"
    assert np.allclose(rows["cv_run"]["accuracy_ci95"], [folds.mean() - half, folds.mean() + half], atol=1e-12)
    assert rows["plain_run"]["scored_on"] == "test"
    table = {line.split()[0]: line for line in cli("runs").stdout.splitlines()[1:]}
    assert f" {folds.mean():.4f} ± {half:.4f} " in table[cv_id]
    plain = json.loads((Path("outputs/plain_run") / plain_id / "metrics.json").read_text())
    assert table[plain_id].split()[4] == f"{plain['accuracy']:.4f}" and "±" not in table[plain_id]
    csv_rows = {r["id"]: r for r in csv.DictReader(io.StringIO(cli("runs", "--format", "csv").stdout))}
    assert json.loads(csv_rows[cv_id]["accuracy_ci95"]) == rows["cv_run"]["accuracy_ci95"]
