"""Runs survive faults: signals, SIGKILL, concurrency, a full disk, tampering, racing cache fills."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from digitclf import datasets, runs
from digitclf.config import DatasetConfig, load_config
from digitclf.errors import RunError
from digitclf.runner import train

CLI = [sys.executable, "-c", "from digitclf.cli import main; main()"]
SLOW_FIT = ["--set", "model.params={solver: saga, max_iter: 10000000, tol: 0}", "--set", "preprocess=[scale]"]


@pytest.fixture(autouse=True)
def no_leftover_processes(monkeypatch):
    """Every child a test starts is killed at teardown, even when the test fails half-way."""
    started: list[subprocess.Popen] = []
    real = subprocess.Popen

    class Tracked(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Tracked)
    yield
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def run_records(outputs: Path = Path("outputs")) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(outputs.glob("*/*/run.json"))]


def start_slow_train(*extra: str) -> tuple[subprocess.Popen, Path]:
    """A real `digitclf train` whose fit runs for minutes; returns once it is fitting."""
    proc = subprocess.Popen([*CLI, "train", "-c", "digits_lbfgs", *SLOW_FIT, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in Path("outputs").glob("*/*/run.json"):
            record = json.loads(path.read_text() or "{}")
            if record.get("pid") == proc.pid and "dataset" in record:
                time.sleep(0.5)  # past load and split, inside fit
                return proc, path.parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the run never started fitting")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_fit_marks_run_interrupted(sig):
    proc, run = start_slow_train()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "Error: interrupted (Ctrl-C or SIGTERM); a run in progress was recorded as interrupted"
    assert "Traceback" not in stderr
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "interrupted" and record["finished"]
    assert runs.RunDir(run).status() == "interrupted"
    assert not Path("outputs/latest").exists()


@pytest.mark.slow
def test_sigkill_leaves_an_abandoned_run_that_latest_ignores():
    first = train(load_config("digits_lbfgs", ["output.plots=false"])).run.path
    proc, run = start_slow_train()
    proc.kill()
    proc.wait(timeout=30)
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    assert runs.RunDir(run).status() == "abandoned"
    assert Path("outputs/latest").resolve() == first.resolve()
    with pytest.raises(RunError, match=f"run {run.name} is abandoned, not complete"):
        runs.resolve_run(run.name)


@pytest.mark.slow
def test_eight_concurrent_trains_make_eight_complete_runs():
    procs = [subprocess.Popen([*CLI, "train", "-c", "digits_lbfgs", "--json", "--set", "output.plots=false",
                               "--set", f"seed={i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outs]
    folders = sorted(Path("outputs/digits_lbfgs").iterdir())
    assert len(folders) == 8
    seeds = set()
    for folder in folders:
        record = json.loads((folder / "run.json").read_text())
        assert record["status"] == "complete"
        for name, digest in record["artifacts"].items():
            assert runs.sha256_file(folder / name) == digest
        seeds.add(record["config"]["seed"])
        printed = next(json.loads(out) for out, _ in outs if json.loads(out)["run_id"] == folder.name)
        assert printed == json.loads((folder / "metrics.json").read_text())
    assert seeds == set(range(8))
    assert Path("outputs/latest").resolve().parent == Path("outputs/digits_lbfgs").resolve()
    assert not list(Path("outputs").rglob("*.tmp"))


def test_disk_full_marks_run_failed_and_keeps_earlier_runs(cli, monkeypatch):
    earlier = train(load_config("digits_lbfgs", ["output.plots=false"])).run.path
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    real = runs.atomic_write

    def full_disk(path, write, mode="wb"):
        if Path(path).name == "model.joblib":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, write, mode)

    monkeypatch.setattr(runs, "atomic_write", full_disk)
    result = cli("train", "-c", "digits_lbfgs")
    assert result.exit_code == 1
    failed = next(p.parent for p in Path("outputs").glob("*/*/run.json") if p.parent.name != earlier.name)
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: No space left on device ({failed / 'model.joblib'}); check the path, permissions and free disk space")
    assert json.loads((failed / "run.json").read_text())["status"] == "failed"
    assert not (failed / "model.joblib").exists() and not list(failed.glob(".*tmp"))
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
    assert Path("outputs/latest").resolve() == earlier.resolve()


def test_outputs_that_is_not_a_folder(cli):
    Path("outputs").write_text("not a folder")
    result = cli("train", "-c", "digits_lbfgs")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert Path("outputs").read_text() == "not a folder"


def test_tampered_model_is_refused():
    run = train(load_config("digits_lbfgs", ["output.plots=false"])).run
    model = run.file("model.joblib")
    model.write_bytes(model.read_bytes() + b"\x00")
    with pytest.raises(RunError, match="does not match the sha256 recorded when it was saved; refusing to load"):
        runs.load_model(run)


@pytest.mark.slow
def test_skops_model_roundtrip_and_untrusted_types_refused(monkeypatch):
    pytest.importorskip("skops")
    result = train(load_config("digits_lbfgs", ["output.model_format=skops", "preprocess=[scale]",
                                                "output.plots=false"]))
    loaded = runs.load_model(result.run)
    X = datasets.load_dataset(DatasetConfig()).X[:20]
    np.testing.assert_array_equal(loaded.predict(X), result.model.predict(X))
    monkeypatch.setattr(runs, "SKOPS_TRUSTED", set())
    with pytest.raises(RunError, match=r"contains types digitclf does not trust \(functools.partial\)"):
        runs.load_model(result.run)


@pytest.mark.slow
def test_two_processes_filling_the_cache_at_once(idx_folder):
    code = ("import sys\nfrom digitclf.datasets import import_to_cache\n"
            "for _ in range(5):\n    import_to_cache('mnist', sys.argv[1])\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(idx_folder)], stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    data = datasets.load_dataset(DatasetConfig(name="mnist"))  # passes its sha256 check
    direct = datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))
    assert data.fingerprint == direct.fingerprint
    # no temp folders left by the race: the imported set, and the by-path entry the direct load made
    assert sorted(p.name for p in datasets.cache_dir().iterdir()) == ["by-path", "mnist"]
    assert len(list((datasets.cache_dir() / "by-path").iterdir())) == 1


# a child that is ready (its imports done) when it writes ready-<i>, then waits for 'go' and runs the CLI
BARRIER_CHILD = """
import sys, time
from pathlib import Path
from digitclf.cli import main
import digitclf.runner, digitclf.cli.train_cmd  # the imports before the barrier: the runs start together
Path(f"ready-{sys.argv[1]}").touch()
while not Path("go").exists():
    time.sleep(0.001)
sys.argv = ["digitclf", *sys.argv[2:]]
main()
"""


@pytest.mark.slow
def test_concurrent_trains_with_one_run_id_run_once_each_and_lose_no_run():
    """Four processes given the same --run-id, released together, three rounds: each either runs (and supersedes
    a finished run there) or exits 1 with the one Error line naming the run in progress; every completed run
    folder is kept, in place or under .superseded/."""
    workers, rounds, refused = 4, 3, 0
    succeeded: set[int] = set()
    for round_ in range(rounds):
        for path in Path(".").glob("ready-*"):
            path.unlink()
        Path("go").unlink(missing_ok=True)
        procs = [subprocess.Popen([sys.executable, "-c", BARRIER_CHILD, str(i), "train", "-c", "digits_lbfgs",
                                   "--run-id", "shared", "--json", "--quiet", "--set", "output.plots=false",
                                   "--set", "model.params.max_iter=20"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(workers)]
        deadline = time.monotonic() + 120
        while len(list(Path(".").glob("ready-*"))) < workers and time.monotonic() < deadline:
            time.sleep(0.01)
        Path("go").touch()
        outs = [p.communicate(timeout=300) for p in procs]
        ran = {p.pid for p in procs if p.returncode == 0}
        assert ran, outs
        for proc, (out, err) in zip(procs, outs):
            if proc.returncode == 0:
                assert json.loads(out)["run_id"] == "shared" and err == ""
                continue
            refused += 1
            assert proc.returncode == 1 and out == "", (out, err)
            busy = next((pid for pid in ran if f"(pid {pid})" in err), None)
            assert busy is not None, err  # the run it met was in progress, and then completed
            assert err == (f"Error: run digits_lbfgs/shared is still running (pid {busy}); wait for it to end, "
                           "or choose another --run-id\n")
        succeeded |= ran
    folders = [Path("outputs/digits_lbfgs/shared"), *Path("outputs/digits_lbfgs/.superseded").iterdir()]
    records = [json.loads((folder / "run.json").read_text()) for folder in folders]
    assert all(r["status"] == "complete" and r["id"] == "shared" for r in records)
    assert sorted(r["pid"] for r in records) == sorted(succeeded)  # one folder per run that ran, none lost
    for folder, record in zip(folders, records):
        assert {name: runs.sha256_file(folder / name) for name in record["artifacts"]} == record["artifacts"]
    assert refused > 0  # the runs did overlap (four released at once on at most a few cores)
    assert not list(Path("outputs").rglob("*.tmp"))
