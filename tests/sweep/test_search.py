"""digitclf.sweep.search: seeded draws from declared distributions, halving's schedule, selection on validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from digitclf.errors import ConfigError
from digitclf.runs import RunDir, load_split
from digitclf.sweep import plan_sweep, run_sweep
from digitclf.sweep.search import draw, halving_schedule

SPACE = {"a": {"loguniform": [1e-3, 1e2]}, "b": {"uniform": [-1.0, 3.0]}, "c": {"int": [1, 3]},
         "d": {"choice": ["x", "y", "z"]}}


def write_search(tmp_path: Path, search: str, extra: str = "") -> Path:
    config = tmp_path / "search.yaml"
    config.write_text(f"""name: srch
dataset: {{name: digits}}
split: {{test_size: 0.25, stratify: true}}
preprocess: [scale]
model: {{estimator: logistic_regression, params: {{max_iter: 100}}}}
output: {{plots: false}}
sweep:
  search: {search}
  space:
    model.params.C: {{loguniform: [0.01, 10]}}
{extra}""")
    return config


# ---------------------------------------------------------------- draws


def test_draws_follow_the_declared_distributions():
    values = draw(SPACE, 1000, seed=3)
    a, b, c = (np.array([v[k] for v in values]) for k in "abc")
    assert list(values[0]) == ["a", "b", "c", "d"]  # the space's order
    assert all(isinstance(v["a"], float) and isinstance(v["c"], int) for v in values)  # plain Python, for YAML
    assert stats.kstest(np.log10(a), stats.uniform(-3, 5).cdf).pvalue > 0.01  # log-uniform: log10 uniform on [-3, 2]
    assert stats.kstest(a, stats.uniform(1e-3, 100).cdf).pvalue < 1e-6  # and not uniform on the raw scale
    assert stats.kstest(b, stats.uniform(-1, 4).cdf).pvalue > 0.01
    assert set(c) == {1, 2, 3}  # both bounds included
    counts = np.unique([v["d"] for v in values], return_counts=True)[1]
    assert stats.chisquare(counts).pvalue > 0.01


def test_draws_are_seeded_and_more_trials_extend_fewer():
    assert draw(SPACE, 5, seed=0) == draw(SPACE, 5, seed=0)
    assert draw(SPACE, 5, seed=0) != draw(SPACE, 5, seed=1)
    assert draw(SPACE, 8, seed=0)[:5] == draw(SPACE, 5, seed=0)  # --trials 8 after 5 reuses the first 5 points


def test_a_space_of_choices_draws_each_combination_once():
    values = draw({"d": {"choice": ["x", "y"]}, "e": {"choice": [1, 2]}}, 10, seed=0)
    assert sorted((v["d"], v["e"]) for v in values) == [("x", 1), ("x", 2), ("y", 1), ("y", 2)]


@pytest.mark.parametrize("spec, message", [
    ("{normal: [0, 1]}", "must be one of {choice: [a, b, ...]}"),
    ("{uniform: [2, 1]}", "uniform needs [low, high] with low < high, got [2, 1]"),
    ("{loguniform: [0, 1]}", "loguniform needs a positive low bound, got 0"),
    ("{int: [1.5, 3]}", "int needs whole-number bounds, got [1.5, 3]"),
    ("{choice: []}", "choice needs a non-empty list of values, got []"),
])
def test_a_bad_distribution_is_one_error_naming_the_key(tmp_path, spec, message):
    config = write_search(tmp_path, "random", f"    model.params.tol: {spec}\n  trials: 2\n")
    with pytest.raises(ConfigError) as caught:
        plan_sweep(config)
    assert str(caught.value).startswith(f"{config}: sweep.space: model.params.tol: {message}")


def test_random_search_needs_trials(tmp_path):
    with pytest.raises(ConfigError, match=r"^sweep.trials: search: random needs a number of trials"):
        plan_sweep(write_search(tmp_path, "random"))


# ---------------------------------------------------------------- halving


@pytest.mark.parametrize("n_candidates, low, high, factor", [(20, 20, 400, 3), (9, 30, 300, 2), (50, 10, 90, 3),
                                                              (4, 40, 400, 4)])
def test_halving_schedule_is_scikit_learns(n_candidates, low, high, factor):
    from sklearn.datasets import load_digits
    from sklearn.dummy import DummyClassifier
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    X, y = load_digits(return_X_y=True)
    search = HalvingRandomSearchCV(DummyClassifier(), {"random_state": stats.randint(0, 10**6)},
                                   n_candidates=n_candidates,
                                   resource="n_samples", min_resources=low, max_resources=high, factor=factor,
                                   cv=2, random_state=0).fit(X[:high], y[:high])
    schedule = halving_schedule(n_candidates, low, high, factor)
    assert (schedule.n_resources, schedule.n_candidates) == (search.n_resources_, search.n_candidates_)


# ---------------------------------------------------------------- selection


@pytest.mark.slow
def test_random_search_selects_on_validation_and_scores_the_winner_on_the_test_set_once(tmp_path):
    config = write_search(tmp_path, "random", "  trials: 3\n")
    result = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    points, (final,) = result.rows[:3], result.rows[3:]
    assert [row.scored_on for row in points] == ["validation"] * 3 and final.scored_on == "test"
    winner = max(points, key=lambda row: row.accuracy)
    assert final.selected and final.selected_from == winner.index and final.values == winner.values
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    y = load_digits().target
    train_rows, test_rows = train_test_split(np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    _, validation_rows = train_test_split(train_rows, test_size=0.2, random_state=0, stratify=y[train_rows])
    ranked_on = load_split(RunDir(Path(winner.run))).test_index
    scored_on = load_split(RunDir(Path(final.run))).test_index
    assert np.array_equal(ranked_on, validation_rows) and np.array_equal(scored_on, test_rows)
    assert RunDir(Path(final.run)).metrics().n_train == len(train_rows)  # refit on the whole training part
    summary = json.loads((result.plan.folder / "summary.json").read_text())["selection"]
    assert summary["point"] == winner.index and summary["accuracy"] == final.accuracy
    assert summary["selected_on"].startswith("validation: 20% of the training part")
    assert summary["scored_on"].startswith(f"test set ({len(test_rows)} images), once")
    again = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    assert again.ran == 0 and again.rows[-1].action == "reused"  # the test set scored it once, not again


@pytest.mark.slow
def test_halving_runs_rungs_of_ordinary_points_and_selects_from_the_last(tmp_path):
    config = write_search(tmp_path, "halving", "  trials: 5\n  halving: {resource: split.train_size, "
                                               "min_resources: 100, max_resources: 900, factor: 3}\n")
    result = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    rungs = [[row for row in result.rows if not row.selected and row.values["split.train_size"] == size]
             for size in (100, 300)]
    assert [len(rung) for rung in rungs] == [5, 2]  # halving_schedule(5, 100, 900, 3): 2 rungs, ceil(5/3) kept
    first = sorted(rungs[0], key=lambda row: row.accuracy)
    kept = {json.dumps(row.values["model.params.C"]) for row in rungs[1]}
    assert kept == {json.dumps(row.values["model.params.C"]) for row in first[-2:]}
    assert [RunDir(Path(row.run)).metrics().n_train for row in rungs[1]] == [300, 300]
    final = result.rows[-1]
    assert final.selected and final.selected_from == max(rungs[1], key=lambda row: row.accuracy).index
    assert "split.train_size" not in final.values and RunDir(Path(final.run)).metrics().n_train == 1347  # all of it
    assert result.summary().search["n_resources"] == [100, 300] and math.isclose(
        result.summary().selection.validation_accuracy, max(row.accuracy for row in rungs[1]))


@pytest.mark.slow
def test_an_interrupted_halving_search_resumes_without_redoing_finished_points(tmp_path):
    from digitclf.observers import SweepObserver

    class StopAfter(SweepObserver):
        def on_point(self, row, done, total):
            if done == 6:  # the first rung (5 points) and one point of the second
                raise KeyboardInterrupt

    config = write_search(tmp_path, "halving", "  trials: 5\n  halving: {resource: split.train_size, "
                                               "min_resources: 100, max_resources: 900, factor: 3}\n")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan_sweep(config, outputs=tmp_path / "out"), observers=[StopAfter()])
    again = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    assert [row.action for row in again.rows] == ["reused"] * 6 + ["ran"] * 2  # one rung-2 point and the refit
    assert again.rows[-1].selected and again.summary().selection.status == "complete"


# ---------------------------------------------------------------- optuna


@pytest.mark.slow
def test_optuna_search_resumes_from_its_sqlite_study(tmp_path):
    optuna = pytest.importorskip("optuna")
    config = write_search(tmp_path, "optuna", "  trials: 2\n")
    first = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    study_db = first.plan.folder / "study.db"
    study = optuna.load_study(study_name="digitclf", storage=f"sqlite:///{study_db}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert [t.value for t in study.trials] == [row.accuracy for row in first.rows[:2]]
    left_running = study.ask(first.plan.search._distributions())  # as a sweep stopped mid-trial leaves it
    again = run_sweep(plan_sweep(config, outputs=tmp_path / "out", trials=4))
    assert again.plan.folder == first.plan.folder  # more trials continue the same study
    assert [row.action for row in again.rows[:2]] == ["reused", "reused"]  # finished trials are not redone
    assert again.rows[2].values["model.params.C"] == left_running.params["model.params.C"]
    study = optuna.load_study(study_name="digitclf", storage=f"sqlite:///{study_db}")
    assert len(study.trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert again.rows[-1].selected and again.rows[-1].scored_on == "test"


@pytest.mark.slow
def test_a_search_can_rank_on_cross_validation_of_the_training_part(tmp_path):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
    from sklearn.tree import DecisionTreeClassifier

    config = tmp_path / "cv.yaml"
    config.write_text("""name: tree_cv
dataset: {name: digits}
split: {test_size: 0.25, stratify: true, n_splits: 3}
model: {estimator: decision_tree}
output: {plots: false}
sweep:
  search: random
  trials: 2
  validation: cv
  space: {model.params.max_depth: {int: [3, 12]}}
""")
    result = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    X, y = load_digits(return_X_y=True)
    train_rows, test_rows = train_test_split(np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    for row in result.rows[:2]:
        tree = DecisionTreeClassifier(max_depth=row.values["model.params.max_depth"], random_state=0)
        expected = cross_validate(tree, X[train_rows].astype(np.float32), y[train_rows],
                                  cv=StratifiedKFold(3, shuffle=True, random_state=0))["test_score"]
        cv = RunDir(Path(row.run)).metrics().cv
        assert row.scored_on == "cross-validation" and np.allclose(cv.fold_accuracy, expected, rtol=0, atol=1e-12)
    final = result.rows[-1]
    assert final.selected and final.scored_on == "test" and final.n_test == len(test_rows)
    assert result.summary().selection.selected_on.startswith("cross-validation of the training part (3 folds")


@pytest.mark.slow
def test_optuna_prunes_trials_as_its_own_pruner_decides_on_their_curves(tmp_path):
    optuna = pytest.importorskip("optuna")
    from digitclf.records import read_curve
    from digitclf.sweep.search import REPORT_EVERY, make_pruner

    config = write_search(tmp_path, "optuna", "  trials: 10\n").read_text()
    config = config.replace("{loguniform: [0.01, 10]}", "{loguniform: [0.0001, 10]}")
    (tmp_path / "search.yaml").write_text(config)
    result = run_sweep(plan_sweep(tmp_path / "search.yaml", outputs=tmp_path / "out"))
    trials, final = result.rows[:-1], result.rows[-1]
    pruned = [row for row in trials if row.pruned]
    assert pruned and len(pruned) < len(trials)
    # Optuna's MedianPruner replayed on the recorded curves, trial after trial (--jobs 1 runs them in order)
    replay = optuna.create_study(direction="maximize", pruner=make_pruner("median"))
    for row in trials:
        curve = read_curve(Path(row.run) / "curve.csv")
        trial = replay.ask()
        stopped_at = None
        for point in curve[REPORT_EVERY - 1::REPORT_EVERY]:  # the iterations the fit reported
            trial.report(point.val_accuracy, point.iteration)
            if trial.should_prune():
                stopped_at = point.iteration
                break
        assert (stopped_at is not None) == row.pruned, row.index
        metrics = RunDir(Path(row.run)).metrics()
        if row.pruned:
            assert stopped_at == curve[-1].iteration == metrics.n_iter  # the fit stopped where the pruner said
            assert metrics.stopped_early and metrics.stop_reason == "pruned" and row.status == "complete"
            replay.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            assert metrics.stop_reason is None
            replay.tell(trial, row.accuracy)
    study = optuna.load_study(study_name="digitclf", storage=f"sqlite:///{result.plan.folder / 'study.db'}")
    assert [t.state == optuna.trial.TrialState.PRUNED for t in study.trials] == [row.pruned for row in trials]
    assert [t.intermediate_values for t in study.trials] == [  # what each fit reported, in study.db
        {p.iteration: p.val_accuracy for p in read_curve(Path(row.run) / "curve.csv")[REPORT_EVERY - 1::REPORT_EVERY]}
        for row in trials]
    assert [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE] == [
        row.accuracy for row in trials if not row.pruned]
    # never the winner, even when its accuracy at the stop would rank first
    assert final.selected and not trials[final.selected_from - 1].pruned
    summary = json.loads((result.plan.folder / "summary.json").read_text())
    assert [p["pruned"] for p in summary["points"][:-1]] == [row.pruned for row in trials]
    from digitclf.cli.sweep_cmd import format_summary

    lines = format_summary(result).splitlines()
    statuses = {int(line.split()[0].rstrip("*")): line.split()[2] for line in lines[1:len(result.rows) + 1]}
    assert statuses == {row.index: "pruned" if row.pruned else "complete" for row in result.rows}
    assert lines[-2] == (f"sweep {result.plan.id}: {len(result.rows)} complete ({len(result.rows)} ran now); "
                         f"{len(pruned)} pruned: stopped early by the pruner, never selected")
    # resume: every trial, pruned or not, is reused and the study is unchanged
    again = run_sweep(plan_sweep(tmp_path / "search.yaml", outputs=tmp_path / "out"))
    assert [row.action for row in again.rows] == ["reused"] * len(result.rows)
    assert [row.pruned for row in again.rows] == [row.pruned for row in result.rows]
    study = optuna.load_study(study_name="digitclf", storage=f"sqlite:///{result.plan.folder / 'study.db'}")
    assert len(study.trials) == len(trials)
    assert [t.state == optuna.trial.TrialState.PRUNED for t in study.trials] == [row.pruned for row in trials]


def test_a_trial_reporter_reports_to_study_db_and_stops_where_the_median_pruner_says(tmp_path):
    optuna = pytest.importorskip("optuna")
    import warnings

    from digitclf.curves import FitProgress, StopFit
    from digitclf.sweep.search import REPORT_EVERY, TrialLink, TrialReporter, open_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="digitclf", storage=open_storage(url), direction="maximize")
    for _ in range(5):  # five finished trials whose curve rises: 0.8 at the first reported step, then 0.9
        trial = study.ask()
        for step in range(REPORT_EVERY, 101, REPORT_EVERY):
            trial.report(0.8 if step == REPORT_EVERY else 0.9, step)
        study.tell(trial, 0.9)
    resumed = study.ask()  # a trial a stopped sweep had started: it reported the first step already
    resumed.report(0.85, REPORT_EVERY)
    reporter = TrialReporter(TrialLink(url, resumed.number, "median"))

    stopped_at = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "step already reported" warning for the step it had
        for step in range(1, 101):
            try:
                reporter.on_iteration(FitProgress(step, 100, 0.0, 0.85))  # above 0.8, below 0.9
            except StopFit as exc:
                assert exc.reason == "pruned"
                stopped_at = step
                break
    assert stopped_at == 2 * REPORT_EVERY
    assert optuna.load_study(study_name="digitclf", storage=url).trials[resumed.number].intermediate_values == {
        REPORT_EVERY: 0.85, 2 * REPORT_EVERY: 0.85}
    # Optuna's own pruner on the stored trial agrees
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    stored = optuna.load_study(study_name="digitclf", storage=url)
    assert pruner.prune(stored, stored.trials[resumed.number])


@pytest.mark.slow
def test_a_damaged_study_is_one_error_and_moving_it_away_starts_afresh_reusing_runs(tmp_path):
    import os

    from digitclf.errors import RunError

    pytest.importorskip("optuna")
    config = write_search(tmp_path, "optuna", "  trials: 2\n")
    first = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    db = first.plan.folder / "study.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    fresh = "move it away to start the search afresh (finished runs of the same values are reused)"
    db.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(RunError) as caught:
        plan_sweep(config, outputs=tmp_path / "out")
    assert str(caught.value) == f"{db} is damaged or not an Optuna study (file is not a database); {fresh}"
    db.unlink()
    os.mkfifo(db)
    with pytest.raises(RunError) as caught:
        plan_sweep(config, outputs=tmp_path / "out")
    assert str(caught.value) == f"{db} is a FIFO, not an Optuna study; {fresh}"
    db.unlink()
    again = run_sweep(plan_sweep(config, outputs=tmp_path / "out"))
    assert [row.action for row in again.rows[:2]] == ["reused", "reused"]
    assert [row.run for row in again.rows[:2]] == [row.run for row in first.rows[:2]]


@pytest.mark.slow
def test_two_optuna_sweeps_of_one_study_at_once_both_finish_and_ask_for_trials_only(tmp_path):
    """Started together, they used to collide creating the study (one failed on Optuna's schema set-up); now
    both finish and the study holds exactly ``trials`` trials."""
    import subprocess
    import sys

    optuna = pytest.importorskip("optuna")
    config = write_search(tmp_path, "optuna", "  trials: 6\n")
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        command = [sys.executable, "-m", "digitclf", "sweep", "-c", str(config), "-o", str(out), "-q"]
        both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in both]
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        (db,) = (out / "sweeps").glob("*/study.db")
        study = optuna.load_study(study_name="digitclf", storage=f"sqlite:///{db}")
        assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 6
