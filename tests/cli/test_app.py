"""The app around the commands: --debug (shell completion: test_completion.py)."""

from __future__ import annotations


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "train", "-c", "digits_lbfgs", "--set", "seed=x")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Error: configs/digits_lbfgs.yaml: seed: must be a whole number, got the text 'x'"
