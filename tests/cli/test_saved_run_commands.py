"""What every command on a saved run shares: the RUN argument (none yet, unknown, unfinished) and --out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from digitclf.runs import iter_runs
from helpers import make_unfinished, one_error_line


COMMANDS = [("evaluate",), ("plot-errors",), ("predict", "digit.png"), ("report",), ("compare", "x")]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_empty_outputs_folder_is_one_error_line(command, cli, tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "digit.png")
    args = (command[0], "nosuch", "other") if command[0] == "compare" else command
    result = cli(*args)
    assert result.exit_code == 2
    expected = ("Error: no run matches 'nosuch' in outputs/; outputs/ has no runs yet" if command[0] == "compare" else
                "Error: no complete run in outputs/; train one first: digitclf train --config configs/digits_lbfgs.yaml")
    assert one_error_line(result) == expected
    runs = cli("runs")
    assert runs.exit_code == 2 and one_error_line(runs) == (
        "Error: no runs in outputs/; train one first: digitclf train --config configs/digits_lbfgs.yaml")


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_unknown_and_unfinished_runs_are_one_error_line(command, saved, cli, tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "digit.png")
    newest = iter_runs(Path("outputs"))[-1].id
    extra = ("other",) if command[0] == "compare" else command[1:]
    unknown = cli(command[0], "nosuch", *extra)
    assert unknown.exit_code == 2
    assert one_error_line(unknown) == f"Error: no run matches 'nosuch' in outputs/; see 'digitclf runs' (newest: {newest})"
    for status in ("failed", "abandoned"):
        run = make_unfinished("failed" if status == "failed" else "running")
        result = cli(command[0], run.id, *(extra if command[0] != "compare" else (saved.lbfgs,)))
        assert result.exit_code == 2
        assert one_error_line(result) == (f"Error: run {run.id} is {status}, not complete; it has no usable results "
                                          "(train it again, or prune it with 'digitclf runs --prune')")
        shutil.rmtree(run.path)


@pytest.mark.parametrize("args", [("plot-errors", "--out", "nodir/x.png"), ("report", "--out", "nodir/x.png")])
def test_missing_output_folder_is_one_error_line(saved, cli, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert one_error_line(result) == "Error: cannot write nodir/x.png: the folder nodir does not exist; create it first"
