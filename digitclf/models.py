"""Estimator registry, parameter checks against scikit-learn, and the preprocessing pipeline."""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from digitclf.config import suggest
from digitclf.errors import ConfigError

if TYPE_CHECKING:
    from digitclf.config import ModelConfig, PreprocessStep

ESTIMATORS: dict[str, str] = {
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
    "sgd": "sklearn.linear_model.SGDClassifier",
    "linear_svc": "sklearn.svm.LinearSVC",
    "knn": "sklearn.neighbors.KNeighborsClassifier",
    "decision_tree": "sklearn.tree.DecisionTreeClassifier",
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "mlp": "sklearn.neural_network.MLPClassifier",
}


def estimator_class(name: str) -> type:
    """A registry name or a dotted ``sklearn.`` path -> the classifier class."""
    path = ESTIMATORS.get(name, name)
    if "." not in path:
        raise ConfigError(f"model.estimator: unknown estimator {name!r}{suggest(name, ESTIMATORS)}; "
                          f"known: {', '.join(ESTIMATORS)}, or a dotted path like sklearn.svm.SVC")
    if not path.startswith("sklearn."):
        raise ConfigError(f"model.estimator: {name!r} is outside scikit-learn; only sklearn.* classes are allowed")
    module_name, _, attr = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise ConfigError(f"model.estimator: {path!r} does not exist in scikit-learn; "
                          f"check the spelling, e.g. sklearn.svm.SVC") from None
    from sklearn.base import ClassifierMixin

    if not (inspect.isclass(cls) and issubclass(cls, ClassifierMixin)):
        raise ConfigError(f"model.estimator: {path!r} is not a scikit-learn classifier")
    return cls


def default_params(cls: type) -> dict[str, Any]:
    """The estimator's parameters and defaults; meta-estimators that need arguments are refused."""
    try:
        return cls().get_params()
    except TypeError as exc:
        raise ConfigError(f"model.estimator: '{cls.__module__.split('._')[0]}.{cls.__name__}' needs constructor "
                          f"arguments ({exc}); digitclf builds estimators from model.params alone") from None


def _needs_ovr(estimator: Any, n_classes: int) -> bool:
    return n_classes > 2 and getattr(estimator, "solver", None) == "liblinear" \
        and type(estimator).__name__ == "LogisticRegression"


def build_estimator(model: "ModelConfig", seed: int, n_classes: int) -> tuple[Any, list[str]]:
    """The configured classifier, seeded; liblinear on >2 classes is wrapped one-vs-rest.

    Returns the estimator and notes for the console and the run record.
    """
    cls = estimator_class(model.estimator)
    params = dict(model.params)
    if "random_state" in default_params(cls) and "random_state" not in params:
        params["random_state"] = seed
    estimator = cls(**params)
    notes = []
    if _needs_ovr(estimator, n_classes):
        from sklearn.multiclass import OneVsRestClassifier

        estimator = OneVsRestClassifier(estimator)
        notes.append("solver 'liblinear' handles two classes only: wrapped in OneVsRestClassifier "
                     f"({n_classes} binary fits, as scikit-learn < 1.7 did by itself)")
    return estimator, notes


def check_model(model: "ModelConfig", preprocess: list["PreprocessStep"] | None = None) -> None:
    """Reject unknown or invalid estimator parameters using scikit-learn's own checks.

    Names are checked against ``get_params()``; values, and combinations such as
    solver/penalty, by fitting the configured estimator on a tiny synthetic
    three-class problem, so the messages are scikit-learn's own.
    """
    cls = estimator_class(model.estimator)
    allowed = sorted(default_params(cls))
    for key in model.params:
        if key not in allowed:
            raise ConfigError(f"model.params.{key}: {cls.__name__} has no parameter {key!r}"
                              f"{suggest(key, allowed)}; allowed: {', '.join(allowed)}")
    rng = np.random.default_rng(0)
    X = rng.random((30, 8), dtype=np.float32)
    y = np.arange(30) % 3
    try:
        estimator, _ = build_estimator(model, seed=0, n_classes=3)
        # a huge (valid) iteration or tree count would make this check slow; invalid values are kept
        estimator.set_params(**{key: 5 for key, value in estimator.get_params().items()
                                if key.rpartition("__")[2] in ("max_iter", "n_estimators")
                                and isinstance(value, int) and value > 5})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, y)
    except (ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model.params: {first}") from None
    if preprocess:
        build_preprocessor(preprocess, pixel_max=255.0, seed=0)


# ---------------------------------------------------------------- preprocessing


def scale_pixels(X: Any, factor: float) -> np.ndarray:
    """x * factor as float32 (one pass, one new array)."""
    return _float32(X, np.float32(factor))


def to_float32(X: Any) -> np.ndarray:
    return _float32(X, None)


def _float32(X: Any, factor: np.float32 | None, rows: int = 8192) -> np.ndarray:
    """X (times ``factor``) as one new float32 array.

    A memory-mapped input (the data cache) is converted in row blocks, its mapped pages
    released after each: the raw pixels never sit in the resident set beside their float
    copy (Fashion-MNIST: peak RSS -50 MB, benchmarks/RESULTS.md).
    """
    if not isinstance(X, np.memmap):
        return np.asarray(X, dtype=np.float32) if factor is None else np.multiply(X, factor, dtype=np.float32)
    from digitclf.datasets import release_pages

    out = np.empty(X.shape, dtype=np.float32)
    for start in range(0, len(X), rows):
        block = slice(start, start + rows)
        if factor is None:
            out[block] = X[block]
        else:
            np.multiply(X[block], factor, out=out[block])
        release_pages(X)
    return out


def build_preprocessor(steps: list["PreprocessStep"], pixel_max: float, seed: int) -> list[tuple[str, Any]]:
    """Pipeline steps for ``preprocess:``; every step outputs float32 (none keeps the raw pixels)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    out: list[tuple[str, Any]] = []
    is_float = False
    for step in steps:
        if step == "none":
            continue
        if step == "float32":
            out.append(("float32", FunctionTransformer(to_float32)))
        elif step == "scale":
            out.append(("scale", FunctionTransformer(scale_pixels, kw_args={"factor": 1.0 / pixel_max})))
        elif step == "standardize":
            if not is_float:
                out.append(("float32", FunctionTransformer(to_float32)))
            out.append(("standardize", StandardScaler(copy=False)))
        else:
            params = step.pca
            if not is_float:
                out.append(("float32", FunctionTransformer(to_float32)))
            out.append(("pca", PCA(n_components=params.n_components, whiten=params.whiten, random_state=seed)))
        is_float = True
    names = [name for name, _ in out]
    if len(names) != len(set(names)):
        raise ConfigError(f"preprocess: a step appears twice ({', '.join(names)}); list each step once")
    return out


def describe_estimator(estimator: Any) -> dict[str, Any]:
    """Class name and the solver, for tables."""
    from sklearn.multiclass import OneVsRestClassifier

    inner = estimator.estimator if isinstance(estimator, OneVsRestClassifier) else estimator
    return {"class": type(inner).__name__, "solver": getattr(inner, "solver", None),
            "one_vs_rest": inner is not estimator}
