"""The Python API (for notebooks and scripts); the CLI uses the same library functions.

    import digitclf
    run = digitclf.train(digitclf.load_config("configs/digits_lbfgs.yaml"))
    run.metrics["accuracy"], run.plot_confusion_matrix()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitclf import runs
from digitclf.config import RunConfig, from_dict, load_config

if TYPE_CHECKING:
    import pandas
    from matplotlib.axes import Axes


@dataclass
class Run:
    """A saved run folder: its config, metrics, model and predictions, and its plots."""

    dir: runs.RunDir
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
    def record(self) -> dict[str, Any]:
        """run.json: status, times, versions, data set fingerprint, artifacts' sha256."""
        return self.dir.record()

    @property
    def config(self) -> RunConfig:
        return from_dict(self.record["config"], str(self.path / "config.yaml"))

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json (see README for its shape)."""
        if "metrics" not in self._cache:
            self._cache["metrics"] = runs.load_json(self.dir, "metrics.json")
        return self._cache["metrics"]

    @property
    def model(self) -> Any:
        """The fitted scikit-learn Pipeline (sha256-checked before loading); it takes raw pixels."""
        if "model" not in self._cache:
            self._cache["model"] = runs.load_model(self.dir)
        return self._cache["model"]

    @property
    def predictions(self) -> dict[str, Any]:
        """Arrays of the test split: test_index, y_test, y_pred, proba (or None), error_index, error_images."""
        if "split" not in self._cache:
            self._cache["split"] = runs.load_split(self.dir)
        return self._cache["split"]

    def plot_confusion_matrix(self, ax: "Axes | None" = None, *, style: str = "seaborn",
                              normalize: str | None = None) -> "Axes":
        from digitclf import plots

        m = self.metrics
        return plots.confusion_matrix(m["confusion_matrix"], m["labels"], accuracy=m["accuracy"],
                                      style=style, normalize=normalize, ax=ax)

    def plot_errors(self, ax: "Axes | None" = None, *, n: int = 25, cols: int = 5, sort: str = "index") -> "Axes":
        from digitclf import plots
        from digitclf.evaluate import class_names, select_errors

        saved = self.predictions
        chosen = select_errors(saved, n, sort)
        return plots.misclassified(chosen["images"], chosen["y_true"], chosen["y_pred"], saved["image_shape"],
                                   confidence=chosen["confidence"], cols=cols, ax=ax,
                                   class_names=class_names(self.record))

    def _repr_html_(self) -> str:  # a notebook shows a one-line summary
        m = self.metrics if self.status == "complete" else {}
        accuracy = f"{m['accuracy']:.4f}" if m else "-"
        return f"<b>digitclf run</b> {self.dir.name}/{self.id}: {self.status}, accuracy {accuracy}"


def train(config: RunConfig | str | Path, *, overrides: list[str] | tuple[str, ...] = (),
          outputs: str | Path | None = None, quiet: bool = True) -> Run:
    """Train a config (a RunConfig or a YAML path) into a new run folder and return the Run."""
    from digitclf.runner import train as run_train

    if not isinstance(config, RunConfig):
        config = load_config(config, overrides)
    elif overrides:
        from digitclf.config import apply_overrides

        config = from_dict(apply_overrides(config.to_dict(), overrides))
    events = None if quiet else (lambda kind, data: print(kind, data.get("phase") or data.get("message", "")))
    result = run_train(config, outputs=Path(outputs) if outputs else None, events=events)
    run = Run(result.run)
    run._cache.update(metrics=result.metrics, model=result.model)
    return run


def load_run(ref: str | Path | None = None, outputs: str | Path = "outputs") -> Run:
    """A complete saved run: a folder, a run id (a unique prefix is enough) or None for the latest."""
    return Run(runs.resolve_run(ref, Path(outputs)))


def list_runs(outputs: str | Path = "outputs", **filters: Any) -> "pandas.DataFrame":
    """One row per run (id, name, dataset, estimator, solver, accuracy, fit seconds, status, ...) as a DataFrame.

    Filters as in ``digitclf runs``: name= (glob), status=, sweep=, sort=, reverse=.
    """
    import pandas as pd

    from digitclf.listing import list_runs as rows

    return pd.DataFrame(rows(Path(outputs), **filters))


__all__ = ["Run", "list_runs", "load_config", "load_run", "train"]
