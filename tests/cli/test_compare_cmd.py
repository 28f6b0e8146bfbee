"""`digitclf compare`: the side-by-side table and the paired tests."""

from __future__ import annotations

import json

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
