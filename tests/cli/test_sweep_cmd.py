"""`digitclf sweep` through the CLI: validation before running, identity and resume, failures, --json, --mlflow."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from digitclf.config import load_config
from digitclf.runs import RunDir
from digitclf.sweep import plan_sweep

DIGITS = "configs/digits_lbfgs.yaml"
NO_PLOTS = ("--set", "output.plots=false")  # output settings do not change a point's identity


def summary(outputs: Path = Path("outputs")) -> dict:
    found = list(outputs.glob("sweeps/*/summary.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def sklearn_digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return train_test_split(digits.data, digits.target, test_size=0.25, random_state=0)


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# ---------------------------------------------------------------- expansion and validation


@pytest.mark.parametrize("option", ["model.params.C", "model.params.C=", "=1,2", "model..C=1"])
def test_bad_grid_option_is_one_error_line(cli, option):
    result = cli("sweep", "--config", DIGITS, "--grid", option)
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"Error: --grid {option!r}: expected KEY.PATH=v1,v2,..., "
                                    "e.g. --grid model.params.C=0.1,1,10"]


def test_unknown_search_is_one_error_line(cli):
    result = cli("sweep", "--config", DIGITS, "--grid", "model.params.C=1,2", "--search", "randm")
    assert result.exit_code == 2
    assert stderr_lines(result) == ["Error: --search: unknown search 'randm' (did you mean 'random'?); "
                                    "use one of grid, random, halving, optuna"]


def test_a_search_without_a_space_says_how_to_declare_one(cli):
    result = cli("sweep", "--config", DIGITS, "--search", "random", "--trials", "3")
    assert result.exit_code == 2
    assert stderr_lines(result) == ["Error: sweep.space: search: random needs a space to draw from, e.g. "
                                    "space: {model.params.C: {loguniform: [0.001, 100]}}"]


def test_search_dry_run_lists_the_first_points_scored_on_validation(cli):
    result = cli("sweep", "--config", "configs/search_digits.yaml", "--search", "halving", "--trials", "4",
                 "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert spec["search"] == "halving" and spec["n_candidates"] == [4, 2] and spec["n_resources"] == [100, 300]
    assert [p["values"]["split.train_size"] for p in spec["points"]] == [100] * 4 and spec["validation"] == 0.2
    assert {p["action"] for p in spec["points"]} == {"run"}


def test_bad_sweep_section_names_the_key(cli, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("sweep:\n  grids: {model.params.C: [1]}\n")
    result = cli("sweep", "--config", str(config))
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"Error: {config}: sweep.grids: unknown key 'grids' (did you mean 'grid'?); "
                                    "allowed keys: grid, variants, search, trials, space, validation, halving, pruner"]


def test_an_invalid_point_stops_the_sweep_before_any_runs(cli):
    from sklearn.linear_model import LogisticRegression

    result = cli("sweep", "--config", DIGITS, "--grid", "model.params.solver=lbfgs,newton-cg",
                 "--grid", "model.params.l1_ratio=0,1")
    assert result.exit_code == 2
    lines = stderr_lines(result)
    assert len(lines) == 1
    # point 2 is the first bad one: lbfgs has no l1 penalty (scikit-learn's own message)
    with pytest.raises(ValueError) as sklearn_error:
        LogisticRegression(solver="lbfgs", l1_ratio=1).fit([[0.0], [1.0]], [0, 1])
    first = str(sklearn_error.value).splitlines()[0]
    assert lines[0] == f"Error: sweep point 2 (solver=lbfgs l1_ratio=1): model.params: {first}"
    assert not Path("outputs").exists()


def test_nothing_to_sweep_and_duplicate_points(cli):
    result = cli("sweep", "--config", DIGITS)
    assert result.exit_code == 2
    assert stderr_lines(result)[0].startswith("Error: nothing to sweep: give --grid KEY=v1,v2")
    result = cli("sweep", "--config", DIGITS, "--grid", "output.plots=true,false")
    assert result.exit_code == 2
    assert stderr_lines(result) == ["Error: sweep points 1 and 2 are the same run (identical resolved config and "
                                    "data; output.* keys do not count); remove the duplicate value"]


@pytest.mark.parametrize("args, message", [
    (("--jobs", "0"), "Error: --jobs: 0 is not a number of processes; use 1, 2, ... or -1 for one per core"),
    (("--backend", "dusk"), "Error: --backend: unknown backend 'dusk' (did you mean 'dask'?); use one of loky, dask"),
    (("--backend", "dask"), "Error: --backend dask needs --scheduler, the address of a running Dask scheduler "
                            "(e.g. tcp://host:8786)"),
    (("--scheduler", "tcp://127.0.0.1:8786"), "Error: --scheduler is only used with --backend dask"),
])
def test_bad_execution_options(cli, args, message):
    result = cli("sweep", "--config", DIGITS, "--grid", "model.params.C=1,2", *args)
    assert result.exit_code == 2
    assert stderr_lines(result) == [message]


def test_dry_run_lists_points_and_runs_nothing(cli):
    result = cli("sweep", "--config", "sweep_digits", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert len(spec["points"]) == 8
    assert {(p["state"], p["action"]) for p in spec["points"]} == {("missing", "run")}
    assert spec["points"][0]["values"] == {"model.params.C": 1000, "model.params.solver": "saga"}
    assert not Path("outputs").exists()
    text = cli("sweep", "--config", "sweep_digits", "--dry-run")
    assert text.exit_code == 0
    assert f"sweep {spec['id']}: 8 valid points, 8 would run" in text.stdout


# ---------------------------------------------------------------- running, summary, resume


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sweep_runs_every_point_and_summarizes(cli):
    from sklearn.linear_model import LogisticRegression

    args = ("sweep", "--config", DIGITS, *NO_PLOTS, "--grid", "model.params.solver=lbfgs,newton-cg",
            "--grid", "model.params.C=0.1,10")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    data = summary()
    assert data["counts"] == {"complete": 4} and data["ran"] == 4
    x_train, x_test, y_train, y_test = sklearn_digits_split()
    for row in data["points"]:
        solver, c = row["values"]["model.params.solver"], row["values"]["model.params.C"]
        model = LogisticRegression(solver=solver, C=c, random_state=0).fit(x_train, y_train)
        assert row["accuracy"] == pytest.approx(model.score(x_test, y_test), abs=1e-12)
        assert row["n_iter"] == model.n_iter_.max()
        low, high = row["accuracy_ci95"]
        assert low < row["accuracy"] < high
        assert row["status"] == "complete" and row["action"] == "ran" and row["fit_seconds"] > 0
        record = json.loads((Path(row["run"]) / "run.json").read_text())
        assert record["sweep"] == {"id": data["sweep"], "point": row["values"], "index": row["index"]}
        assert Path(row["run"]).parent == Path("outputs/digits_lbfgs").absolute()

    folder = Path(data["folder"])
    with open(folder / "summary.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["model.params.solver"], float(r["model.params.C"]), float(r["accuracy"])) for r in table] == [
        (r["values"]["model.params.solver"], r["values"]["model.params.C"], r["accuracy"]) for r in data["points"]]
    with Image.open(folder / "tradeoff.png") as image:
        assert image.size == (800, 600)
    spec = (folder / "spec.yaml").read_text()
    assert all(row["run_id"] in spec for row in data["points"])
    # the table on stdout: one line per point with its accuracy
    for row in data["points"]:
        assert any(row["run_id"] in line and f"{row['accuracy']:.4f}" in line for line in result.stdout.splitlines())

    # `digitclf runs --sweep ID` lists exactly its points
    listed = cli("runs", "--sweep", data["sweep"], "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == sorted(r["run_id"] for r in data["points"])

    # run again: every point is complete, nothing runs, run folders untouched
    before = {row["run"]: (Path(row["run"]) / "run.json").read_text() for row in data["points"]}
    again = cli(*args, "--json")
    assert again.exit_code == 0, again.output
    data2 = json.loads(again.stdout)
    assert data2["sweep"] == data["sweep"] and data2["ran"] == 0
    assert {r["action"] for r in data2["points"]} == {"reused"}
    assert [r["accuracy"] for r in data2["points"]] == [r["accuracy"] for r in data["points"]]
    assert {run: (Path(run) / "run.json").read_text() for run in before} == before

    # --rerun: every point runs again under the same id; the old folders are kept aside
    rerun = cli(*args, "--rerun", "--json")
    assert rerun.exit_code == 0, rerun.output
    data3 = json.loads(rerun.stdout)
    assert {r["action"] for r in data3["points"]} == {"ran"}
    assert [r["run_id"] for r in data3["points"]] == [r["run_id"] for r in data["points"]]
    aside = sorted(p.name.split("-")[1] for p in Path("outputs/digits_lbfgs/.superseded").iterdir())
    assert aside == sorted(r["run_id"].split("-")[1] for r in data["points"])
    assert os.path.realpath("outputs/latest").startswith(str(Path("outputs/digits_lbfgs").absolute()))


def test_runs_sweep_lists_points_reused_from_an_earlier_sweep(cli):
    first = cli("sweep", "--config", DIGITS, *NO_PLOTS, "--grid", "model.params.C=0.1,10", "--json")
    assert first.exit_code == 0, first.output
    second = cli("sweep", "--config", DIGITS, *NO_PLOTS, "--grid", "model.params.C=10,100", "--json")
    assert second.exit_code == 0, second.output
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["sweep"] != two["sweep"]
    assert [r["action"] for r in two["points"]] == ["reused", "ran"]
    reused = two["points"][0]["run_id"]
    assert reused == one["points"][1]["run_id"]  # the C=10 point, run by the first sweep
    record = json.loads((Path(two["points"][0]["run"]) / "run.json").read_text())
    assert record["sweep"]["id"] == one["sweep"]  # its own record names the sweep that ran it

    listed = cli("runs", "--sweep", two["sweep"], "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == sorted(r["run_id"] for r in two["points"])
    first_listed = cli("runs", "--sweep", one["sweep"], "--format", "json")
    assert sorted(r["id"] for r in json.loads(first_listed.stdout)) == sorted(r["run_id"] for r in one["points"])


def test_a_point_failing_at_fit_time_is_isolated(cli):
    from sklearn.neighbors import KNeighborsClassifier

    x_train, x_test, y_train, _ = sklearn_digits_split()
    with pytest.raises(ValueError) as sklearn_error:  # valid for the constructor and fit, fails at predict
        KNeighborsClassifier(n_neighbors=2000).fit(x_train, y_train).predict(x_test)
    args = ("sweep", "--config", DIGITS, "--set", "model.estimator=knn", "--set", "model.params={}",
            *NO_PLOTS, "--grid", "model.params.n_neighbors=3,2000,5")
    result = cli(*args)
    assert result.exit_code == 1
    failure = [line for line in stderr_lines(result) if "point 2 " in line]
    assert len(failure) == 1
    assert "point 2 (n_neighbors=2000): failed: " in failure[0] and str(sklearn_error.value) in failure[0]
    assert stderr_lines(result)[-1] == "Error: 1 of 3 points failed (traceback.txt in each run folder)"
    rows = summary()["points"]
    assert [r["status"] for r in rows] == ["complete", "failed", "complete"]
    failed_run = Path(rows[1]["run"])
    assert "ValueError" in (failed_run / "traceback.txt").read_text()
    assert RunDir(failed_run).status() == "failed"
    model = KNeighborsClassifier(n_neighbors=3).fit(x_train, y_train)
    assert rows[0]["accuracy"] == pytest.approx(model.score(x_test, sklearn_digits_split()[3]), abs=1e-12)

    # again without --retry-failed: the failure is kept and reported, nothing runs
    kept = cli(*args, "--json")
    assert kept.exit_code == 1
    assert [r["action"] for r in json.loads(kept.stdout)["points"]] == ["reused", "kept", "reused"]
    assert stderr_lines(kept)[-1] == ("Error: 1 of 3 points failed (traceback.txt in each run folder); "
                                      "rerun with --retry-failed to run them again")

    # --retry-failed runs it again (it fails again); the old failed folder is kept aside
    retried = cli(*args, "--retry-failed", "--json")
    assert retried.exit_code == 1
    assert [r["action"] for r in json.loads(retried.stdout)["points"]] == ["reused", "ran", "reused"]
    assert [p.name.rsplit("-", 3)[0] for p in (failed_run.parent / ".superseded").iterdir()] == [failed_run.name]


def test_fail_fast_stops_at_the_first_failure(cli):
    result = cli("sweep", "--config", DIGITS, "--set", "model.estimator=knn", "--set", "model.params={}",
                 *NO_PLOTS, "--grid", "model.params.n_neighbors=2000,3", "--fail-fast", "--json")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)["points"]
    assert [(r["status"], r["action"]) for r in rows] == [("failed", "ran"), ("missing", "pending")]
    assert not Path(rows[1]["run"]).exists()


def test_a_point_running_elsewhere_is_not_run_twice(cli):
    plan = plan_sweep(DIGITS, ["model.params.C=0.1,10"], ["output.plots=false"])
    busy = RunDir.create(plan.outputs, plan.name, plan.points[0].run_id)
    busy.start(load_config(None, ["name=held_by_a_live_process"]))  # pid: this (alive) test process
    result = cli("sweep", "--config", DIGITS, *NO_PLOTS, "--grid", "model.params.C=0.1,10", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["points"]
    assert [(r["status"], r["action"]) for r in rows] == [("running", "busy"), ("complete", "ran")]
    assert busy.record().config.name == "held_by_a_live_process"


def test_abandoned_and_interrupted_points_run_again(cli):
    plan = plan_sweep(DIGITS, ["model.params.C=0.1,1,10"], ["output.plots=false"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = RunDir.create(plan.outputs, plan.name, plan.points[0].run_id)
    abandoned.start(load_config())
    abandoned.update(pid=int(dead.stdout))  # a process that is gone: 'abandoned'
    interrupted = RunDir.create(plan.outputs, plan.name, plan.points[1].run_id)
    interrupted.start(load_config())
    interrupted.finish("interrupted")
    assert (abandoned.status(), interrupted.status()) == ("abandoned", "interrupted")
    result = cli("sweep", "--config", DIGITS, *NO_PLOTS, "--grid", "model.params.C=0.1,1,10", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["points"]
    assert [(r["status"], r["action"]) for r in rows] == [("complete", "ran")] * 3


def test_sweep_help_has_an_example(cli):
    result = cli("sweep", "--help")
    assert result.exit_code == 0
    assert "Example: digitclf sweep --config" in result.stdout


def test_mlflow_option_plans_the_sweep_once(cli, monkeypatch):
    pytest.importorskip("mlflow")
    import digitclf.checks
    import digitclf.sweep

    checked, planned = [], []
    check, plan = digitclf.checks.check_estimator, digitclf.sweep.plan_sweep
    monkeypatch.setattr(digitclf.checks, "check_estimator", lambda model: checked.append(model) or check(model))
    monkeypatch.setattr(digitclf.sweep, "plan_sweep", lambda *a, **k: planned.append(k) or plan(*a, **k))
    result = cli("sweep", "--config", "sweep_digits", "--mlflow", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["points"]) == 8
    assert len(planned) == 1 and planned[0]["mlflow"] is True
    assert len(checked) == 8  # each point checked once


def test_json_on_ctrl_c_prints_the_summary_of_what_finished(cli, monkeypatch):
    import digitclf.sweep.execute as execute

    real = execute.run_point

    def stopped_at_point_2(task):
        if task.index == 2:
            raise KeyboardInterrupt  # Ctrl-C while point 2 runs (jobs=1: in this process)
        return real(task)

    monkeypatch.setattr(execute, "run_point", stopped_at_point_2)
    result = cli("sweep", "--config", DIGITS, *NO_PLOTS, "--grid", "model.params.C=0.1,1,10", "--json")
    assert result.exit_code == 130
    assert stderr_lines(result) == ["Error: interrupted (Ctrl-C or SIGTERM); a run in progress was recorded as "
                                    "interrupted"]
    printed = json.loads(result.stdout)
    assert printed == summary() and printed["interrupted"] is True
    assert [(r["status"], r["action"]) for r in printed["points"]] == [("complete", "ran"), ("missing", "pending"),
                                                                       ("missing", "pending")]


def test_the_table_shows_drawn_floats_to_six_digits_and_summary_json_keeps_them_exact(cli):
    result = cli("sweep", "--config", "configs/search_digits.yaml", *NO_PLOTS, "--trials", "2",
                 "--set", "model.params.max_iter=20")
    assert result.exit_code == 0, result.output
    summary = json.loads(next(Path("outputs/sweeps").glob("search_digits-*/summary.json")).read_text())
    for point in summary["points"]:
        c = point["values"]["model.params.C"]
        row = next(line for line in result.stdout.splitlines() if line.split()[:1] == [str(point["index"])]
                   or line.split()[:1] == [f"{point['index']}*"])
        assert row.split()[1] == format(c, ".6g") and format(c, ".6g") != repr(c)
