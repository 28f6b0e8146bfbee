"""saved.compare: which settings changed between runs, and McNemar's test on their predictions."""

from __future__ import annotations

import numpy as np
import pytest

from digitclf.runs import load_split
from digitclf.saved import compare as compare_mod
from helpers import run_of


def test_compare_flags_exactly_the_changed_keys(saved):
    result = compare_mod.compare([run_of(saved.lbfgs), run_of(saved.c10)], only_changed=True)
    changed_config = [key.split(":", 1)[1] for key in result["changed"] if key.startswith("config:")]
    assert sorted(changed_config) == ["model.params.C", "name", "output.plots"]  # what the fixture changed
    assert result["sections"]["config"] == {"name": ["digits_lbfgs", "digits_c10"], "output.plots": [True, False],
                                            "model.params.C": [None, 10]}
    assert result["sections"]["data"] == {}
    full = compare_mod.compare([run_of(saved.lbfgs), run_of(saved.c10)])
    assert full["sections"]["config"]["seed"] == [0, 0] and full["changed"] == result["changed"]


def test_mcnemar_p_value_matches_an_independent_computation(saved):
    from scipy.stats import binom

    a, b = load_split(run_of(saved.lbfgs)), load_split(run_of(saved.c10))
    assert np.array_equal(a.y_test, b.y_test)
    right_a, right_b = a.y_pred == a.y_test, b.y_pred == b.y_test
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    expected = min(1.0, 2 * binom.cdf(min(only_a, only_b), only_a + only_b, 0.5))
    test = compare_mod.compare([run_of(saved.lbfgs), run_of(saved.c10)])["tests"][0]
    assert (test["a_only_correct"], test["b_only_correct"]) == (only_a, only_b)
    assert test["p_value"] == pytest.approx(expected, rel=1e-12)
    # a case where the answer is known by hand: 0 vs 6 discordant images -> p = 2 / 2**6
    y = np.zeros(10, int)
    assert compare_mod.mcnemar(y, y, np.r_[np.ones(6, int), np.zeros(4, int)])["p_value"] == pytest.approx(2 / 64)
