"""The Python API (for notebooks and scripts); the CLI uses the same library functions.

    import digitclf
    run = digitclf.train(digitclf.load_config("configs/digits_lbfgs.yaml"))
    run.metrics.accuracy, run.plot_confusion_matrix()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitclf import runs
from digitclf.config import RunConfig, apply_overrides, from_dict, load_config
from digitclf.observers import RunObserver

if TYPE_CHECKING:
    import pandas
    from matplotlib.axes import Axes

    from digitclf.records import CurvePoint, Metrics, RunRecord, SavedSplit


@dataclass
class Run:
    """A saved run folder: its config, metrics, model and predictions, and its plots."""

    dir: runs.RunDir
    trust: bool = False  # load a pickled model that is not signed with this user's key (digitclf.signing)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def id(self) -> str:
        return self.dir.id

    @property
    def status(self) -> str:
        return self.dir.status()

    @property
    def record(self) -> "RunRecord":
        """run.json: status, times, versions, data set fingerprint, artifacts' sha256."""
        return self.dir.record()

    @property
    def config(self) -> RunConfig:
        return self.record.config

    @property
    def metrics(self) -> "Metrics":
        """metrics.json (see README for its shape)."""
        if "metrics" not in self._cache:
            self._cache["metrics"] = self.dir.metrics()
        return self._cache["metrics"]

    @property
    def model(self) -> Any:
        """The fitted scikit-learn Pipeline (sha256-checked before loading); it takes raw pixels."""
        if "model" not in self._cache:
            self._cache["model"] = runs.load_model(self.dir, trust=self.trust)
        return self._cache["model"]

    @property
    def predictions(self) -> "SavedSplit":
        """The test split: test_index, y_test, y_pred, proba (or None), error_index, error_images."""
        if "split" not in self._cache:
            self._cache["split"] = runs.load_split(self.dir)
        return self._cache["split"]

    def plot_confusion_matrix(self, ax: "Axes | None" = None, *, style: str = "seaborn",
                              normalize: str | None = None) -> "Axes":
        from digitclf import plots

        from digitclf.datasets import class_names

        m = self.metrics
        names = class_names(self.config.dataset.name)
        labels = [names[int(label)] for label in m.labels] if names else m.labels
        return _shown(plots.confusion_matrix(m.confusion_matrix, labels, accuracy=m.accuracy,
                                             style=style, normalize=normalize, ax=ax), ax)

    def plot_errors(self, ax: "Axes | None" = None, *, n: int = 25, cols: int = 5, sort: str = "index") -> "Axes":
        from digitclf.saved.grids import error_grid

        return _shown(error_grid(self.dir, n=n, cols=cols, sort=sort, ax=ax), ax)

    @property
    def curve(self) -> "list[CurvePoint]":
        """curve.csv: validation accuracy and log-loss at each iteration (a RunError when none was recorded)."""
        from digitclf.curves import read_run_curve

        if "curve" not in self._cache:
            self._cache["curve"] = read_run_curve(self.dir)
        return self._cache["curve"]

    def plot_curve(self, ax: "Axes | None" = None) -> "Axes":
        """The convergence curve, drawn from curve.csv (the kept iteration marked)."""
        from digitclf.curves import plot_run

        return _shown(plot_run(self.dir, ax=ax), ax)

    def _repr_html_(self) -> str:  # a notebook shows a one-line summary
        m = self.metrics if self.status == "complete" else None
        accuracy = f"{m.accuracy:.4f}" if m else "-"
        return f"<b>digitclf run</b> {self.dir.name}/{self.id}: {self.status}, accuracy {accuracy}"


def _shown(drawn: "Axes", given: "Axes | None") -> "Axes":
    """A figure drawn on its own (no ``ax=``) is shown inline in a Jupyter kernel, as pyplot's figures are;
    elsewhere nothing is shown and nothing global is touched."""
    import sys

    if given is None and "ipykernel" in sys.modules:
        from IPython.display import display

        display(drawn.figure)
    return drawn


class _Printer(RunObserver):
    """``train(quiet=False)``: each phase, note and warning printed as it happens."""

    def on_phase(self, phase: str, detail: str = "") -> None:
        print(f"{phase}: {detail}" if detail else phase)

    def on_note(self, message: str) -> None:
        print(f"note: {message}")

    def on_warning(self, message: str) -> None:
        print(f"warning: {message}")


def train(config: RunConfig | str | Path, *, overrides: list[str] | tuple[str, ...] = (),
          outputs: str | Path | None = None, quiet: bool = True) -> Run:
    """Train a config (a RunConfig or a YAML path) into a new run folder and return the Run."""
    from digitclf.runner import train as run_train

    if not isinstance(config, RunConfig):
        config = load_config(config, overrides)
    elif overrides:
        config = from_dict(apply_overrides(config.to_dict(), overrides))
    observers: list[Any] = [] if quiet else [_Printer()]
    if config.output.mlflow is not None:
        from digitclf.tracking import MlflowRunLogger

        observers.append(MlflowRunLogger(config.output.mlflow))
    result = run_train(config, outputs=Path(outputs) if outputs else None, observers=observers)
    run = Run(result.run)
    run._cache.update(metrics=result.metrics, model=result.model)
    return run


def load_run(ref: str | Path | int | None = None, outputs: str | Path | None = "outputs", *,
             trust: bool = False) -> Run:
    """A complete saved run: a folder, a run id (a unique prefix is enough; a number is read as its
    digits) or None for the latest; ``outputs=None`` is the default ``outputs`` folder.

    ``trust=True`` lets ``.model`` unpickle a model that is not signed with your key (one copied
    from elsewhere: unpickling runs its code).
    """
    ref = str(ref) if isinstance(ref, int) else ref
    return Run(runs.resolve_run(ref, Path(outputs or "outputs")), trust=trust)


def list_runs(outputs: str | Path = "outputs", **filters: Any) -> "pandas.DataFrame":
    """One row per run (id, name, dataset, estimator, solver, accuracy, fit seconds, status, ...) as a DataFrame.

    Filters as in ``digitclf runs``: name= (glob), status=, sweep=, sort=, reverse=.
    """
    import pandas as pd

    from digitclf.listing import list_runs as rows

    return pd.DataFrame(rows(Path(outputs), **filters))


__all__ = ["Run", "list_runs", "load_config", "load_run", "train"]
