"""Threads and signals around a fit: BLAS thread caps, an interruptible worker thread, SIGTERM as Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterator


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
    from threadpoolctl import threadpool_info, threadpool_limits

    counts = [lib["num_threads"] for lib in threadpool_info()
              if lib["user_api"] == "blas" and lib.get("num_threads") is not None]
    with threadpool_limits(limits=min([limit, *counts]), user_api="blas"):
        yield


def capped(limit: int | None, func: Callable[[], Any]) -> Callable[[], Any]:
    """``func`` run under ``blas_threads(limit)`` in whichever thread calls it, interruptibly."""
    def run() -> Any:
        with blas_threads(limit):
            return func()
    return lambda: interruptible(run)
