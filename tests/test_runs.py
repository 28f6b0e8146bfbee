"""The run store: every run gets its own folder, and ``latest`` follows the newest complete one."""

from __future__ import annotations

from pathlib import Path

import pytest

from digitclf.config import load_config
from digitclf.runner import train


def test_two_runs_never_share_a_folder():
    cfg = load_config("digits_lbfgs", ["model.params.max_iter=5"])
    first = train(cfg).run.path
    second = train(cfg).run.path
    assert first != second and first.parent == second.parent
    assert Path("outputs/latest").resolve() == second.resolve()


def test_records_no_process_or_parser_can_take_are_damaged_or_abandoned(tmp_path):
    """A pid beyond any process (os.kill would overflow) and a run.json nested past the parser's depth."""
    import json

    from digitclf.config import load_config
    from digitclf.errors import RunError
    from digitclf.runs import RunDir

    run = RunDir.create(tmp_path / "outputs", "digits_lbfgs", "20990101-000000-pid000")
    run.start(load_config())
    record = json.loads(run.file("run.json").read_text())
    record["pid"] = 2**70
    run.file("run.json").write_text(json.dumps(record))
    assert run.status() == "abandoned"
    run.file("run.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(RunError, match="nested too deeply"):
        run.record()
    assert run.state() == "damaged"
