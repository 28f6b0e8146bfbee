"""The app around the commands: --debug (shell completion: test_completion.py)."""

from __future__ import annotations

import pytest


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "train", "-c", "digits_lbfgs", "--set", "seed=x")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Error: configs/digits_lbfgs.yaml: seed: must be a whole number, got the text 'x'"


def test_json_output_is_strict_json_with_non_finite_numbers_as_null(capsys):
    """Every command's --json goes through echo_json: no Infinity or NaN tokens, which strict parsers refuse."""
    import json as std_json

    import numpy as np

    from digitclf.cli.app import echo_json

    echo_json({"t": float("inf"), "p": [np.float64("nan"), 0.5, (1.0, -float("inf"))], "n": 3, "s": "inf"})
    text = capsys.readouterr().out
    assert std_json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON token {token}")) == {
        "t": None, "p": [None, 0.5, [1.0, None]], "n": 3, "s": "inf"}
