"""``digitclf train``: run one config into a new run folder."""

from __future__ import annotations

import functools
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer

from digitclf.cli.app import ConfigOpt, JsonOpt, OutputsOpt, SetOpt, app, echo_json, info
from digitclf.observers import RunObserver

if TYPE_CHECKING:
    from digitclf.curves import FitProgress
    from digitclf.records import Metrics

PLAIN_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal
BAR_WIDTH = 24


class ConsoleProgress(RunObserver):
    """Shows the current phase on stderr: a live spinner on a terminal, one line per phase otherwise.

    During the fit: iteration / max_iter, held-out accuracy, elapsed and what remains (a bar on a
    terminal, a line every ``PLAIN_EVERY`` seconds otherwise); an estimator that reports no
    iterations gets an elapsed-time ticker instead.
    """

    def __init__(self, quiet: bool, every: float | None = None) -> None:
        self.quiet = quiet
        self.every = PLAIN_EVERY if every is None else every
        self.status: Any = None
        self.started = time.perf_counter()
        self.phase = ""
        self.phase_started = self.started
        self.last_line = self.started
        self.iterating = False
        self.ticker: threading.Event | None = None

    def __enter__(self) -> "ConsoleProgress":
        if not self.quiet and sys.stderr.isatty():
            from rich.console import Console

            self.status = Console(stderr=True).status("starting")
            self.status.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop_ticker()
        if self.status is not None:
            self.status.stop()

    def _say(self, message: str) -> None:
        info(f"- {message}", self.quiet)

    def on_start(self, run: Any, config: Any) -> None:
        self._say(f"run {run.name}/{run.id}")

    def on_phase(self, phase: str, detail: str = "") -> None:
        self._stop_ticker()
        message = f"{phase}: {detail}" if detail else phase
        self.phase, self.phase_started = message, time.perf_counter()
        if self.status is not None:
            self.status.update(f"{message}  [{time.perf_counter() - self.started:.1f}s]")
        else:
            self._say(message)
        self.last_line = self.phase_started
        if phase == "fit" and not self.quiet:
            self._start_ticker()

    def on_iteration(self, progress: "FitProgress") -> None:
        self.iterating = True
        now = time.perf_counter()
        if self.status is not None:
            self.status.update(f"fit  {format_iteration(progress, bar=True)}")
        elif now - self.last_line >= self.every:
            self.last_line = now
            self._say(f"fit: {format_iteration(progress)}")

    def _start_ticker(self) -> None:
        """Elapsed time while an estimator that reports no iterations fits."""
        stop = self.ticker = threading.Event()
        self.iterating = False
        interval = 0.5 if self.status is not None else self.every

        def tick() -> None:
            while not stop.wait(interval):
                if self.iterating:
                    continue
                elapsed = time.perf_counter() - self.phase_started
                if self.status is not None:
                    self.status.update(f"{self.phase}  [{elapsed:.0f}s elapsed]")
                elif time.perf_counter() - self.last_line >= self.every:
                    self.last_line = time.perf_counter()
                    self._say(f"fit: {elapsed:.0f}s elapsed")

        threading.Thread(target=tick, name="digitclf-fit-ticker", daemon=True).start()

    def _stop_ticker(self) -> None:
        if self.ticker is not None:
            self.ticker.set()
            self.ticker = None

    def on_note(self, message: str) -> None:
        self._say(f"note: {message}")

    def on_warning(self, message: str) -> None:
        self._say(f"warning: {message}")


def format_iteration(progress: "FitProgress", bar: bool = False) -> str:
    """``iteration 37/300, val accuracy 0.8421, 12.3s elapsed, ~20s left`` (with a text bar on a terminal)."""
    total = f"/{progress.max_iter}" if progress.max_iter else ""
    parts = [f"iteration {progress.iteration}{total}"]
    if progress.val_accuracy is not None:
        parts.append(f"val accuracy {progress.val_accuracy:.4f}")
    parts.append(f"{progress.elapsed:.1f}s elapsed")
    if progress.remaining is not None:
        parts.append(f"~{progress.remaining:.0f}s left at most")
    text = ", ".join(parts)
    if bar and progress.max_iter:
        done = round(BAR_WIDTH * min(progress.iteration / progress.max_iter, 1.0))
        text = f"[{'#' * done}{'.' * (BAR_WIDTH - done)}] {text}"
    return text


def format_run(metrics: "Metrics", run_path: Path, notes: list[str]) -> str:
    low, high = metrics.accuracy_ci95
    solver = f" solver={metrics.solver}" if metrics.solver else ""
    cv = metrics.cv
    if cv is None:
        data = f"{metrics.n_train:,} train / {metrics.n_test:,} test"
        accuracy = f"{metrics.accuracy:.4f}  (95% CI {low:.4f}-{high:.4f}, {metrics.n_errors} errors)"
    else:  # every image is scored by the fold that left it out; the interval is the corrected t-interval
        repeats = f" x {cv.repeats} repeats" if cv.repeats > 1 else ""
        data = f"{cv.n_splits}-fold CV{repeats} on {metrics.n_test:,} images ({metrics.n_train:,} train per fold)"
        accuracy = (f"mean {metrics.accuracy:.4f} ± {max(metrics.accuracy - low, high - metrics.accuracy):.4f} over "
                    f"{len(cv.fold_accuracy)} folds  (95% CI {low:.4f}-{high:.4f}, {metrics.n_errors} errors out of fold)")
    lines = [
        f"run       {run_path}",
        f"data      {metrics.dataset}: {data}, {metrics.n_features} features",
        f"model     {metrics.estimator}{solver}  n_iter={metrics.n_iter}  "
        f"converged={'yes' if metrics.converged else 'no'}",
        f"accuracy  {accuracy}",
        *([format_stop(metrics)] if metrics.stopped_early or metrics.n_validation else []),
        "",
        f"{'phase':<11}{'wall s':>9}{'cpu s':>9}",
    ]
    for phase, t in metrics.timings.items():
        lines.append(f"{phase:<11}{t.wall:>9.3f}{t.cpu:>9.3f}")
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def format_stop(metrics: "Metrics") -> str:
    """``stopped   early (patience) at iteration 40; kept iteration 35; 6,000 training images held out``."""
    held = f"{metrics.n_validation:,} training images held out for validation"
    if not metrics.stopped_early:
        return f"stopped   no (ran to the solver's own end); {held}"
    kept = f"kept iteration {metrics.best_iteration}" if metrics.best_iteration else "kept the last iteration"
    return f"stopped   early ({metrics.stop_reason}) at iteration {metrics.n_iter}; {kept}; {held}"


def mlflow_logger(settings: Any) -> Any:
    """The MLflow observer, its warnings on stderr (a tracking failure never fails the run)."""
    from digitclf.tracking import MlflowRunLogger

    return MlflowRunLogger(settings, warn=lambda message: info(f"warning: {message}"))


def check_run_id(run_id: str) -> None:
    import re

    from digitclf.config import NAME_PATTERN
    from digitclf.errors import ConfigError

    if not re.fullmatch(NAME_PATTERN, run_id):
        raise ConfigError(f"--run-id {run_id!r} is not a safe folder name; use letters, digits, '.', '_' or '-' "
                          "(at most 64, starting with a letter or digit)")


def sigterm_stops(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command with SIGTERM raising KeyboardInterrupt from its first line: a SIGTERM while scikit-learn
    is still being imported ends with the interrupted line and exit 130, as Ctrl-C does (was: killed, 143)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        from digitclf.threads import sigterm_as_interrupt

        with sigterm_as_interrupt():
            return command(*args, **kwargs)

    return run


@app.command()
@sigterm_stops
def train(
    config: Optional[str] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    json_: bool = JsonOpt,
    outputs: Optional[Path] = OutputsOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or notes on stderr."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Name the run folder yourself (e.g. for a DVC "
                                         "stage); a previous run of that id moves to <name>/.superseded/. "
                                         "Default: time + random suffix."),
    mlflow: bool = typer.Option(False, "--mlflow", help="Also log the run to MLflow (settings: output.mlflow)."),
    curve: Optional[bool] = typer.Option(None, "--curve/--no-curve", help="Record curve.csv and curve.png: held-out "
                                         "accuracy at every iteration (output.curve; default: on with "
                                         "model.early_stopping)."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", metavar="SECONDS",
                                                help="Stop the fit at the last iteration that ends within SECONDS "
                                                     "(model.time_budget; lbfgs logistic regression)."),
) -> None:
    """Train and score one config; save model, metrics, plots in outputs/<name>/<run-id>/.

    Example: digitclf train --config mnist_lbfgs.yaml --set model.params.C=10 --json

    Example: digitclf train --config fashion_mnist_lbfgs.yaml --time-budget 5 --curve
    """
    from digitclf.checks import preflight
    from digitclf.config import load_config
    from digitclf.imports import import_sklearn
    from digitclf.plots import Renderer
    from digitclf.runner import train as run_train

    # no --config: the built-in digits default
    overrides = [*(set_ or []), *([f"output.curve={str(curve).lower()}"] if curve is not None else []),
                 *([f"model.time_budget={time_budget}"] if time_budget is not None else [])]
    cfg = load_config(config, overrides)
    if mlflow:
        cfg = cfg.with_mlflow()
    if run_id is not None:
        check_run_id(run_id)
    # the plots' process starts first: its matplotlib import overlaps preflight's scikit-learn import
    with Renderer(process=cfg.output.plots) as renderer:
        import_sklearn()
        checked = preflight(cfg)  # every config error before any data or folder
        if run_id is not None:
            from digitclf.runs import make_way

            aside = make_way(Path(outputs or cfg.output.dir) / cfg.name / run_id)
            if aside is not None:
                info(f"note: --run-id {run_id}: the previous run there was moved to {aside}", quiet)
        observers: list[Any] = []
        if cfg.output.mlflow is not None:
            observers.append(mlflow_logger(cfg.output.mlflow))
        with ConsoleProgress(quiet or json_) as progress:
            result = run_train(checked, observers=[progress, *observers], outputs=outputs, run_id=run_id,
                               renderer=renderer)
    for logger in observers:
        if logger.logged:
            info(f"mlflow    run {logger.logged} in experiment {cfg.output.mlflow.experiment!r}", quiet or json_)
    if json_:
        echo_json(result.metrics.to_json())
        return
    if not result.metrics.converged and not result.metrics.stopped_early:
        info("note: the solver stopped at max_iter before converging (ConvergenceWarning); "
             "raise model.params.max_iter or standardize the input", quiet)
    typer.echo(format_run(result.metrics, result.run.path, result.notes))
