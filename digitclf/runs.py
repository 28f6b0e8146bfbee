"""The run store: one folder per run, atomic writes, status, the ``latest`` pointer, lookup.

Layout: ``<outputs>/<name>/<run-id>/`` with ``run.json`` (status, pid, times,
versions, data fingerprint, sha256 of every artifact), ``config.yaml``,
``metrics.json``, ``model.joblib``, ``split.npz`` and the plots.  A run becomes
``complete`` only after every artifact is in place; ``<outputs>/latest`` is a
symlink to the newest complete run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from digitclf.errors import DigitclfError, RunBusyError, RunError, RunNotFoundError
from digitclf.paths import article, check_outputs, inside, kind
from digitclf.records import ID_TIME, STATUSES, Metrics, RunRecord, SavedSplit, now, read

if TYPE_CHECKING:
    from digitclf.config import RunConfig

RUN_FILE = "run.json"
RUN_IDS_LOCK = ".run-ids.lock"  # <outputs>/<name>/.run-ids.lock: held while a fixed run id is checked and claimed
LOCK_WAIT = 30.0  # seconds to wait for that lock (it is held for milliseconds: check, move aside, claim)
LATEST = "latest"  # <outputs>/latest: a link to the newest complete run
SUPERSEDED_DIR = ".superseded"  # <outputs>/<name>/.superseded/: run folders moved aside, never deleted
RECORD_SLACK = 2048  # spare bytes in run.json for a last, in-place update on a full disk
METRICS_FILE = "metrics.json"
SIGNED = ("model.joblib",)  # artifacts that run code when loaded: signed with this user's key (digitclf.signing)
DAMAGED = "damaged"  # a run folder whose run.json cannot be read or does not fit its model
__all__ = ["DAMAGED", "RUN_FILE", "STATUSES", "RunDir", "resolve_run", "iter_runs", "load_model", "load_split"]


# ---------------------------------------------------------------- atomic writes


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call ``write(fh)`` on a temp file in the same folder, fsync it, then rename it over ``path``."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file the user asked for, not the temp file it would have been written as
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts are ordinary files
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk says no file: the error line names it
            exc.filename = str(path)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Versions of Python and every library that shapes a result (read from metadata, no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for dist in ("digitclf", "scikit-learn", "numpy", "scipy", "joblib", "matplotlib", "seaborn"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------- a run folder


def new_run_id() -> str:
    return time.strftime(ID_TIME) + "-" + secrets.token_hex(3)


@dataclass
class RunDir:
    """A run folder and its ``run.json`` record."""

    path: Path
    written: dict[str, str] = field(default_factory=dict, repr=False)  # artifacts of this process
    claim: Any = field(default=None, repr=False, compare=False)  # the run-id lock, held from create to start

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def name(self) -> str:
        return self.path.parent.name

    @classmethod
    def create(cls, outputs: Path, name: str, run_id: str | None = None) -> "RunDir":
        """Make a new, exclusive folder (never shared by two runs, even in the same second).

        A fixed ``run_id`` is claimed under the run-id lock, held until ``start`` has written run.json
        (so no other process sees the folder half made): a finished run there moves to ``.superseded/``
        first, a running one is refused with ``RunBusyError``.
        """
        check_outputs(Path(outputs))
        check_latest(Path(outputs))
        parent = Path(outputs) / name
        check_name_folder(parent)
        parent.mkdir(parents=True, exist_ok=True)
        if run_id is not None:
            claim = lock_run_ids(parent)
            try:
                _make_way(parent / run_id)
                (parent / run_id).mkdir()
            except BaseException:
                _release(claim)
                raise
            return cls(parent / run_id, claim=claim)
        for _ in range(100):
            path = parent / new_run_id()
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                pass
        raise RunError(f"could not create a unique run folder under {parent}")

    def file(self, name: str) -> Path:
        return self.path / name

    def record(self) -> RunRecord:
        """run.json, parsed; a missing or ill-formed one is a RunError saying the run is damaged."""
        return read(RunRecord, self.file(RUN_FILE), RunError,
                    missing=f"{self.path} has no {RUN_FILE}: not a digitclf run folder", owner="the run")

    def _write(self, record: RunRecord) -> RunRecord:
        """Write run.json atomically.  It is padded with spaces to leave room: on a full disk, where no
        new file can be made, the final status is still written over the old record in place."""
        text = json.dumps(record.to_json(), indent=2) + "\n"
        size = len(text.encode()) + RECORD_SLACK
        content = (text + " " * (-size % 4096 + RECORD_SLACK - 1) + "\n").encode()
        path = self.file(RUN_FILE)
        try:
            atomic_write(path, lambda fh: fh.write(content))
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not _fits_in_place(path, len(text.encode())):
                raise
            with open(path, "r+b") as fh:  # the blocks are already the file's: no new space needed
                fh.write(text.encode() + b" " * (path.stat().st_size - len(text.encode())))
                fh.flush()
                os.fsync(fh.fileno())
        return record

    def update(self, **fields: Any) -> RunRecord:
        """Set keys of run.json (checked against its model) and write it atomically."""
        record = self.record()
        return self._write(RunRecord.model_validate({**record.to_json(), **fields}))

    def start(self, config: "RunConfig", **fields: Any) -> None:
        try:
            self._write(RunRecord.model_validate(dict(
                id=self.id, name=self.name, status="running", pid=os.getpid(), host=socket.gethostname(),
                started=now(), finished=None, config=config, versions=versions(), artifacts={},
                token=secrets.token_hex(8), **fields)))
        except OSError as exc:  # a full disk or a read-only folder: leave no empty folder that looks like a run
            with contextlib.suppress(OSError):
                self.path.rmdir()
            raise DigitclfError(f"cannot start run {self.name}/{self.id}: writing {self.file(RUN_FILE)} failed "
                                f"({exc.strerror or exc}); free disk space or give a writable --outputs") from None
        finally:  # run.json says who runs here: others may look now
            _release(self.claim)
            self.claim = None

    def add_artifact(self, name: str, write: Callable[[Any], None], mode: str = "wb") -> Path:
        """Write one artifact atomically and remember its sha256."""
        path = self.file(name)
        atomic_write(path, write, mode)
        self.written[name] = sha256_file(path)
        return path

    def replace_artifact(self, name: str, content: bytes) -> None:
        """Write a file into the run folder atomically and record its new sha256 in run.json at once.

        Under an flock on the run folder itself: two ``evaluate`` of one run at once each read run.json,
        add their file and write it back, and without the lock one lost the other's record."""
        import fcntl

        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.add_artifact(name, lambda fh: fh.write(content))
            self.update(artifacts={**self.record().artifacts, name: self.written[name]})
        finally:
            os.close(fd)  # releases the lock

    def finish(self, status: str, **fields: Any) -> None:
        from digitclf import signing

        record = self.record()
        signatures = {name: signing.sign(*signing.model_parts(record, name, sha))  # only a complete run's model
                      for name, sha in self.written.items() if name in SIGNED and status == "complete"}
        self.update(status=status, finished=now(), artifacts={**record.artifacts, **self.written},
                    signatures={**record.signatures, **signatures}, **fields)
        if status == "complete":
            set_latest(self.path.parent.parent, self.path)  # refused quietly if it is not ours (checked at create)

    def status(self) -> str:
        """Recorded status; a ``running`` run whose process is gone is ``abandoned``."""
        record = self.record()
        if record.status == "running" and record.host == socket.gethostname() and not process_alive(record.pid):
            return "abandoned"
        return record.status

    def state(self) -> str:
        """``status()``, or ``damaged`` when run.json cannot be read (never raises for that)."""
        try:
            return self.status()
        except RunError:
            return DAMAGED

    def verify(self, name: str) -> Path:
        """The artifact's path after its sha256 matches the one recorded; refuse otherwise."""
        artifacts = self.record().artifacts
        path = self.file(name)
        if name not in artifacts:
            raise RunError(f"{self.path}: {name} is not recorded in {RUN_FILE}; the run is incomplete")
        if not path.is_file():
            raise RunError(f"{path} is missing; the run is incomplete, train it again")
        if sha256_file(path) != artifacts[name]:
            raise RunError(f"{path} does not match the sha256 recorded when it was saved; refusing to load "
                           "an altered file (a model file can run code). Re-train or restore the original.")
        return path

    def metrics(self) -> Metrics:
        """metrics.json, parsed (a RunError when missing, damaged, or not the file recorded in run.json)."""
        if METRICS_FILE in self.record().artifacts:  # recorded once the run finished: a swapped file is refused
            self.verify(METRICS_FILE)
        return read(Metrics, self.file(METRICS_FILE), RunError,
                    missing=f"{self.file(METRICS_FILE)} is missing; the run is incomplete", owner="the run")


def _fits_in_place(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size >= size
    except OSError:
        return False


def process_alive(pid: Any) -> bool:
    """True while process ``pid`` runs on this host."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # a pid no process can have
        return False
    except PermissionError:
        return True
    return True


def lock_run_ids(folder: Path, wait: float | None = None) -> Any:
    """An exclusive flock on ``<folder>/.run-ids.lock`` (the OS drops it if the process dies); None where
    there is no flock.  Two processes given the same run id take turns: one claims it, the other then
    sees that run."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the exclusive mkdir still keeps two runs out of one folder
        return None
    from digitclf.paths import open_lock_file

    lock = Path(folder) / RUN_IDS_LOCK
    handle = open_lock_file(lock)
    wait = LOCK_WAIT if wait is None else wait  # seconds (LOCK_WAIT read now: tests shorten it)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise RunBusyError(f"another process has held {lock} for {wait:g} s while claiming a run "
                                   "folder there; try again, or choose another --run-id") from None
            time.sleep(0.005)


def _release(claim: Any) -> None:
    if claim is not None:  # closing the file drops the flock
        claim.close()


def supersede(path: Path) -> Path:
    """Move a run folder aside to ``<outputs>/<name>/.superseded/<run-id>-<time>-<pid>`` and return where.

    Nothing is deleted: a fixed run id (a sweep point, ``train --run-id``) makes way for a new run this
    way. ``latest`` keeps pointing at the moved folder until the new run completes.
    """
    path = Path(path)
    (path.parent / SUPERSEDED_DIR).mkdir(exist_ok=True)
    base = f"{path.name}-{time.strftime(ID_TIME)}-{os.getpid()}"
    for n in range(1000):  # a second move in the same second by the same process gets a suffix
        aside = path.parent / SUPERSEDED_DIR / (base if n == 0 else f"{base}.{n}")
        if os.path.lexists(aside):
            continue
        os.rename(path, aside)
        break
    outputs = path.parent.parent
    latest = outputs / LATEST
    if latest.is_symlink() and Path(os.path.realpath(latest)) == path.resolve():
        set_latest(outputs, aside)
    return aside


def check_name_folder(folder: Path) -> None:
    """``<outputs>/<name>`` is a folder or can be made one (not a file, FIFO or dangling link); exit 1 otherwise."""
    found = kind(folder)
    if found not in ("missing", "folder"):
        raise DigitclfError(f"{folder} is {article(found)}, not the folder of {folder.name}'s runs; move it away, "
                            "or choose another name or outputs folder")


def make_way(path: Path) -> Path | None:
    """Supersede the run folder at ``path`` for a new run of that id, and return where it went (None: no
    folder there); a run still running there is refused (``RunBusyError``).  Done under the run-id lock,
    so two processes given the same id never move each other's runs."""
    path = Path(path)
    if not path.parent.is_dir():
        return None
    claim = lock_run_ids(path.parent)
    try:
        return _make_way(path)
    finally:
        _release(claim)


def _make_way(path: Path) -> Path | None:
    if not os.path.lexists(path):
        return None
    if path.is_symlink() or not path.is_dir():
        what = "a link" if path.is_symlink() else article(kind(path))
        raise RunError(f"{path} is {what}, not a run folder; move it away or choose another --run-id")
    run = RunDir(path)
    if run.state() == "running":
        raise RunBusyError(f"run {run.name}/{run.id} is still running (pid {run.record().pid}); wait for it to "
                           "end, or choose another --run-id")
    return supersede(path)


# ---------------------------------------------------------------- latest, listing, lookup


def _latest_is_ours(link: Path) -> bool:
    """``latest`` is absent, or a link digitclf made: relative, to a folder below the outputs folder."""
    if not os.path.lexists(link):
        return True
    if not link.is_symlink():
        return False
    target = Path(os.readlink(link))
    return not target.is_absolute() and ".." not in target.parts and len(target.parts) >= 2


def check_latest(outputs: Path) -> None:
    """Refuse to work in an outputs folder whose ``latest`` is something digitclf did not make."""
    link = Path(outputs) / LATEST
    if not _latest_is_ours(link):
        what = "a link digitclf did not make" if link.is_symlink() else article(kind(link))
        raise RunError(f"{link} is {what}; digitclf keeps a link to the newest complete run there and never "
                       f"replaces anything else: move it away, or use another outputs folder (--outputs)")


def set_latest(outputs: Path, run: Path) -> bool:
    """Point ``<outputs>/latest`` at ``run`` (a relative symlink, swapped atomically); False, and nothing
    touched, when ``latest`` is not digitclf's own link (checked again: it may have appeared meanwhile)."""
    link = Path(outputs) / LATEST
    if not _latest_is_ours(link):
        return False
    tmp = Path(outputs) / f".latest.{os.getpid()}.{secrets.token_hex(3)}"
    os.symlink(os.path.relpath(run, outputs), tmp)
    os.replace(tmp, link)
    return True


def is_run_folder(path: Path) -> bool:
    """A folder with run.json, or one a crash left with only run.json's temp file (so it can be pruned)."""
    return (path / RUN_FILE).is_file() or any(path.glob(f".{RUN_FILE}.*.tmp"))


def iter_runs(outputs: Path) -> list[RunDir]:
    """Every run folder under ``outputs``, oldest first; links are not followed (a linked folder may
    point anywhere, and digitclf writes into run folders)."""
    outputs = Path(outputs)
    if not outputs.is_dir():
        return []
    found = [RunDir(run) for name in outputs.iterdir()
             if name.is_dir() and not name.is_symlink() and not name.name.startswith(".")
             for run in name.iterdir()
             if not run.name.startswith(".") and run.is_dir() and not run.is_symlink() and is_run_folder(run)]
    return sorted(found, key=lambda r: (r.id, r.name))


def resolve_run(ref: str | Path | None, outputs: Path = Path("outputs"), *, complete: bool = True) -> RunDir:
    """A run from a folder path, a run id (a unique prefix is enough) or None for the latest."""
    outputs = Path(outputs)
    if ref is None:
        link = outputs / LATEST
        if link.is_symlink() and not link.exists():  # its run was deleted by hand: other runs may be there
            complete = [r for r in iter_runs(outputs) if r.state() == "complete"]
            hint = f"give a run (newest complete: {complete[-1].id}; see 'digitclf runs')" if complete else \
                "train one: digitclf train --config configs/digits_lbfgs.yaml"
            raise RunNotFoundError(f"{link} points to {os.readlink(link)}, which no longer exists; {hint}")
        if not link.exists():
            raise RunNotFoundError(f"no complete run in {outputs}/; train one first: "
                                   "digitclf train --config configs/digits_lbfgs.yaml")
        check_latest(outputs)
        if not inside(link, outputs):
            raise RunError(f"{link} points outside {outputs}/ ({os.path.realpath(link)}); digitclf does not "
                           "write there: remove the link, or give the run folder itself")
        run = RunDir(Path(os.path.realpath(link)))
    elif str(ref) and Path(ref).is_dir() and (Path(ref) / RUN_FILE).is_file():
        run = RunDir(Path(ref).resolve())
    else:
        ref = str(ref)
        if not ref:
            raise RunNotFoundError("an empty run id names no run; give a run id, a run name or a run folder")
        runs = iter_runs(outputs)
        named = [r for r in runs if r.name == ref and r.state() == "complete"]
        if named:  # a run name: its newest complete run
            return named[-1]
        matches = [r for r in runs if r.id.startswith(ref) or f"{r.name}/{r.id}".startswith(ref)]
        if not matches:
            hint = f"; see 'digitclf runs' (newest: {runs[-1].id})" if runs else f"; {outputs}/ has no runs yet"
            raise RunNotFoundError(f"no run matches {ref!r} in {outputs}/{hint}")
        if len(matches) > 1:
            raise RunNotFoundError(f"{ref!r} matches {len(matches)} runs ({', '.join(r.id for r in matches[:3])}"
                                   f"{', ...' if len(matches) > 3 else ''}); give more of the id")
        run = matches[0]
    if complete:
        status = run.status()
        if status == "running":
            raise RunBusyError(f"run {run.name}/{run.id} is still running (pid {run.record().pid}); it has no "
                               "results yet: wait for it to end, then run this again")
        if status != "complete":
            raise RunError(f"run {run.id} is {status}, not complete; it has no usable results "
                           "(train it again, or prune it with 'digitclf runs --prune')")
    return run


# ---------------------------------------------------------------- reading a saved run


def load_split(run: RunDir) -> SavedSplit:
    """split.npz (sha256-checked first): the test rows, labels, predictions, probabilities and mistakes."""
    import numpy as np

    path = run.verify("split.npz")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise RunError(f"{path} is unreadable ({exc}); the run is damaged") from None
    return SavedSplit.from_arrays(arrays, str(path))


# beyond what skops trusts by default (scikit-learn and numpy types): the functions digitclf's
# preprocessing steps call, nothing else
SKOPS_TRUSTED = {"digitclf.models.scale_pixels", "digitclf.models.to_float32",  # pipelines saved by earlier digitclf
                 "numpy.asarray", "functools.partial"}  # the float32 and scale steps (partial of numpy.multiply)


def load_model(run: RunDir, *, trust: bool = False) -> Any:
    """The fitted pipeline, after its sha256 matches the one recorded; warns on a scikit-learn version change.

    A pickled model (model.joblib) is only unpickled when its signature verifies with this user's
    key (``digitclf.signing``), or with ``trust=True``; a skops model loads only trusted types.
    """
    import warnings

    record = run.record()
    saved = record.version_of("scikit-learn")
    current = versions().get("scikit-learn")
    if saved and current and saved != current:
        warnings.warn(f"run {run.id} was saved with scikit-learn {saved}, this is {current}; "
                      "predictions may differ", stacklevel=2)
    if "model.skops" in record.artifacts:
        import skops.io as sio

        path = run.verify("model.skops")
        untrusted = set(sio.get_untrusted_types(file=path)) - SKOPS_TRUSTED
        if untrusted:
            raise RunError(f"{path} contains types digitclf does not trust ({', '.join(sorted(untrusted))}); "
                           "refusing to load it")
        return _loaded(path, lambda: sio.load(path, trusted=sorted(SKOPS_TRUSTED)))
    import joblib

    from digitclf import signing

    path = run.verify("model.joblib")
    signature = record.signatures["model.joblib"] if "model.joblib" in record.signatures else None
    if not trust and not signing.model_verifies(signature, record, "model.joblib", record.artifacts["model.joblib"]):
        raise RunError(f"{path} is not signed with your key ({signing.key_path()}) for this run: it was saved "
                       "elsewhere, by a digitclf that signed models otherwise, put here from another run, or "
                       "altered, and loading a pickle runs its code; pass --trust if you trust where it came from")
    return _loaded(path, lambda: joblib.load(path))


def _loaded(path: Path, load: Callable[[], Any]) -> Any:
    """The fitted classifier ``load`` reads from ``path``; a file that does not load as one is a RunError."""
    try:
        model = load()
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged pickle fails in many ways (EOFError, KeyError, ...)
        raise RunError(f"{path} cannot be loaded ({type(exc).__name__}: {exc}); the run is damaged, "
                       "train it again") from None
    if not (hasattr(model, "predict") and hasattr(model, "classes_")):
        raise RunError(f"{path} holds a {type(model).__name__}, not a fitted classifier; the run is damaged, "
                       "train it again")
    return model


def load_model_noting(run: RunDir, *, trust: bool = False) -> tuple[Any, list[str]]:
    """``load_model`` with its warnings (a scikit-learn version change) returned as notes, not printed."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(run, trust=trust)
    return model, sorted({str(w.message).splitlines()[0] for w in caught})


def as_trained(model: Any, record: RunRecord, method: str, X: Any) -> Any:
    """``model.<method>(X)`` the way the run computed its own predictions: preprocessing with the
    library's threads, the classifier under the run's ``model.blas_threads`` (BLAS sums in another
    order with another thread count, and a prediction can flip)."""
    from digitclf.threads import blas_threads

    steps = getattr(model, "steps", None)
    if not steps:
        return getattr(model, method)(X)
    for _, step in steps[:-1]:
        X = step.transform(X)
    cap = record.config.model.blas_threads
    with blas_threads(record.blas_threads if cap == "auto" else cap):
        return getattr(steps[-1][1], method)(X)
