"""The app around the commands: --debug and shell completion."""

from __future__ import annotations

from digitclf.cli.app import complete_config, complete_run


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "train", "-c", "digits_lbfgs", "--set", "seed=x")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Error: configs/digits_lbfgs.yaml: seed: must be a whole number, got the text 'x'"


def test_completion_of_config_names_and_run_ids(cli):
    assert "configs/mnist_lbfgs.yaml" in complete_config("configs/mn")
    assert all(name.startswith("configs/mn") for name in complete_config("configs/mn"))
    assert complete_run("") == []
    assert cli("train", "-q", "--set", "output.plots=false", "--set", "model.params.max_iter=5").exit_code == 0
    (run_id,) = complete_run("")
    assert complete_run(run_id[:8]) == [run_id] and complete_run("zzz") == []
