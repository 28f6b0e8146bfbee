"""Preflight: everything about a config that needs the data set registry or scikit-learn, checked once.

``config.load_config`` checks structure; ``preflight`` checks what structure cannot (the data
set spec, estimator parameters and their combinations, the optional packages an output needs)
and returns a ``CheckedConfig``.  ``runner.train`` trusts a CheckedConfig as it is, so a run, or
each point of a sweep, is checked exactly once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.util import find_spec

import numpy as np

from digitclf import datasets, models
from digitclf.config import ModelConfig, RunConfig
from digitclf.errors import ConfigError, suggest


@dataclass(frozen=True)
class CheckedConfig:
    """A resolved RunConfig that passed ``preflight``: nothing downstream checks it again."""

    config: RunConfig


def preflight(config: RunConfig | CheckedConfig) -> CheckedConfig:
    """Check ``config`` completely before any data is read or any folder made (a CheckedConfig is returned as is)."""
    if isinstance(config, CheckedConfig):
        return config
    config = config.resolved()
    datasets.check_spec(config.dataset, config.split)
    check_estimator(config.model)
    models.build_preprocessor(config.preprocess, pixel_max=255.0, seed=0)  # a step listed twice
    check_packages(config)
    return CheckedConfig(config)


def check_estimator(model: ModelConfig) -> None:
    """Reject unknown or invalid estimator parameters using scikit-learn's own checks.

    Names are checked against ``get_params()``; values, and combinations such as
    solver/penalty, by fitting the configured estimator on a tiny synthetic
    three-class problem, so the messages are scikit-learn's own.
    """
    cls = models.estimator_class(model.estimator)
    allowed = sorted(models.default_params(cls))
    for key in model.params:
        if key not in allowed:
            raise ConfigError(f"model.params.{key}: {cls.__name__} has no parameter {key!r}"
                              f"{suggest(key, allowed)}; allowed: {', '.join(allowed)}")
    rng = np.random.default_rng(0)
    X = rng.random((30, 8), dtype=np.float32)
    y = np.arange(30) % 3
    try:
        estimator, _ = models.build_estimator(model, seed=0, n_classes=3)
        # a huge (valid) iteration or tree count would make this check slow; invalid values are kept
        estimator.set_params(**{key: 5 for key, value in estimator.get_params().items()
                                if key.rpartition("__")[2] in ("max_iter", "n_estimators")
                                and isinstance(value, int) and value > 5})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, y)
    except (ValueError, TypeError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model.params: {first}") from None
    from digitclf import stopping

    stopping.check(model, estimator)


def check_packages(config: RunConfig) -> None:
    """The optional packages the config's outputs need are installed."""
    if config.output.model_format == "skops" and find_spec("skops") is None:
        raise ConfigError("output.model_format: skops needs the skops package; "
                          "pip install 'digitclf[skops]' or use model_format: joblib")
    if config.output.mlflow is not None and find_spec("mlflow") is None:
        raise ConfigError("output.mlflow: logging to MLflow needs it installed; pip install 'digitclf[mlflow]'")
