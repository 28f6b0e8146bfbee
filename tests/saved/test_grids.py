"""saved.grids: which mistakes are shown, in what order, and how they are titled."""

from __future__ import annotations

import numpy as np

from digitclf.runs import load_split
from digitclf.saved import grids as grids_mod
from helpers import run_of


def test_errors_sorted_by_confidence_and_titled_like_the_seed(saved):
    run = run_of(saved.lbfgs)
    split = load_split(run)
    chosen = grids_mod.select_errors(split, n=5, sort="confidence")
    wrong = np.flatnonzero(split.y_test != split.y_pred)
    confidence = split.proba[wrong].max(axis=1)
    assert np.allclose(chosen.confidence, np.sort(confidence)[::-1][:5])
    assert np.array_equal(chosen.y_true, split.y_test[wrong[np.argsort(-confidence, kind="stable")[:5]]])
    in_order = grids_mod.select_errors(split, n=3, sort="index")
    assert np.array_equal(in_order.test_position, wrong[:3])
    ax = grids_mod.error_grid(run, n=3, sort="index")
    titles = [text.get_text() for text in ax.texts]
    assert titles[0] == (f"Predicted: {split.y_pred[wrong[0]]}, Actual: {split.y_test[wrong[0]]}\n"
                         f"p={split.proba[wrong[0]].max():.2f}")
    assert [image.get_array().shape for image in ax.images] == [(8, 8)] * 3
