"""The run store: every run gets its own folder, and ``latest`` follows the newest complete one."""

from __future__ import annotations

from pathlib import Path

from digitclf.config import load_config
from digitclf.runner import train


def test_two_runs_never_share_a_folder():
    cfg = load_config("digits_lbfgs", ["model.params.max_iter=5"])
    first = train(cfg).run.path
    second = train(cfg).run.path
    assert first != second and first.parent == second.parent
    assert Path("outputs/latest").resolve() == second.resolve()
