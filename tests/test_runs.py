"""The run store: every run gets its own folder, and ``latest`` follows the newest complete one."""

from __future__ import annotations

import os
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


def test_a_fixed_run_id_supersedes_the_previous_folder_and_deletes_nothing():
    from digitclf.runs import RunDir, make_way

    cfg = load_config("digits_lbfgs", ["model.params.max_iter=5", "output.plots=false"])
    first = train(cfg, run_id="fixed").run
    first_bytes = {p.name: p.read_bytes() for p in first.path.iterdir()}
    first.file("notes.txt").write_text("mine")  # a file digitclf did not write moves along too
    aside = make_way(first.path)
    assert aside.parent.resolve() == Path("outputs/digits_lbfgs/.superseded").resolve()
    assert aside.name.startswith("fixed-") and not first.path.exists()
    assert {p.name: p.read_bytes() for p in aside.iterdir() if p.name != "notes.txt"} == first_bytes
    assert (aside / "notes.txt").read_text() == "mine"
    assert Path(os.path.realpath("outputs/latest")) == aside.resolve()  # latest stays usable meanwhile
    second = train(cfg, run_id="fixed").run
    assert Path(os.path.realpath("outputs/latest")) == second.path.resolve()
    assert RunDir(aside).record().status == "complete" and second.status() == "complete"
    assert make_way(Path("outputs/digits_lbfgs/never-made")) is None


def test_make_way_refuses_a_running_run_and_what_is_not_a_run_folder(tmp_path):
    from digitclf.errors import RunError
    from digitclf.runs import RunDir, make_way

    run = RunDir.create(tmp_path / "outputs", "digits_lbfgs", "busy")
    run.start(load_config())  # this process: alive
    with pytest.raises(RunError) as caught:
        make_way(run.path)
    assert str(caught.value) == (f"run digits_lbfgs/busy is still running (pid {os.getpid()}); wait for it to end, "
                                 "or choose another --run-id")
    assert run.path.is_dir()
    (tmp_path / "outputs/digits_lbfgs/afile").write_text("x")
    with pytest.raises(RunError, match="afile is a file, not a run folder; move it away or choose another --run-id"):
        make_way(tmp_path / "outputs/digits_lbfgs/afile")


def test_creating_a_fixed_run_id_supersedes_a_finished_run_and_refuses_one_in_progress(tmp_path):
    """RunDir.create decides under the run-id lock, so a process that skipped make_way (or raced it) is safe too."""
    from digitclf.errors import RunBusyError
    from digitclf.runs import RunDir

    outputs = tmp_path / "outputs"
    done = RunDir.create(outputs, "digits_lbfgs", "fixed")
    done.start(load_config())
    done.finish("failed")
    again = RunDir.create(outputs, "digits_lbfgs", "fixed")  # the failed run moves aside
    (aside,) = (outputs / "digits_lbfgs/.superseded").iterdir()
    assert RunDir(aside).record().status == "failed" and again.path == done.path
    again.start(load_config())  # this process: alive, running
    with pytest.raises(RunBusyError) as caught:
        RunDir.create(outputs, "digits_lbfgs", "fixed")
    assert caught.value.exit_code == 1
    assert str(caught.value) == (f"run digits_lbfgs/fixed is still running (pid {os.getpid()}); wait for it to end, "
                                 "or choose another --run-id")
    assert again.record().status == "running" and len(list(aside.parent.iterdir())) == 1


def test_a_run_id_lock_held_too_long_is_one_error_naming_it(tmp_path, monkeypatch):
    from digitclf import runs
    from digitclf.errors import RunBusyError

    monkeypatch.setattr(runs, "LOCK_WAIT", 0.2)
    (tmp_path / "outputs/digits_lbfgs").mkdir(parents=True)
    held = runs.lock_run_ids(tmp_path / "outputs/digits_lbfgs")  # another open file: flock refuses it like a process
    try:
        with pytest.raises(RunBusyError) as caught:
            runs.RunDir.create(tmp_path / "outputs", "digits_lbfgs", "fixed")
    finally:
        held.close()
    lock = tmp_path / "outputs/digits_lbfgs/.run-ids.lock"
    assert str(caught.value) == (f"another process has held {lock} for 0.2 s while claiming a run folder there; "
                                 "try again, or choose another --run-id")
    assert not (tmp_path / "outputs/digits_lbfgs/fixed").exists()
    runs.RunDir.create(tmp_path / "outputs", "digits_lbfgs", "fixed").start(load_config())  # free again
