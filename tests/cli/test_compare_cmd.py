"""`digitclf compare`: the side-by-side table and the paired tests."""

from __future__ import annotations

import json

import pytest

from helpers import one_error_line


def test_compare_cli(saved, cli):
    result = cli("compare", saved.lbfgs, saved.c10, saved.idx, "--only-changed")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [f"A = digits_lbfgs/{saved.lbfgs}", f"B = digits_c10/{saved.c10}", f"C = idx_run/{saved.idx}"]
    assert any(line.startswith("* model.params.C ") for line in lines)
    assert "  A vs C: not tested (different data or test split: a paired test needs the same test images)" in lines
    assert any(line.startswith("  A vs B: ") and ", p = " in line for line in lines)
    data = json.loads(cli("compare", saved.lbfgs, saved.c10, "--json").stdout)
    assert data["tests"][0]["method"].startswith("McNemar exact test")
    one = cli("compare", saved.lbfgs)
    assert one.exit_code == 2 and one_error_line(one) == (
        "Error: compare needs at least two runs, e.g. digitclf compare RUN_A RUN_B")


@pytest.mark.slow
def test_compare_cli_uses_the_corrected_t_test_for_cross_validated_runs(cli, saved):
    from digitclf.saved.compare import corrected_t_test

    common = ("--set", "split.kind=kfold", "--set", "split.n_splits=3", "--set", "model.estimator=knn",
              "--set", "output.plots=false", "--json")
    runs = [json.loads(cli("train", *common, "--set", f"model.params.n_neighbors={k}", "--set", f"name=knn{k}").stdout)
            for k in (1, 9)]
    ids = [run["run_id"] for run in runs]
    result = cli("compare", *ids, saved.lbfgs)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    folds = [run["cv"] for run in runs]
    expected = corrected_t_test(folds[0]["fold_accuracy"], folds[1]["fold_accuracy"], folds[0]["fold_n_train"][0],
                                folds[0]["fold_n_test"][0])
    verdict = "a real difference" if expected["p_value"] < 0.05 else "no evidence of a difference"
    assert lines[lines.index(expected["method"] + ":") + 1] == (
        f"  A vs B: mean fold accuracy difference {expected['accuracy_difference']:+.4f} over 3 folds, "
        f"t = {expected['t']:.3g}, p = {expected['p_value']:.4g} ({verdict} at the 5% level; "
        "both runs are cross-validated on the same folds)")
    assert any(line.startswith("  A vs C: not tested (a cross-validated run is compared with the corrected t-test")
               for line in lines)
