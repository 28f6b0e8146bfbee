"""`digitclf plot-errors` and `digitclf plot-samples`: the PNGs decoded and measured."""

from __future__ import annotations

from pathlib import Path

from digitclf.saved import grids as grids_mod
from helpers import one_error_line, png_size


def test_plot_errors_grid_for_8x8_and_28x28(saved, cli):
    result = cli("plot-errors", saved.lbfgs, "--n", "7", "--cols", "4", "--out", "digits_errors.png")
    assert result.exit_code == 0, result.output
    assert result.stdout == "digits_errors.png\n"
    assert png_size(Path("digits_errors.png")) == (1040, 525)  # 4 x 2 cells of 2.6 x 2.55 in + 0.15 in, 100 dpi
    default = cli("plot-errors", saved.idx, "--sort", "confidence")
    assert default.exit_code == 0, default.output
    assert png_size(Path(f"misclassified-{saved.idx}.png")) == (1300, 525)  # the 8 mistakes, 5 per row


def test_plot_samples_digits_and_idx(saved, cli):
    result = cli("plot-samples", "--dataset", "digits", "--out", "samples.png")
    assert result.exit_code == 0, result.output
    assert png_size(Path("samples.png")) == (1300, 270)  # one row of 5
    titles = [text.get_text() for text in grids_mod.sample_grid("digits", n=3).texts]
    assert titles == ["Training: 0", "Training: 1", "Training: 2"]
    idx = cli("plot-samples", "--dataset", str(saved.idx_b), "--n", "10")
    assert idx.exit_code == 0 and idx.stdout == "samples-idx_b.png\n"
    assert png_size(Path("samples-idx_b.png")) == (1300, 525)
    unknown = cli("plot-samples", "--dataset", "digitz")
    assert unknown.exit_code == 2 and one_error_line(unknown).startswith(
        "Error: --dataset: 'digitz' is neither a known data set (did you mean 'digits'?)")
