"""Lifecycles as observers: a run and a sweep announce what happens; whoever listens plugs in here.

The library never prints.  The CLI's console progress, the MLflow logger and a sweep's folder
lock are observers: subclass ``RunObserver`` (or ``SweepObserver``) and override the methods
you need; every method does nothing by default.  ``RunEvents``/``SweepEvents`` pass each event
to a list of observers in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from digitclf.config import RunConfig
    from digitclf.curves import FitProgress
    from digitclf.runner import RunResult
    from digitclf.runs import RunDir
    from digitclf.sweep import SweepPlan, SweepResult


class RunObserver:
    """One run's lifecycle: start, phases (and the fit's iterations), notes and warnings, then exactly one of
    complete/fail/interrupt."""

    def on_start(self, run: "RunDir", config: "RunConfig") -> None:
        """The run folder exists and its run.json says ``running``."""

    def on_phase(self, phase: str, detail: str = "") -> None:
        """A phase begins (load, split, preprocess, fit, predict, score, save); ``detail`` says on what."""

    def on_iteration(self, progress: "FitProgress") -> None:
        """An iteration of the fit ended (estimators with per-iteration callbacks): where it is, how long it took."""

    def on_note(self, message: str) -> None:
        """Something the user should know (a data set imported, liblinear wrapped one-vs-rest)."""

    def on_warning(self, message: str) -> None:
        """A warning raised during the fit (ConvergenceWarning, ...), one line."""

    def on_complete(self, result: "RunResult") -> None:
        """Every artifact is written and the run is ``complete``."""

    def on_fail(self, run: "RunDir", error: BaseException) -> None:
        """The run raised and is recorded ``failed``."""

    def on_interrupt(self, run: "RunDir") -> None:
        """Ctrl-C or SIGTERM: the run is recorded ``interrupted``."""


class _Broadcast:
    def __init__(self, observers: Iterable[Any] = ()) -> None:
        self.observers = list(observers)

    def _send(self, method: str, *args: Any) -> None:
        for observer in self.observers:
            getattr(observer, method)(*args)


class RunEvents(_Broadcast, RunObserver):
    """Passes every event to each observer, in order."""

    def on_start(self, run: "RunDir", config: "RunConfig") -> None:
        self._send("on_start", run, config)

    def on_phase(self, phase: str, detail: str = "") -> None:
        self._send("on_phase", phase, detail)

    def on_iteration(self, progress: "FitProgress") -> None:
        self._send("on_iteration", progress)

    def on_note(self, message: str) -> None:
        self._send("on_note", message)

    def on_warning(self, message: str) -> None:
        self._send("on_warning", message)

    def on_complete(self, result: "RunResult") -> None:
        self._send("on_complete", result)

    def on_fail(self, run: "RunDir", error: BaseException) -> None:
        self._send("on_fail", run, error)

    def on_interrupt(self, run: "RunDir") -> None:
        self._send("on_interrupt", run)


class SweepObserver:
    """A sweep's lifecycle: the plan, each point as it finishes, notes, then complete or interrupt."""

    def on_plan(self, plan: "SweepPlan", start: dict[str, Any]) -> None:
        """The points are validated and about to run; ``start`` counts them (to_run, reused, kept_failed,
        busy) and says where they run (``where``)."""

    def on_point(self, row: Any, done: int, total: int) -> None:
        """A point finished (its summary row); ``done`` of ``total`` points to run."""

    def on_note(self, message: str) -> None:
        """Something the user should know (--fail-fast stopped the sweep)."""

    def on_complete(self, result: "SweepResult") -> None:
        """Every point ran or was skipped; the summary is written."""

    def on_fail(self, error: BaseException) -> None:
        """The sweep itself raised (not a point: points fail on their own)."""

    def on_interrupt(self, result: "SweepResult") -> None:
        """Ctrl-C or SIGTERM; the summary of what finished is written."""


class SweepEvents(_Broadcast, SweepObserver):
    """Passes every event to each observer, in order."""

    def on_plan(self, plan: "SweepPlan", start: dict[str, Any]) -> None:
        self._send("on_plan", plan, start)

    def on_point(self, row: Any, done: int, total: int) -> None:
        self._send("on_point", row, done, total)

    def on_note(self, message: str) -> None:
        self._send("on_note", message)

    def on_complete(self, result: "SweepResult") -> None:
        self._send("on_complete", result)

    def on_fail(self, error: BaseException) -> None:
        self._send("on_fail", error)

    def on_interrupt(self, result: "SweepResult") -> None:
        self._send("on_interrupt", result)
