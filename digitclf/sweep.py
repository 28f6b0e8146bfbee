"""Sweeps: expand a grid of config values into points, validate them all, run the missing ones in parallel.

A point is the base config with some keys set (``model.params.C=10``).  Its run
id is ``pt-`` + a hash of its resolved config digest and the data set's
fingerprint, so the same point always lands in the same folder
``<outputs>/<name>/<run-id>/``: re-running a sweep skips complete points, and the
exclusive creation of that folder keeps two processes from running one point at
once.  Points run through joblib: in this process (``jobs=1``), in loky worker
processes, or on a Dask cluster.  Each worker loads the data set once (from the
memory-mapped cache) and caps its BLAS/OpenMP threads so jobs x threads <= cores.
A sweep writes ``<outputs>/sweeps/<sweep-id>/``: spec.yaml, summary.csv,
summary.json and tradeoff.png.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import itertools
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import yaml

from digitclf import config as config_mod
from digitclf.checks import preflight
from digitclf.choices import BACKENDS
from digitclf.config import RunConfig
from digitclf.errors import ConfigError, DigitclfError, RunError, suggest
from digitclf.observers import RunObserver
from digitclf.runs import RunDir, set_latest, write_json, write_text

if TYPE_CHECKING:
    from digitclf.config import DatasetConfig
    from digitclf.datasets import Dataset

SWEEP_SECTION_KEYS = ("grid", "variants")
SWEEPS_DIR = "sweeps"
SUPERSEDED_DIR = ".superseded"
LOCK_FILE = ".sweep.lock"
SUMMARY_FIELDS = ("index", "values", "status", "action", "accuracy", "accuracy_ci95", "fit_seconds", "n_iter",
                  "converged", "run_id", "run", "error", "worker")
_DONE_AS = {"reuse": "reused", "keep": "kept"}  # decide()'s verdict as the row's action
Events = Callable[[str, dict[str, Any]], None]


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Point:
    """One combination of swept values and the resolved config it gives."""

    index: int  # 1-based, in expansion order
    values: dict[str, Any]
    config: RunConfig
    fingerprint: str  # of the data set it trains on
    run_id: str  # point_run_id(config, fingerprint)


@dataclass
class SweepPlan:
    """An expanded, validated sweep: what would run, where, under which id."""

    name: str
    source: str
    base: dict[str, Any]  # the config mapping after --set, before any point's values
    grid: dict[str, list[Any]]
    variants: list[dict[str, Any]]
    points: list[Point]
    outputs: Path

    @property
    def id(self) -> str:
        """``<name>-<hash of the set of point ids>``: the same sweep finds the same folder again."""
        ids = sorted(p.run_id for p in self.points)
        return f"{self.name}-{hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:10]}"

    @property
    def folder(self) -> Path:
        return self.outputs / SWEEPS_DIR / self.id

    @property
    def keys(self) -> list[str]:
        """Every swept key, in the order it first appears."""
        return list(dict.fromkeys(k for p in self.points for k in p.values))

    def run_dir(self, point: Point) -> Path:
        return self.outputs / point.config.name / point.run_id

    def label(self, point: Point) -> str:
        return point_label(point.values, self.keys)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "source": self.source, "outputs": str(self.outputs),
                "grid": self.grid, "variants": self.variants, "base": self.base,
                "points": [{"index": p.index, "values": p.values, "run_id": p.run_id,
                            "config_digest": p.config.digest(), "data_fingerprint": p.fingerprint,
                            "run": str(self.run_dir(p))} for p in self.points]}


def point_run_id(cfg: RunConfig, data_fingerprint: str) -> str:
    """A point's identity: its resolved config (without output settings) and the data it trains on."""
    text = json.dumps([cfg.digest(), data_fingerprint])
    return "pt-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def short_keys(keys: list[str]) -> dict[str, str]:
    """``model.params.C`` -> ``C`` unless two keys would then read the same."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def point_label(values: dict[str, Any], keys: list[str] | None = None) -> str:
    """``solver=lbfgs C=0.1``: swept values under their short key names (shortened among ``keys``)."""
    short = short_keys(keys if keys is not None else list(values))
    return " ".join(f"{short[k]}={v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items())


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """``model.params.C=0.1,1,10`` -> ('model.params.C', [0.1, 1, 10]); values are YAML, so [scale],[none] works."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")) or not raw.strip():
        raise ConfigError(f"--grid {text!r}: expected KEY.PATH=v1,v2,..., e.g. --grid model.params.C=0.1,1,10")
    values = config_mod.read_yaml(f"[{raw}]", f"--grid {key}")
    if not isinstance(values, list) or not values:
        raise ConfigError(f"--grid {text!r}: give one or more comma-separated values, e.g. {key}=0.1,1,10")
    return key, values


def read_sweep_config(path: str | Path | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The config file as a raw mapping without its ``sweep:`` section, that section, and the file's name."""
    if path is None:
        return {}, {}, "config"
    data, source = config_mod.read_config_file(path)
    section = data.pop("sweep", None) or {}
    return data, _check_section(section, source), source


def _check_section(section: Any, source: str) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: sweep: must be a mapping with grid: and/or variants:")
    for key in section:
        if key not in SWEEP_SECTION_KEYS:
            raise ConfigError(f"{source}: sweep: unknown key {key!r}{suggest(str(key), SWEEP_SECTION_KEYS)}; "
                              f"allowed keys: {', '.join(SWEEP_SECTION_KEYS)}")
    grid = section.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"{source}: sweep.grid: must map KEY.PATH to a list of values, "
                          "e.g. {model.params.C: [0.1, 1, 10]}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: sweep.grid.{key}: must be a non-empty list of values, "
                              f"got {values!r}; write [{values}] for a single value")
    variants = section.get("variants") or []
    if not isinstance(variants, list) or not all(isinstance(v, dict) and v for v in variants):
        raise ConfigError(f"{source}: sweep.variants: must be a list of mappings of KEY.PATH to a value, "
                          "e.g. [{model.params.solver: liblinear}]")
    return {"grid": {str(k): v for k, v in grid.items()}, "variants": variants}


def expand(grid: dict[str, list[Any]], variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every grid combination, once per variant (the grid alone, or the variants alone, also work)."""
    for n, variant in enumerate(variants, 1):
        both = sorted(set(variant) & set(grid))
        if both:
            raise ConfigError(f"sweep.variants[{n}]: {', '.join(both)} is also swept by the grid; "
                              "a key is either in the grid or set per variant")
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    return [{**combo, **variant} for variant in (variants or [{}]) for combo in combos]


def plan_sweep(config: str | Path | None = None, grid: list[str] | tuple[str, ...] = (),
               overrides: list[str] | tuple[str, ...] = (), outputs: Path | None = None) -> SweepPlan:
    """Expand the grid (config's ``sweep:`` section, then ``--grid`` options) and validate every point.

    Nothing runs and nothing is written; a bad point raises ConfigError naming it.  The data
    set of each point is fingerprinted (from its cache manifest, or by loading it once).
    """
    base, section, source = read_sweep_config(config)
    config_mod.apply_overrides(base, overrides)
    sweep_grid = dict(section.get("grid", {}))
    for text in grid:
        key, values = parse_grid_option(text)
        sweep_grid[key] = values
    variants = section.get("variants", [])
    combos = expand(sweep_grid, variants)
    if not sweep_grid and not variants:
        raise ConfigError("nothing to sweep: give --grid KEY=v1,v2 (repeatable) or a sweep: section with "
                          "grid: or variants: in the config (see configs/sweep_digits.yaml)")
    points: list[Point] = []
    keys = list(dict.fromkeys(k for c in combos for k in c))
    for index, values in enumerate(combos, 1):
        label = point_label(values, keys)
        try:
            data = config_mod.apply_overrides(copy.deepcopy(base),
                                              [f"{k}={json.dumps(v)}" for k, v in values.items()])
            cfg = preflight(config_mod.from_dict(data, source)).config
            fingerprint = dataset_fingerprint(cfg.dataset)
        except ConfigError as exc:
            raise ConfigError(f"sweep point {index} ({label}): {exc}") from None
        points.append(Point(index, values, cfg, fingerprint, point_run_id(cfg, fingerprint)))
    seen: dict[str, Point] = {}
    for point in points:
        if point.run_id in seen:
            raise ConfigError(f"sweep points {seen[point.run_id].index} and {point.index} are the same run "
                              f"(identical resolved config and data; output.* keys do not count); "
                              "remove the duplicate value")
        seen[point.run_id] = point
    name = points[0].config.name
    out = Path(outputs if outputs is not None else points[0].config.output.dir).absolute()
    return SweepPlan(name, source, base, sweep_grid, variants, points, out)


# ---------------------------------------------------------------- data, once per process

_DATA: dict[str, "Dataset"] = {}


def _data_key(cfg: "DatasetConfig") -> str:
    from digitclf.datasets import cache_dir

    return json.dumps([cfg.model_dump(mode="json"), str(cache_dir()), os.getcwd()])


def load_data(cfg: "DatasetConfig") -> tuple["Dataset", bool]:
    """The data set, loaded once per process (named sets memory-mapped from the cache); True if loaded now."""
    from digitclf.datasets import load_dataset

    key = _data_key(cfg)
    if key in _DATA:
        return _DATA[key], False
    _DATA[key] = load_dataset(cfg)
    return _DATA[key], True


def dataset_fingerprint(cfg: "DatasetConfig") -> str:
    """From the cache manifest when the set is cached, else by loading it (which fills the cache)."""
    from digitclf.datasets import cache_manifest

    if cfg.path is None and cfg.name != "digits":
        manifest = cache_manifest(cfg.name)
        if manifest is not None:
            return manifest.fingerprint
    return load_data(cfg)[0].fingerprint


# ---------------------------------------------------------------- point state and resume


def point_state(run_dir: Path) -> str:
    """missing, running, complete, failed, interrupted, abandoned, or damaged (a folder with no usable run.json).

    A sweep creates a point's folder and writes its run.json while holding the folder lock
    (see ``run_point``), so outside that lock a folder without run.json was left by a crash.
    """
    if not run_dir.exists():
        return "missing"
    try:
        return RunDir(run_dir).status()
    except RunError:
        return "damaged"


def decide(state: str, rerun: bool = False, retry_failed: bool = False) -> str:
    """What a sweep does with a point in ``state``: run, reuse (complete), keep (failed), busy (running elsewhere)."""
    if state == "running":
        return "busy"
    if state == "complete":
        return "run" if rerun else "reuse"
    if state == "failed":
        return "run" if rerun or retry_failed else "keep"
    return "run"  # missing, interrupted, abandoned, damaged: nothing worth keeping


def clear_point(run_dir: Path, state: str) -> Path | None:
    """Make way for a new run: complete and failed folders move to ``.superseded/``, partial ones are removed."""
    if state == "missing":
        return None
    if state in ("complete", "failed"):
        aside = run_dir.parent / SUPERSEDED_DIR / f"{run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        aside.parent.mkdir(exist_ok=True)
        os.rename(run_dir, aside)
        latest = run_dir.parent.parent / "latest"
        if latest.is_symlink() and Path(os.path.realpath(latest)) == run_dir.resolve():
            set_latest(run_dir.parent.parent, aside)  # keep `latest` usable until the new run completes
        return aside
    trash = run_dir.parent / f".{run_dir.name}.removing-{os.getpid()}"
    os.rename(run_dir, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return None


class FolderLock:
    """An exclusive lock on ``<outputs>/<name>/`` (flock on a file there; the OS drops it if the process dies).

    Held while a point's state is checked, its old folder cleared, and the new run folder
    created with its run.json, so no other sweep sees a half-made folder.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOCK_FILE
        self.handle: Any = None

    def acquire(self) -> "FolderLock":
        self.handle = open(self.path, "a")
        try:
            import fcntl
        except ImportError:  # not POSIX: the exclusive mkdir in RunDir.create still prevents double runs
            return self
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def release(self) -> None:
        if self.handle is not None:  # closing the file drops the flock
            self.handle.close()
            self.handle = None


def read_point(run_dir: Path) -> dict[str, Any]:
    """Status and results of a point's run folder (what a summary row shows)."""
    row: dict[str, Any] = {"status": point_state(run_dir), "accuracy": None, "accuracy_ci95": None,
                           "fit_seconds": None, "n_iter": None, "converged": None, "error": None}
    if row["status"] == "complete":
        m = RunDir(run_dir).metrics()
        row.update({k: getattr(m, k) for k in ("accuracy", "accuracy_ci95", "fit_seconds", "n_iter", "converged")})
    elif row["status"] in ("failed", "interrupted"):
        row["error"] = RunDir(run_dir).record().error
    return row


# ---------------------------------------------------------------- one point, in a worker


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to run one point: small and picklable (no arrays)."""

    index: int
    values: dict[str, Any]
    sweep_id: str
    config: RunConfig
    run_id: str
    fingerprint: str
    outputs: Path  # absolute
    rerun: bool
    retry_failed: bool
    threads: int | dict[str, int] | None  # BLAS/OpenMP cap; per worker address on Dask
    cwd: str | None = None  # local workers run where the sweep was started (loky reuses old workers)
    env: dict[str, str] = field(default_factory=dict)


class _ReleaseOnStart(RunObserver):
    """The folder lock is held until the point's run folder and its run.json exist."""

    def __init__(self, lock: "FolderLock") -> None:
        self.lock = lock

    def on_start(self, run: RunDir, config: RunConfig) -> None:
        self.lock.release()


def run_point(task: PointTask) -> dict[str, Any]:
    """Run one point unless it is complete or running elsewhere; return its summary row."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from digitclf.runner import train

    run_dir = task.outputs / task.config.name / task.run_id
    base = {"index": task.index, "values": task.values, "run_id": task.run_id, "run": str(run_dir),
            "worker": f"{os.getpid()}@{socket.gethostname()}", "loaded_data": False, "blas_threads": None}
    with _worker_context(task):
        try:
            data, base["loaded_data"] = load_data(task.config.dataset)
        except DigitclfError as exc:
            return {**base, **read_point(run_dir), "status": "failed", "action": "ran", "error": str(exc)}
        if data.fingerprint != task.fingerprint:
            return {**base, **read_point(run_dir), "status": "failed", "action": "ran",
                    "error": f"the data set here has fingerprint {data.fingerprint}, the sweep planned "
                             f"{task.fingerprint}; give every worker the same data"}
        lock = FolderLock(run_dir.parent).acquire()
        error = None
        try:
            state = point_state(run_dir)
            action = decide(state, task.rerun, task.retry_failed)
            if action != "run":
                return {**base, **read_point(run_dir), "action": _DONE_AS.get(action, action)}
            clear_point(run_dir, state)
            with threadpool_limits(limits=_thread_cap(task.threads)):
                worker = max((pool["num_threads"] for pool in threadpool_info()), default=None)
                cap = task.config.model.blas_threads  # the run's own cap applies to its fit and predict
                base["blas_threads"] = worker if cap is None or worker is None else min(cap, worker)
                train(task.config, outputs=task.outputs, run_id=task.run_id, data=data,
                      record={"sweep": {"id": task.sweep_id, "point": task.values, "index": task.index}},
                      observers=[_ReleaseOnStart(lock)])
        except FileExistsError as exc:
            if Path(exc.filename or "") != run_dir:
                raise
            return {**base, **read_point(run_dir), "action": "busy"}  # claimed by a process that ignores the lock
        except Exception as exc:  # noqa: BLE001 - train recorded it as failed in the run folder
            error = f"{type(exc).__name__}: {exc}"
        finally:
            lock.release()
    row = {**base, **read_point(run_dir), "action": "ran"}
    if error and row["status"] != "failed":
        row.update(status="failed", error=row["error"] or error)
    return row


@contextlib.contextmanager
def _worker_context(task: PointTask) -> Iterator[None]:
    previous_cwd = os.getcwd()
    previous_env = {k: os.environ.get(k) for k in task.env}
    os.environ.update(task.env)
    if task.cwd:
        os.chdir(task.cwd)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        for key, value in previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _thread_cap(threads: int | dict[str, int] | None) -> int | None:
    if isinstance(threads, dict):
        from distributed import get_worker

        try:
            return threads.get(get_worker().address)
        except ValueError:  # not on a Dask worker
            return None
    return threads


# ---------------------------------------------------------------- running a sweep


@dataclass
class SweepResult:
    """The rows of a finished (or interrupted) sweep and where its summary was written."""

    plan: SweepPlan
    rows: list[dict[str, Any]]
    interrupted: bool = False
    stopped_early: bool = False

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row["status"]] = out.get(row["status"], 0) + 1
        return out

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] == "failed"]

    def to_dict(self) -> dict[str, Any]:
        ran = sum(row["action"] == "ran" for row in self.rows)
        return {"sweep": self.plan.id, "name": self.plan.name, "folder": str(self.plan.folder),
                "keys": self.plan.keys, "counts": self.counts, "ran": ran,
                "interrupted": self.interrupted, "stopped_early": self.stopped_early,
                "points": [{k: row.get(k) for k in SUMMARY_FIELDS} for row in self.rows]}


def actions(plan: SweepPlan, rerun: bool = False, retry_failed: bool = False) -> list[tuple[str, str]]:
    """(state, action) per point, as things stand now (what a dry run shows)."""
    out = []
    for point in plan.points:
        state = point_state(plan.run_dir(point))
        out.append((state, decide(state, rerun, retry_failed)))
    return out


def check_options(jobs: int, backend: str, scheduler: str | None) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: unknown backend {backend!r}{suggest(backend, BACKENDS)}; "
                          f"use one of {', '.join(BACKENDS)}")
    if jobs == 0 or jobs < -1:
        raise ConfigError(f"--jobs: {jobs} is not a number of processes; use 1, 2, ... or -1 for one per core")
    if backend == "dask" and not scheduler:
        raise ConfigError("--backend dask needs --scheduler, the address of a running Dask scheduler "
                          "(e.g. tcp://host:8786)")
    if backend != "dask" and scheduler:
        raise ConfigError("--scheduler is only used with --backend dask")


def run_sweep(plan: SweepPlan, *, jobs: int = 1, backend: str = "loky", scheduler: str | None = None,
              rerun: bool = False, retry_failed: bool = False, fail_fast: bool = False,
              events: Events | None = None) -> SweepResult:
    """Run every point that is not complete (see ``decide``) and write the sweep folder.

    ``events(kind, info)`` is called with ``start`` (points, to_run, reused, kept_failed, busy,
    keys, where: a description of the workers), ``point`` (a finished row, done, to_run) and
    ``note``.  Ctrl-C or SIGTERM stops the sweep: the summary is written with what finished
    and KeyboardInterrupt propagates (points cut short are interrupted or, when their worker
    process was killed, abandoned; the next run of the sweep runs them again).
    """
    from digitclf.threads import sigterm_as_interrupt

    check_options(jobs, backend, scheduler)
    emit = events or (lambda kind, info: None)
    states = actions(plan, rerun, retry_failed)
    todo = [p for p, (_, action) in zip(plan.points, states) if action == "run"]
    rows: dict[int, dict[str, Any]] = {}
    for point, (state, action) in zip(plan.points, states):
        if action != "run":
            rows[point.index] = {**_row_base(plan, point), **read_point(plan.run_dir(point)),
                                 "action": _DONE_AS.get(action, action)}
    result = SweepResult(plan, [])
    started = False
    try:
        with sigterm_as_interrupt(), _executor(backend, scheduler, jobs, len(todo)) as (parallel, threads, where):
            plan.folder.mkdir(parents=True, exist_ok=True)
            write_text(plan.folder / "spec.yaml", yaml.safe_dump(plan.to_dict(), sort_keys=False))
            started = True
            emit("start", {"points": len(plan.points), "to_run": len(todo), "where": where, "keys": plan.keys,
                           "reused": sum(a == "reuse" for _, a in states),
                           "kept_failed": sum(a == "keep" for _, a in states),
                           "busy": sum(a == "busy" for _, a in states)})
            tasks = [_task(plan, p, rerun, retry_failed, threads, local=backend != "dask") for p in todo]
            if tasks:
                result.stopped_early = _collect(parallel, tasks, rows, fail_fast, emit)
    except KeyboardInterrupt:
        result.interrupted = True
        raise
    finally:
        for point in plan.points:  # points that never reported: read what their folders say
            if point.index not in rows:
                rows[point.index] = {**_row_base(plan, point), **read_point(plan.run_dir(point)), "action": "pending"}
        result.rows = [rows[p.index] for p in plan.points]
        if started:
            write_summary(result)
    return result


def _collect(parallel: Any, tasks: list[PointTask], rows: dict[int, dict[str, Any]], fail_fast: bool,
             emit: Events) -> bool:
    """Consume rows as points finish; with ``fail_fast`` stop at the first failure (True if stopped)."""
    import warnings

    from joblib import delayed

    outcomes = parallel(delayed(run_point)(task) for task in tasks)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="joblib")  # "tasks ... cancelled" on a stop
        with contextlib.closing(outcomes):
            for done, row in enumerate(outcomes, 1):
                rows[row["index"]] = row
                emit("point", {"row": row, "done": done, "to_run": len(tasks)})
                if fail_fast and row["status"] == "failed" and done < len(tasks):
                    emit("note", {"message": f"--fail-fast: stopping after point {row['index']} failed"})
                    return True
    return False


def _row_base(plan: SweepPlan, point: Point) -> dict[str, Any]:
    return {"index": point.index, "values": point.values, "run_id": point.run_id, "run": str(plan.run_dir(point)),
            "worker": None}


def _task(plan: SweepPlan, point: Point, rerun: bool, retry_failed: bool, threads: Any, local: bool) -> PointTask:
    from digitclf.datasets import cache_dir

    local_context = {"cwd": os.getcwd(), "env": {"DIGITCLF_DATA": str(cache_dir().absolute())}} if local else {}
    return PointTask(point.index, point.values, plan.id, point.config, point.run_id, point.fingerprint,
                     plan.outputs, rerun, retry_failed, threads, **local_context)


@contextlib.contextmanager
def _executor(backend: str, scheduler: str | None, jobs: int,
              n_tasks: int) -> Iterator[tuple[Any, Any, str]]:
    """(a joblib Parallel returning rows as they finish, the thread cap for tasks, a description)."""
    from joblib import Parallel, cpu_count, parallel_config

    options = {"return_as": "generator_unordered", "batch_size": 1}
    if backend == "dask":
        with _dask_client(scheduler) as client:
            caps, cores, threads = dask_thread_caps(client)
            with parallel_config(backend="dask", client=client):
                yield (Parallel(**options), caps,
                       f"Dask at {scheduler}: {len(caps)} workers, {threads} threads on {cores} cores")
        return
    cores = cpu_count()
    workers = max(1, min(cores if jobs == -1 else jobs, n_tasks))
    threads = max(1, cores // workers)
    where = (f"{workers} processes x {threads} BLAS/OpenMP threads ({cores} cores)" if workers > 1
             else f"this process, {threads} BLAS/OpenMP threads")
    if workers == 1:
        yield Parallel(n_jobs=1, **options), threads, where
        return
    with parallel_config(backend="loky", inner_max_num_threads=threads):
        yield Parallel(n_jobs=workers, **options), threads, where


@contextlib.contextmanager
def _dask_client(scheduler: str | None) -> Iterator[Any]:
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--backend dask needs dask.distributed: pip install 'digitclf[dask]'") from None
    try:
        client = Client(scheduler, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ConfigError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({reason}); "
                          "start one with 'dask scheduler' or check the address") from None
    with client:
        yield client


def dask_thread_caps(client: Any) -> tuple[dict[str, int], int, int]:
    """BLAS threads per Dask worker: its host's cores shared among the task threads of that host's workers."""
    from joblib import cpu_count

    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(cpu_count)
    per_host: dict[str, int] = {}
    for info in workers.values():
        per_host[info["host"]] = per_host.get(info["host"], 0) + info["nthreads"]
    caps = {address: max(1, cores.get(address, 1) // per_host[info["host"]]) for address, info in workers.items()}
    host_cores = {workers[a]["host"]: n for a, n in cores.items() if a in workers}
    return caps, sum(host_cores.values()), sum(per_host.values())


# ---------------------------------------------------------------- summary and the trade-off plot


def write_summary(result: SweepResult) -> dict[str, Path]:
    """summary.json, summary.csv (one row per point) and tradeoff.png in the sweep folder."""
    folder = result.plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "summary.json", result.to_dict())
    write_text(folder / "summary.csv", summary_csv(result))
    from digitclf.plots import save, tradeoff

    points = [{**row, "label": f"{row['index']}: {point_label(row['values'], result.plan.keys)}"}
              for row in result.rows if row["status"] == "complete" and row["fit_seconds"] is not None]
    save(tradeoff(points, title=f"sweep {result.plan.id}"), folder / "tradeoff.png")
    return {"json": folder / "summary.json", "csv": folder / "summary.csv", "png": folder / "tradeoff.png"}


def summary_csv(result: SweepResult) -> str:
    keys = result.plan.keys
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", *keys, "status", "action", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high",
                     "fit_seconds", "n_iter", "converged", "run_id", "run", "error"])
    for row in result.rows:
        low, high = row["accuracy_ci95"] or (None, None)
        cells = [row["index"], *[_csv_value(row["values"].get(k)) for k in keys], row["status"], row["action"],
                 row["accuracy"], low, high, row["fit_seconds"], row["n_iter"], row["converged"],
                 row["run_id"], row["run"], row["error"]]
        writer.writerow(["" if c is None else c for c in cells])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value
