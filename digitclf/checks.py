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
from digitclf.schema import param_schema


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
    constraints = getattr(cls, "_parameter_constraints", {})
    for key, value in model.params.items():
        if isinstance(value, bool) and not _takes_bool(param_schema(constraints.get(key))):
            # scikit-learn counts True as the integer 1; the schema (and so an editor) refuses it
            raise ConfigError(f"model.params.{key}: {cls.__name__} takes a number or a name here, not "
                              f"{str(value).lower()} (YAML reads true/false as booleans)")
        if key in constraints:
            _check_constraints(cls.__name__, key, value, constraints[key])
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
    if model.accelerator is not None:
        check_accelerator(model, estimator)


def check_accelerator(model: ModelConfig, estimator: object) -> None:
    """``model.accelerator: sklearnex`` only where digitclf fits that way: a plain fit of a supported estimator."""
    name = type(estimator).__name__
    if name not in models.ACCELERATED:
        raise ConfigError(f"model.accelerator: digitclf fits only {', '.join(models.ACCELERATED)} with sklearnex, "
                          f"not {name}; use estimator logistic_regression or remove model.accelerator")
    for key in ("early_stopping", "time_budget"):
        if getattr(model, key) is not None:
            raise ConfigError(f"model.accelerator: sklearnex's fit reports no iterations, so model.{key} cannot "
                              f"work with it; remove one of the two")


def _check_constraints(owner: str, key: str, value: object, constraints: list) -> None:
    """One parameter against scikit-learn's own constraints, in a message that reads the same every run
    (scikit-learn prints its choices as a set, in a different order each time)."""
    from sklearn.utils._param_validation import Hidden, StrOptions, make_constraint

    if constraints == "no_validation" or any(make_constraint(c).is_satisfied_by(value) for c in constraints):
        return
    shown = [c for c in constraints if not isinstance(c, Hidden)]
    options = sorted(o for c in shown if isinstance(c, StrOptions) for o in c.options if o not in c.deprecated)
    said = [f"one of {', '.join(options)}" if len(options) > 1 else repr(options[0])] if options else []
    said += [str(make_constraint(c)) for c in shown if not isinstance(c, StrOptions)]
    hint = suggest(value, options) if isinstance(value, str) else ""
    raise ConfigError(f"model.params.{key}: {owner}'s {key} must be {' or '.join(said)}; got {value!r}{hint}")


def _takes_bool(schema: dict) -> bool:
    return schema == {} or schema.get("type") == "boolean" or any(map(_takes_bool, schema.get("anyOf", [])))


def check_packages(config: RunConfig) -> None:
    """The optional packages the config's outputs need are installed."""
    if config.output.model_format == "skops" and find_spec("skops") is None:
        raise ConfigError("output.model_format: skops needs the skops package; "
                          "pip install 'digitclf[skops]' or use model_format: joblib")
    if config.model.accelerator == "sklearnex" and find_spec("sklearnex") is None:
        raise ConfigError("model.accelerator: sklearnex needs scikit-learn-intelex, which is not installed; "
                          "pip install 'digitclf[intelex]' or remove model.accelerator")
    if config.model.accelerator is not None and (config.output.curve or config.split.kind == "kfold"
                                                 or config.split.cv):
        raise ConfigError("model.accelerator: sklearnex fits only a plain train/test run (no output.curve, "
                          "no cross-validation); remove model.accelerator or those settings")
    if config.output.mlflow is not None and find_spec("mlflow") is None:
        raise ConfigError("output.mlflow: logging to MLflow needs it installed; pip install 'digitclf[mlflow]'")
