"""choices: the one source of the CLI's choices; every command offers exactly these values."""

from __future__ import annotations

from digitclf import plots
from helpers import one_error_line


def test_cli_choices_come_from_the_library(cli):
    from digitclf import choices

    offered = {("evaluate", "--style"): choices.STYLES, ("report", "--style"): choices.STYLES,
               ("evaluate", "--normalize"): choices.NORMALIZE, ("report", "--normalize"): choices.NORMALIZE,
               ("evaluate", "--split"): choices.SPLITS, ("plot-errors", "--sort"): choices.ERROR_ORDERS,
               ("runs", "--format"): choices.FORMATS}
    assert plots.STYLES == choices.STYLES and plots.NORMALIZE == choices.NORMALIZE
    for (command, option), allowed in offered.items():
        result = cli(command, option, "nonsense")
        assert result.exit_code == 2
        listed = ", ".join(f"'{value}'" for value in allowed)
        assert f"'nonsense' is not one of {listed}" in one_error_line(result), (command, option)
