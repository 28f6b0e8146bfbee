"""``digitclf train``: run one config into a new run folder."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from digitclf.cli.app import ConfigOpt, JsonOpt, OutputsOpt, SetOpt, app, echo_json, info
from digitclf.observers import RunObserver

if TYPE_CHECKING:
    from digitclf.records import Metrics


class ConsoleProgress(RunObserver):
    """Shows the current phase on stderr: a live spinner on a terminal, one line per phase otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.status: Any = None
        self.started = time.perf_counter()

    def __enter__(self) -> "ConsoleProgress":
        if not self.quiet and sys.stderr.isatty():
            from rich.console import Console

            self.status = Console(stderr=True).status("starting")
            self.status.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.status is not None:
            self.status.stop()

    def _say(self, message: str) -> None:
        info(f"- {message}", self.quiet)

    def on_start(self, run: Any, config: Any) -> None:
        self._say(f"run {run.name}/{run.id}")

    def on_phase(self, phase: str, detail: str = "") -> None:
        message = f"{phase}: {detail}" if detail else phase
        if self.status is not None:
            self.status.update(f"{message}  [{time.perf_counter() - self.started:.1f}s]")
        else:
            self._say(message)

    def on_note(self, message: str) -> None:
        self._say(f"note: {message}")

    def on_warning(self, message: str) -> None:
        self._say(f"warning: {message}")


def format_run(metrics: "Metrics", run_path: Path, notes: list[str]) -> str:
    low, high = metrics.accuracy_ci95
    solver = f" solver={metrics.solver}" if metrics.solver else ""
    lines = [
        f"run       {run_path}",
        f"data      {metrics.dataset}: {metrics.n_train:,} train / {metrics.n_test:,} test, "
        f"{metrics.n_features} features",
        f"model     {metrics.estimator}{solver}  n_iter={metrics.n_iter}  "
        f"converged={'yes' if metrics.converged else 'no'}",
        f"accuracy  {metrics.accuracy:.4f}  (95% CI {low:.4f}-{high:.4f}, {metrics.n_errors} errors)",
        "",
        f"{'phase':<11}{'wall s':>9}{'cpu s':>9}",
    ]
    for phase, t in metrics.timings.items():
        lines.append(f"{phase:<11}{t.wall:>9.3f}{t.cpu:>9.3f}")
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def mlflow_logger(settings: Any) -> Any:
    """The MLflow observer, its warnings on stderr (a tracking failure never fails the run)."""
    from digitclf.tracking import MlflowRunLogger

    return MlflowRunLogger(settings, warn=lambda message: info(f"warning: {message}"))


def check_run_id(run_id: str) -> None:
    import re

    from digitclf.config import NAME_PATTERN
    from digitclf.errors import ConfigError

    if not re.fullmatch(NAME_PATTERN, run_id):
        raise ConfigError(f"--run-id {run_id!r} is not a safe folder name; use letters, digits, '.', '_' or '-'")


@app.command()
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
) -> None:
    """Train and score one config; save model, metrics, plots in outputs/<name>/<run-id>/.

    Example: digitclf train --config mnist_lbfgs.yaml --set model.params.C=10 --json
    """
    from digitclf.checks import preflight
    from digitclf.config import load_config
    from digitclf.plots import Renderer
    from digitclf.runner import train as run_train

    # no --config: the built-in digits default
    cfg = load_config(config, set_ or [])
    if mlflow:
        cfg = cfg.with_mlflow()
    if run_id is not None:
        check_run_id(run_id)
    # the plots' process starts first: its matplotlib import overlaps preflight's scikit-learn import
    with Renderer(process=cfg.output.plots) as renderer:
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
    if not result.metrics.converged:
        info("note: the solver stopped at max_iter before converging (ConvergenceWarning); "
             "raise model.params.max_iter or standardize the input", quiet)
    typer.echo(format_run(result.metrics, result.run.path, result.notes))
