"""saved.evaluate: a saved model scored again reproduces its train-time results exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitclf.runs import load_model
from digitclf.saved import evaluate as evaluate_mod
from helpers import png_size, run_of


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # the seed's 100 iterations
def test_evaluate_reproduces_train_time_accuracy_exactly(saved):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    run = run_of(saved.lbfgs)
    result = evaluate_mod.evaluate(run)
    recorded = run.metrics().to_json()
    assert result["accuracy"] == recorded["accuracy"]
    assert result["matches_recorded"] is True and result["changed_predictions"] == 0
    # independently: the seed tutorial's own code
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target, test_size=0.25, random_state=0)
    expected = LogisticRegression(solver="lbfgs", random_state=0).fit(x_train, y_train).predict(x_test)
    assert result["accuracy"] == np.mean(expected == y_test)
    assert result["confusion_matrix"] == confusion_matrix(y_test, expected).tolist()
    assert json.loads(run.file("evaluation.json").read_text())["accuracy"] == result["accuracy"]
    run.verify("confusion_matrix.png")  # refreshed, and its new sha256 recorded
    assert png_size(run.file("confusion_matrix.png")) == (800, 800)  # 8 inches (10 classes) at 100 dpi
    training = evaluate_mod.evaluate(run, split="train", save=False)
    model = load_model(run)
    assert training["n_test"] == len(y_train) and training["accuracy"] == model.score(x_train, y_train)


def test_evaluate_mnist_format_run_reproduces_accuracy(saved):
    run = run_of(saved.idx)
    result = evaluate_mod.evaluate(run, save=False)
    assert result["accuracy"] == run.metrics().to_json()["accuracy"] == 1 - 8 / 50
