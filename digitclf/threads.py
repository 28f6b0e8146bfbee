"""Threads and signals around a fit: the BLAS thread policy and caps, an interruptible worker thread,
SIGTERM as Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any, Callable, Iterator, Literal

# Below this many cells (rows x columns of the fitted X) one BLAS thread is faster than two:
# the threads' hand-offs cost more than they save, and on a busy machine a second thread waits
# for a core (benchmarks/RESULTS.md, "BLAS threads").
AUTO_SINGLE_THREAD_CELLS = 2**27


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (like Ctrl-C) so the run is recorded as interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interruptible(func: Callable[[], Any]) -> Any:
    """Run ``func`` in a worker thread and wait for it in the main thread.

    A long solver loop in compiled code (saga, liblinear) only returns to Python at
    the end, so a signal would wait for it; the waiting main thread handles Ctrl-C
    and SIGTERM at once, and the run is recorded as interrupted.  The worker is a
    daemon thread: it ends with the process.
    """
    if threading.current_thread() is not threading.main_thread():
        return func()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="digitclf-fit", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_overlap() -> bool:
    """Whether a helper process (the plots' drawing) can run beside this one: the process may use two
    cores or more.  Not only an idle machine: under a background load the scheduler shares the cores per
    process, so a second process of the run gets its own share (measured in benchmarks/RESULTS.md: the
    quick start under two busy processes took a median 5.5 s with it against 7.8 s without, for about
    the same CPU time)."""
    return usable_cores() >= 2


def current_blas_threads() -> int | None:
    """The fewest threads any loaded BLAS library uses in the calling thread (None: no BLAS loaded).

    Read it in the thread that set the caps: a sweep worker caps its main thread, and MKL's or
    OpenMP-built OpenBLAS's counts are per thread, so a fit thread would see the library's default.
    """
    from threadpoolctl import threadpool_info

    counts = [lib["num_threads"] for lib in threadpool_info()
              if lib["user_api"] == "blas" and lib.get("num_threads") is not None]
    return min(counts) if counts else None


def choose_blas_threads(setting: int | Literal["auto"] | None, cells: int, available: int | None) -> int | None:
    """The BLAS threads for a fit on ``cells`` cells of data: the ``model.blas_threads`` policy.

    ``available`` is what the caller already has (``current_blas_threads()``: one per core, or a
    sweep worker's share of them); no choice exceeds it, so ``--jobs`` never oversubscribes.
    ``auto`` takes one thread below ``AUTO_SINGLE_THREAD_CELLS``, else all available; a count is
    an upper bound; ``None`` leaves the library alone.
    """
    if setting is None:
        return None
    if setting == "auto":
        setting = 1 if cells < AUTO_SINGLE_THREAD_CELLS else (available or 1)
    return setting if available is None else max(1, min(setting, available))


def fit_blas_threads(setting: int | Literal["auto"] | None, cells: int) -> int | None:
    """``choose_blas_threads`` with what the calling thread has available (call it before the fit thread)."""
    return None if setting is None else choose_blas_threads(setting, cells, current_blas_threads())


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """At most ``limit`` BLAS threads inside the block, in the calling thread (``None``: leave them alone).

    Enter it in the thread that does the work: MKL's and OpenMP-built OpenBLAS's settings are
    per thread.  Never raises a count: the cap is the smallest of ``limit`` and every loaded
    library's current count, so a sweep worker already capped to fewer keeps its cap.
    """
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    current = current_blas_threads()
    with threadpool_limits(limits=limit if current is None else min(limit, current), user_api="blas"):
        yield


def capped(limit: int | None, func: Callable[[], Any]) -> Callable[[], Any]:
    """``func`` run under ``blas_threads(limit)`` in whichever thread calls it, interruptibly."""
    def run() -> Any:
        with blas_threads(limit):
            return func()
    return lambda: interruptible(run)
