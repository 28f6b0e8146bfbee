"""runner.train: the phases of a run, in their order."""

from __future__ import annotations

import json

import pytest


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_test_set_is_transformed_after_the_fit(cli, monkeypatch):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer

    calls: list[tuple[str, int]] = []
    fit, transform = LogisticRegression.fit, FunctionTransformer.transform

    def fit_logged(self, X, y, *args, **kwargs):
        calls.append(("fit", len(X)))
        return fit(self, X, y, *args, **kwargs)

    def transform_logged(self, X):
        calls.append(("transform", len(X)))
        return transform(self, X)

    monkeypatch.setattr(LogisticRegression, "fit", fit_logged)
    monkeypatch.setattr(FunctionTransformer, "transform", transform_logged)
    result = cli("train", "--set", "preprocess=[scale]", "--json")
    assert result.exit_code == 0, result.output
    run_calls = [call for call in calls if call[1] in (1347, 450)]  # validation's dry fit uses 30 rows
    assert run_calls == [("transform", 1347), ("fit", 1347), ("transform", 450)]
    timings = json.loads(result.stdout)["timings"]
    assert list(timings) == ["load", "split", "preprocess", "fit", "predict", "score"]
