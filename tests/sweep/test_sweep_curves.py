"""sweep --curves: the overlaid curves and the doubling max_iter ladder (digitclf.sweep.curves)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import png_size

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_ladder_doubles_up_to_max_iter():
    from digitclf.sweep.curves import ladder

    assert ladder(1) == [1] and ladder(8) == [1, 2, 4, 8] and ladder(100) == [1, 2, 4, 8, 16, 32, 64, 100]


@pytest.mark.slow  # seven digits runs
def test_sweep_curves_ladders_the_solver_without_callbacks_and_reuses_it(cli):
    from digitclf.records import read_curve

    args = ["sweep", "--set", "preprocess=[scale]", "--set", "model.params.max_iter=4",
            "--grid", "model.params.solver=lbfgs,saga", "--curves"]
    first = cli(*args)
    assert first.exit_code == 0, first.output
    line = next(x for x in first.stderr.splitlines() if x.startswith("curves    "))
    assert re.search(r"curves\.png: 2 curves; max_iter ladder: 3 extra fits, [\d.]+s extra$", line)
    folder = Path(line.split()[1].rstrip(":")).parent
    assert png_size(folder / "curves.png")[0] > 600
    rungs = sorted(p for p in (folder / "ladder" / "digits_lbfgs").iterdir() if not p.name.startswith("."))
    assert [p.name.rsplit("-", 1)[1] for p in rungs] == ["max_iter1", "max_iter2", "max_iter4"]
    # the top rung is the saga point's own config: the same slice, the same model, the same score
    saga = next(r for r in Path("outputs/digits_lbfgs").glob("pt-*") if r.name == rungs[-1].name.rsplit("-", 1)[0])
    same = [[(p.iteration, p.val_accuracy, p.val_log_loss) for p in read_curve(run / "curve.csv")]
            for run in (rungs[-1], saga)]
    assert same[0] == same[1]
    lbfgs_points = [len(read_curve(p / "curve.csv")) for p in Path("outputs/digits_lbfgs").glob("pt-*")]
    assert sorted(lbfgs_points) == [1, 4]  # saga's one final point, lbfgs's four iterations
    again = cli(*args)
    assert "max_iter ladder: 0 extra fits, 0.0s extra" in again.stderr
