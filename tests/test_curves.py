"""Convergence curves, early stopping and time budgets (digitclf.curves, digitclf.stopping) on digits.

The curve is checked against refits with ``max_iter=k``; the stopping rule against an independent
replay of the recorded accuracies; the test set against a spy on every prediction.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from helpers import one_error_line, train

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def digits_slices(validation_fraction: float = 0.1, seed: int = 0):
    """The digits config's training rows split into fit and validation rows, scaled, computed with
    scikit-learn directly (the config's split: test_size 0.25, random_state 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0)
    rows = np.arange(len(y_train))
    fit, val = train_test_split(rows, test_size=validation_fraction, random_state=seed, stratify=y_train)
    fit, val = np.sort(fit), np.sort(val)
    scale = np.float32(1 / 16)
    return (X_train[fit].astype(np.float32) * scale, y_train[fit],
            X_train[val].astype(np.float32) * scale, y_train[val])


def refit(max_iter: int, X, y):
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(solver="lbfgs", max_iter=max_iter, random_state=0).fit(X, y)


def test_curve_matches_refits_stopped_at_each_iteration(tmp_path):
    from sklearn.metrics import accuracy_score, log_loss

    from digitclf.records import read_curve

    result = train(tmp_path, "preprocess=[scale]", "output.curve=true", "model.params.max_iter=12")
    points = read_curve(result.run.file("curve.csv"))
    X_fit, y_fit, X_val, y_val = digits_slices()
    assert result.metrics.n_train == len(y_fit) and result.metrics.n_validation == len(y_val)
    assert [p.iteration for p in points] == list(range(1, 13))
    for k in (1, 4, 12):
        model = refit(k, X_fit, y_fit)
        assert points[k - 1].val_accuracy == pytest.approx(accuracy_score(y_val, model.predict(X_val)), abs=1e-12)
        assert points[k - 1].val_log_loss == pytest.approx(log_loss(y_val, model.predict_proba(X_val)), rel=1e-5)
    walls = [p.wall_seconds for p in points]
    assert walls == sorted(walls) and walls[0] >= 0
    assert not result.metrics.stopped_early and result.metrics.best_iteration is None


def replay_patience(accuracies: list[float], patience: int, min_delta: float) -> tuple[int, int]:
    """(iteration it stops at, best iteration): Keras' rule written out again from its definition."""
    best, best_at, waited = -1.0, 0, 0
    for iteration, score in enumerate(accuracies, start=1):
        if score - min_delta > best:
            best, best_at, waited = score, iteration, 0
        else:
            waited += 1
            if waited == patience:
                return iteration, best_at
    return len(accuracies), best_at


def test_early_stopping_stops_where_the_rule_says_and_keeps_the_best_model(tmp_path):
    from digitclf.records import read_curve
    from digitclf.runs import load_model

    result = train(tmp_path, "preprocess=[scale]", "model.params.max_iter=200",
                   "model.early_stopping={patience: 3, min_delta: 0.005, validation_fraction: 0.2}")
    m = result.metrics
    points = read_curve(result.run.file("curve.csv"))  # on by default with early stopping
    stop, best = replay_patience([p.val_accuracy for p in points], 3, 0.005)
    assert m.stopped_early and m.stop_reason == "patience"
    assert (m.n_iter, m.best_iteration) == (stop, best) == (len(points), best)
    assert stop < 200
    X_fit, y_fit, X_val, y_val = digits_slices(0.2)
    kept = load_model(result.run).named_steps["clf"]
    np.testing.assert_allclose(kept.coef_, refit(best, X_fit, y_fit).coef_, rtol=1e-5, atol=1e-6)
    with pytest.raises(AttributeError):
        kept._skl_callbacks  # the saved model carries no callback (nor the validation slice)


def test_the_test_set_is_only_predicted_after_the_fit(tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    events: list[tuple[str, int]] = []
    fit, proba, predict = LogisticRegression.fit, LogisticRegression.predict_proba, LogisticRegression.predict

    def fit_logged(self, X, y, *args, **kwargs):
        events.append(("fit", len(X)))
        fitted = fit(self, X, y, *args, **kwargs)
        events.append(("fit ended", len(X)))
        return fitted

    def logged(name, method):
        def call(self, X, *args, **kwargs):
            events.append((name, len(X)))
            return method(self, X, *args, **kwargs)
        return call

    monkeypatch.setattr(LogisticRegression, "fit", fit_logged)
    monkeypatch.setattr(LogisticRegression, "predict_proba", logged("predict_proba", proba))
    monkeypatch.setattr(LogisticRegression, "predict", logged("predict", predict))
    result = train(tmp_path, "preprocess=[scale]", "model.early_stopping={}", "model.params.max_iter=30")
    n_fit, n_val, n_test = result.metrics.n_train, result.metrics.n_validation, result.metrics.n_test
    start = events.index(("fit", n_fit))  # preflight's dry fit on 30 rows comes before
    end = events.index(("fit ended", n_fit))
    assert n_val not in (n_fit, n_test) and end - start - 1 == result.metrics.n_iter
    assert all(e == ("predict_proba", n_val) for e in events[start + 1:end])  # the slice, once per iteration
    assert events[end + 1:] == [("predict", n_test), ("predict_proba", n_test)]  # then the final score only


def test_time_budget_stops_after_the_first_iteration_that_ends_outside_it(tmp_path):
    result = train(tmp_path, "preprocess=[scale]", "model.time_budget=1e-9")
    m = result.metrics
    assert (m.stopped_early, m.stop_reason, m.n_iter, m.best_iteration) == (True, "time_budget", 1, None)
    assert m.n_validation == 0 and "curve.csv" not in result.run.record().artifacts  # a budget alone scores nothing


def test_mlp_uses_its_own_early_stopping(tmp_path):
    result = train(tmp_path, "preprocess=[scale]", "model.estimator=mlp",
                   "model.params={hidden_layer_sizes: [16], max_iter: 200}",
                   "model.early_stopping={patience: 2, min_delta: 0.01, validation_fraction: 0.15}")
    from digitclf.records import read_curve
    from digitclf.runs import load_model

    mlp = load_model(result.run).named_steps["clf"]
    assert (mlp.early_stopping, mlp.n_iter_no_change, mlp.tol, mlp.validation_fraction) == (True, 2, 0.01, 0.15)
    m = result.metrics
    assert m.stopped_early and m.n_iter == mlp.n_iter_ < 200
    assert m.best_iteration == int(np.argmax(mlp.validation_scores_)) + 1
    assert [p.val_accuracy for p in read_curve(result.run.file("curve.csv"))] == mlp.validation_scores_
    assert m.n_train == 1347  # MLP holds out its own slice from what it is given


@pytest.mark.parametrize(("overrides", "line"), [
    (["model.estimator=knn", "model.time_budget=5"],
     "Error: model.time_budget: KNeighborsClassifier reports no iterations to scikit-learn's callbacks, so a budget "
     "cannot stop it; use logistic_regression with solver lbfgs, or remove time_budget"),
    (["model.params.solver=saga", "model.early_stopping={}"],
     "Error: model.early_stopping: LogisticRegression(solver=saga) has neither per-iteration callbacks nor its own "
     "early_stopping; use logistic_regression (lbfgs), sgd or mlp, or remove early_stopping"),
    (["model.estimator=sgd", "model.params.tol=0.1", "model.early_stopping={}"],
     "Error: model.params.tol: model.early_stopping sets it for SGDClassifier; give the stopping rule in one place"),
    (["model.early_stopping={patience: 0}"],
     "Error: config: model.early_stopping.patience: input should be greater than or equal to 1, got 0"),
])
def test_stopping_the_estimator_cannot_honour_is_refused_before_any_data(cli, overrides, line):
    args = [arg for o in overrides for arg in ("--set", o)]
    result = cli("train", *args)
    assert result.exit_code == 2 and one_error_line(result) == line
    assert not list((__import__("pathlib").Path("outputs")).glob("*/*"))


def test_cli_progress_lines_curve_switch_and_json(cli, monkeypatch):
    from digitclf.cli import train_cmd

    monkeypatch.setattr(train_cmd, "PLAIN_EVERY", 0.0)  # a line per iteration when stderr is not a terminal
    result = cli("train", "--set", "preprocess=[scale]", "--set", "model.params.max_iter=5", "--curve")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("- fit: iteration")]
    assert [line.split(",")[0] for line in lines] == [f"- fit: iteration {i}/5" for i in range(1, 6)]
    assert "val accuracy 0." in lines[0] and "s elapsed" in lines[0]
    quiet = cli("train", "--set", "preprocess=[scale]", "--curve", "--json", "--no-curve", "--time-budget", "100")
    assert quiet.exit_code == 0 and "iteration" not in quiet.stderr
    metrics = json.loads(quiet.stdout)
    assert (metrics["stopped_early"], metrics["n_validation"], metrics["stop_reason"]) == (False, 0, None)


def test_evaluate_report_and_api_read_the_curve_back(tmp_path):
    import digitclf
    from digitclf.report import build
    from digitclf.saved.evaluate import evaluate

    result = train(tmp_path, "preprocess=[scale]", "model.early_stopping={patience: 2}")
    run = digitclf.load_run(result.run.path)
    assert [p.iteration for p in run.curve] == list(range(1, result.metrics.n_iter + 1))
    assert run.plot_curve().get_xlabel() == "iteration"
    summary = evaluate(result.run, save=False)["curve"]
    assert summary["kept_iteration"] == result.metrics.best_iteration
    assert summary["best_val_accuracy"] == max(p.val_accuracy for p in run.curve)
    assert build([result.run]).count("data:image/png") == 4  # scatter, confusion, mistakes, curve
    plain = train(tmp_path, "preprocess=[scale]")
    assert evaluate(plain.run, save=False)["curve"] is None and not (plain.run.path / "curve.csv").exists()


def test_curve_csv_reads_back_and_a_damaged_one_is_one_error(tmp_path):
    from digitclf.errors import RunError
    from digitclf.records import CurvePoint, curve_csv, read_curve

    points = [CurvePoint(iteration=1, wall_seconds=0.5, val_accuracy=0.75, val_log_loss=0.1),
              CurvePoint(iteration=2, wall_seconds=None, val_accuracy=0.8, val_log_loss=None)]
    path = tmp_path / "curve.csv"
    path.write_text(curve_csv(points))
    assert read_curve(path) == points
    path.write_text("iteration,wall_seconds,val_accuracy,val_log_loss\n1,0.1,1.5,0.2\n")
    with pytest.raises(RunError, match=r"curve.csv does not hold what digitclf wrote \(val_accuracy"):
        read_curve(path)


def test_digest_takes_early_stopping_and_time_budget_only_when_set():
    from digitclf.config import load_config

    plain = load_config("digits_lbfgs")
    stopping = load_config("digits_lbfgs", ["model.early_stopping={}"])
    budget = load_config("digits_lbfgs", ["model.time_budget=5"])
    assert len({plain.digest(), stopping.digest(), budget.digest()}) == 3
    assert load_config("digits_lbfgs", ["output.curve=false"]).digest() == plain.digest()  # outputs are not in it
    # ... but a curve is: its validation slice is held out of the fit, so the model differs
    assert load_config("digits_lbfgs", ["output.curve=true"]).digest() != plain.digest()


def test_an_estimator_without_iterations_gets_an_elapsed_ticker(capsys):
    import time

    from digitclf.cli.train_cmd import ConsoleProgress

    progress = ConsoleProgress(quiet=False, every=0.01)
    progress.on_phase("fit", "RandomForestClassifier on 1,347 images")
    deadline = time.monotonic() + 5
    while "elapsed" not in capsys.readouterr().err and time.monotonic() < deadline:
        time.sleep(0.02)
    progress.on_phase("predict")
    assert progress.ticker is None and time.monotonic() < deadline  # a ticker line came, and stopped with the phase
    time.sleep(0.05)
    assert "elapsed" not in capsys.readouterr().err.split("- predict")[-1]
