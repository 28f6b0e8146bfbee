"""Running a sweep: each point that is not complete runs through joblib, here, in loky processes or on Dask.

Each worker loads the data set once (from the memory-mapped cache) and caps its BLAS/OpenMP
threads so jobs x threads <= cores.  The sweep announces its lifecycle to ``SweepObserver``s
(the plan, each point as it finishes, notes, then complete, interrupt or fail); it never prints.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from digitclf.checks import CheckedConfig
from digitclf.choices import BACKENDS
from digitclf.config import dump_yaml
from digitclf.errors import ConfigError, DigitclfError, RunBusyError, suggest
from digitclf.observers import SweepEvents, SweepObserver
from digitclf.records import PointRow, Selection, SweepSummary
from digitclf.runs import write_text
from digitclf.sweep.plan import Point, SweepPlan, load_data
from digitclf.sweep.search import TrialLink
from digitclf.sweep.state import DONE_AS, FolderLock, ReleaseOnStart, actions, check_lock_files, clear_point, \
    decide, point_state, read_point
from digitclf.sweep.summary import write_summary

# ---------------------------------------------------------------- one point, in a worker


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to run one point: small and picklable (no arrays)."""

    index: int
    values: dict[str, Any]
    sweep_id: str
    checked: CheckedConfig  # checked once, when the sweep was planned
    run_id: str
    fingerprint: str
    outputs: Path  # absolute
    rerun: bool
    retry_failed: bool
    threads: int | dict[str, int] | None  # BLAS/OpenMP cap; per worker address on Dask
    trial: TrialLink | None = None  # an Optuna trial the fit reports its curve to, to be pruned
    cwd: str | None = None  # local workers run where the sweep was started (loky reuses old workers)
    env: dict[str, str] = field(default_factory=dict)


def run_point(task: PointTask) -> PointRow:
    """Run one point unless it is complete or running elsewhere; return its summary row.

    Besides the summary's fields the row says whether this worker loaded the data set now
    (``loaded_data``) and the BLAS threads the run had (``blas_threads``).
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    from digitclf.runner import train

    cfg = task.checked.config
    run_dir = task.outputs / cfg.name / task.run_id
    base: dict[str, Any] = {"index": task.index, "values": task.values, "run_id": task.run_id,
                            "worker": f"{os.getpid()}@{socket.gethostname()}", "loaded_data": False,
                            "blas_threads": None}
    with _worker_context(task):
        try:
            data, base["loaded_data"] = load_data(cfg.dataset)
        except DigitclfError as exc:
            return read_point(run_dir, **base, status="failed", action="ran", error=str(exc))
        if data.fingerprint != task.fingerprint:
            return read_point(run_dir, **base, status="failed", action="ran",
                              error=f"the data set here has fingerprint {data.fingerprint}, the sweep planned "
                                    f"{task.fingerprint}; give every worker the same data")
        lock = FolderLock(run_dir.parent).acquire()
        error = None
        try:
            state = point_state(run_dir)
            action = decide(state, task.rerun, task.retry_failed)
            if action != "run":
                return read_point(run_dir, **base, action=DONE_AS.get(action, action))
            clear_point(run_dir, state)
            with threadpool_limits(limits=_thread_cap(task.threads)):
                worker = max((pool["num_threads"] for pool in threadpool_info()), default=None)
                cap = cfg.model.blas_threads  # the run's own cap applies to its fit and predict
                base["blas_threads"] = min(cap, worker) if isinstance(cap, int) and worker else worker  # auto: at most
                reporter = [task.trial.reporter()] if task.trial is not None else []
                train(task.checked, outputs=task.outputs, run_id=task.run_id, data=data,
                      record={"sweep": {"id": task.sweep_id, "point": task.values, "index": task.index}},
                      observers=[ReleaseOnStart(lock), *reporter])
        except FileExistsError as exc:
            if Path(exc.filename or "") != run_dir:
                raise
            return read_point(run_dir, **base, action="busy")  # claimed by a process that ignores the lock
        except RunBusyError:  # a `train --run-id` of this point's id is running there
            return read_point(run_dir, **base, action="busy")
        except Exception as exc:  # noqa: BLE001 - train recorded it as failed in the run folder
            error = f"{type(exc).__name__}: {exc}"
        finally:
            lock.release()
    row = read_point(run_dir, **base, action="ran")
    if error and row.status != "failed":
        row = row.model_copy(update={"status": "failed", "error": row.error or error})
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
    """The rows of a finished (or interrupted) sweep; its summary is in ``plan.folder``."""

    plan: SweepPlan
    rows: list[PointRow]
    interrupted: bool = False
    stopped_early: bool = False
    selected: int | None = None  # the index of the selected point's test-set run

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(row.status for row in self.rows))  # in the order statuses first appear

    @property
    def failed(self) -> list[PointRow]:
        return [row for row in self.rows if row.status == "failed"]

    @property
    def ran(self) -> int:
        """How many points ran now (the rest were reused, kept, busy or never started)."""
        return sum(row.action == "ran" for row in self.rows)

    def summary(self) -> SweepSummary:
        """The summary document (summary.json, ``sweep --json``); rows keep only the summary's fields."""
        fields = set(PointRow.model_fields)
        return SweepSummary(sweep=self.plan.id, name=self.plan.name, folder=str(self.plan.folder),
                            keys=self.plan.keys, counts=self.counts, ran=self.ran, interrupted=self.interrupted,
                            stopped_early=self.stopped_early, search=self.plan.search.to_dict(),
                            selection=self.selection(),
                            points=[PointRow.model_validate(row.model_dump(include=fields)) for row in self.rows])

    def selection(self) -> Selection | None:
        """Which point was selected, on which data, and its one score on the test set."""
        final = next((row for row in self.rows if row.index == self.selected), None)
        if final is None or final.selected_from is None:
            return None
        winner = next(row for row in self.rows if row.index == final.selected_from)
        share = self.plan.validation
        n_test = f"{final.n_test} images" if final.n_test else "its test images"
        subsample = next(p for p in self.plan.points if p.index == final.index).config.split.train_size
        trained = f"{subsample} images of the training part (split.train_size)" if subsample else \
            "the whole training part"
        ranked = (f"cross-validation of the training part ({self.plan.points[0].config.split.n_splits} folds, "
                  "mean accuracy)" if share == "cv" else f"validation: {share:.0%} of the training part")
        return Selection(point=winner.index, values=winner.values, validation_accuracy=winner.accuracy,
                         selected_on=f"{ranked}, carved with the config's seed ({self.plan.search.describe()})",
                         scored_on=f"test set ({n_test}), once, after training on {trained}",
                         test_point=final.index, run_id=final.run_id, status=final.status,
                         accuracy=final.accuracy, accuracy_ci95=final.accuracy_ci95)

    def to_dict(self) -> dict[str, Any]:
        return self.summary().to_json()


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
              observers: Sequence[SweepObserver] = ()) -> SweepResult:
    """Run every point that is not complete (see ``state.decide``), batch after batch of the plan's search,
    then the selected point, and write the sweep folder.

    Observers hear ``on_plan(plan, start)`` once the workers are ready (``start``: points, to_run,
    reused, kept_failed, busy, keys, search, and where: a description of the workers), ``on_point(row,
    done, to_run)`` as each point finishes (counted over every batch so far), ``on_note`` (each new
    batch, the selection), then ``on_complete(result)``.  When the plan selects (``plan.selects``), the
    best point on validation data is trained again on the whole training part and scored on the test
    set, once: its row is marked ``selected``.  Ctrl-C or SIGTERM stops the sweep: the summary is
    written with what finished, observers hear ``on_interrupt(result)`` and KeyboardInterrupt
    propagates (points cut short are interrupted or, when their worker process was killed, abandoned;
    the next run of the sweep runs them again).  Any other error is ``on_fail(error)`` and propagates.
    """
    from digitclf.threads import sigterm_as_interrupt

    from digitclf.paths import check_outputs

    check_options(jobs, backend, scheduler)
    check_outputs(plan.outputs)
    check_lock_files({plan.run_dir(p).parent for p in plan.points})  # before the sweep folder is written
    events = SweepEvents(observers)
    rows: dict[int, PointRow] = {}
    result = SweepResult(plan, [])
    started = False
    progress = {"done": 0, "total": 0}
    try:
        with sigterm_as_interrupt(), \
                _executor(backend, scheduler, jobs, len(plan.points)) as (parallel, threads, where):
            plan.folder.mkdir(parents=True, exist_ok=True)
            write_text(plan.folder / "spec.yaml", dump_yaml(plan.to_dict()))
            started = True
            batch = list(plan.points)
            states = actions(plan, rerun, retry_failed)
            events.on_plan(plan, {"points": len(plan.points), "to_run": sum(a == "run" for _, a in states),
                                  "where": where, "keys": plan.keys, "search": plan.search.describe(),
                                  "reused": sum(a == "reuse" for _, a in states),
                                  "kept_failed": sum(a == "keep" for _, a in states),
                                  "busy": sum(a == "busy" for _, a in states)})
            run = _BatchRunner(plan, parallel, threads, rows, events, progress, rerun, retry_failed, fail_fast,
                               local=backend != "dask")
            while batch:
                if run(batch):
                    result.stopped_early = True
                    break
                following = plan.search.next([rows[p.index] for p in batch])
                batch = plan.add_points(following) if following else []
                if batch:
                    events.on_note(f"next batch: points {batch[0].index}-{batch[-1].index} "
                                   f"({plan.search.describe()})")
            if plan.selects and not result.stopped_early:
                result.selected = _select(plan, run, rows, events)
    except KeyboardInterrupt:
        result.interrupted = True
        _record_cut_short(plan, rows)
        _finish(result, rows, started)
        events.on_interrupt(result)
        raise
    except BaseException as exc:
        _finish(result, rows, started)
        events.on_fail(exc)
        raise
    _finish(result, rows, started)
    events.on_complete(result)
    return result


@dataclass
class _BatchRunner:
    """Runs one batch of points: reads those already done, runs the rest, waits for those busy elsewhere."""

    plan: SweepPlan
    parallel: Any
    threads: Any
    rows: dict[int, PointRow]
    events: SweepObserver
    progress: dict[str, int]
    rerun: bool
    retry_failed: bool
    fail_fast: bool
    local: bool

    def __call__(self, batch: list[Point]) -> bool:
        """True if --fail-fast stopped it."""
        todo = []
        for point in batch:
            state = point_state(self.plan.run_dir(point))
            action = decide(state, self.rerun, self.retry_failed)
            if action == "run":
                todo.append(point)
            else:
                self.rows[point.index] = _read_row(self.plan, point, DONE_AS.get(action, action))
        self.progress["total"] += len(todo)
        tasks = [_task(self.plan, p, self.rerun, self.retry_failed, self.threads, self.local) for p in todo]
        if tasks and _collect(self.parallel, tasks, self.rows, self.fail_fast, self.events, self.progress):
            return True
        _wait_for_busy(self.plan, batch, self.rows, self.events)
        return False


def _select(plan: SweepPlan, run: _BatchRunner, rows: dict[int, PointRow], events: SweepObserver) -> int | None:
    """Train the best point on validation data again on the whole training part and score it on the test
    set (its own run, so running the sweep again reuses it: the test set scores it once); its index."""
    winner_row = plan.search.best([rows[p.index] for p in plan.points if p.index in rows])
    if winner_row is None:
        events.on_note("no point completed: nothing to select")
        return None
    winner = next(p for p in plan.points if p.index == winner_row.index)
    final = plan.selected_point(winner)
    subsample = final.config.split.train_size
    trained = f"{subsample} images of the training part" if subsample else "the whole training part"
    events.on_note(f"selected point {winner.index} ({plan.label(winner)}): validation accuracy "
                   f"{winner_row.accuracy:.4f}; training it on {trained}, scoring on the test set")
    run([final])
    rows[final.index] = rows[final.index].model_copy(update={"selected": True, "selected_from": winner.index})
    return final.index


def _record_cut_short(plan: SweepPlan, rows: dict[int, PointRow], grace: float = 5.0) -> None:
    """Points of this sweep whose worker was stopped with it are recorded ``interrupted``, not left ``running``.

    Only folders this sweep started (run.json names this sweep) whose process is gone are touched; a
    worker still shutting down is given ``grace`` seconds.
    """
    from digitclf.errors import DigitclfError
    from digitclf.runs import RunDir, process_alive

    deadline = time.monotonic() + grace
    for point in plan.points:
        if point.index in rows:
            continue
        run = RunDir(plan.run_dir(point))
        try:
            record = run.record()
        except DigitclfError:
            continue
        if record.status != "running" or record.sweep is None or record.sweep.id != plan.id:
            continue
        while process_alive(record.pid) and record.pid != os.getpid() and time.monotonic() < deadline:
            time.sleep(0.1)
        if record.pid != os.getpid() and process_alive(record.pid):
            continue  # still running somewhere: it will record its own end
        try:
            run.finish("interrupted", error="interrupted: the sweep was stopped (Ctrl-C or SIGTERM) while it ran")
        except (OSError, DigitclfError):
            pass


def _run_by_a_sweep(run_dir: Path) -> bool:
    from digitclf.runs import RunDir

    try:
        return RunDir(run_dir).record().sweep is not None
    except DigitclfError:
        return False


def _wait_for_busy(plan: SweepPlan, batch: list[Point], rows: dict[int, PointRow], events: SweepObserver,
                   poll: float = 0.5) -> None:
    """Points another sweep was running when this one started: wait until they end, so both summaries say
    how they ended rather than ``running`` (Ctrl-C stops the wait; a folder held by anything but a sweep
    is reported as it is)."""
    busy = [p for p in batch if p.index in rows and rows[p.index].action == "busy"]
    waiting = [p for p in busy if point_state(plan.run_dir(p)) == "running" and _run_by_a_sweep(plan.run_dir(p))]
    if waiting:
        events.on_note(f"waiting for {len(waiting)} point(s) another process is running "
                       f"({', '.join(str(p.index) for p in waiting)})")
    while any(point_state(plan.run_dir(p)) == "running" for p in waiting):
        time.sleep(poll)
    for point in busy:
        rows[point.index] = _read_row(plan, point, "busy")


def _finish(result: SweepResult, rows: dict[int, PointRow], started: bool) -> None:
    """Rows for points that never reported (read from their folders), then the summary if the sweep started."""
    plan = result.plan
    result.rows = [rows[p.index] if p.index in rows else _read_row(plan, p, "pending") for p in plan.points]
    if started:
        write_summary(result)


def _collect(parallel: Any, tasks: list[PointTask], rows: dict[int, PointRow], fail_fast: bool,
             events: SweepObserver, progress: dict[str, int]) -> bool:
    """Consume rows as points finish; with ``fail_fast`` stop at the first failure (True if stopped)."""
    import warnings

    from joblib import delayed

    outcomes = parallel(delayed(run_point)(task) for task in tasks)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="joblib")  # "tasks ... cancelled" on a stop
        with contextlib.closing(outcomes):
            for done, row in enumerate(outcomes, 1):
                rows[row.index] = row
                progress["done"] += 1
                events.on_point(row, progress["done"], progress["total"])
                if fail_fast and row.status == "failed" and done < len(tasks):
                    events.on_note(f"--fail-fast: stopping after point {row.index} failed")
                    return True
    return False


def _read_row(plan: SweepPlan, point: Point, action: str) -> PointRow:
    return read_point(plan.run_dir(point), index=point.index, values=point.values, run_id=point.run_id,
                      action=action)


def _task(plan: SweepPlan, point: Point, rerun: bool, retry_failed: bool, threads: Any, local: bool) -> PointTask:
    from digitclf.datasets import cache_dir

    local_context = {"cwd": os.getcwd(), "env": {"DIGITCLF_DATA": str(cache_dir().absolute())}} if local else {}
    return PointTask(point.index, point.values, plan.id, point.checked, point.run_id, point.fingerprint,
                     plan.outputs, rerun, retry_failed, threads, plan.search.trial_link(point.values),
                     **local_context)


# ---------------------------------------------------------------- executors: loky here, Dask on a cluster


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
    # more processes than cores only slow CPU-bound fits, and each holds its own copy of scikit-learn
    # (--jobs 1000 would start 1000 of them): at most one per core
    workers = max(1, min(cores, n_tasks) if jobs == -1 or jobs > cores else min(jobs, n_tasks))
    threads = max(1, cores // workers)
    capped = f"; --jobs {jobs} capped at one per core" if jobs > cores else ""
    where = (f"{workers} processes x {threads} BLAS/OpenMP threads ({cores} cores{capped})" if workers > 1
             else f"this process, {threads} BLAS/OpenMP threads{capped}")
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
