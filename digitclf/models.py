"""Estimator registry and the preprocessing steps (one table: names, descriptions, builders).

Nothing here checks a config: ``digitclf.checks`` does that once, before a run.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from digitclf.arrays import release_pages
from digitclf.errors import ConfigError, suggest

if TYPE_CHECKING:
    from digitclf.config import ModelConfig, PCAParams

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


# Estimators whose fit scikit-learn-intelex (``model.accelerator: sklearnex``) may do: its class of the same name
# subclasses scikit-learn's, and the fitted state is public attributes only (coef_, intercept_, classes_, n_iter_),
# so the fitted values carry over to scikit-learn's own estimator.
ACCELERATED = {"LogisticRegression": "sklearnex.linear_model"}


def accelerated_class(estimator: Any) -> type | None:
    """scikit-learn-intelex's version of the estimator's class, or None where digitclf does not use one."""
    module = ACCELERATED.get(type(estimator).__name__)
    if module is None or not type(estimator).__module__.startswith("sklearn."):
        return None
    return getattr(importlib.import_module(module), type(estimator).__name__)


def fit_accelerated(estimator: Any, X: Any, y: Any, threads: int | None) -> Any:
    """Fit ``estimator`` with scikit-learn-intelex: its class fits a copy (same parameters; ``threads``, the
    run's BLAS thread count, as oneDAL's ``n_jobs``), then the fitted attributes are set on ``estimator``.

    Nothing in scikit-learn is patched, before, during or after, and the model a run saves is scikit-learn's
    own class: it loads and predicts where scikit-learn-intelex is not installed.
    """
    cls = accelerated_class(estimator)
    params = estimator.get_params(deep=False)
    if threads is not None and "n_jobs" in params:
        params["n_jobs"] = threads
    fitted = cls(**params).fit(X, y)
    for key, value in vars(fitted).items():
        if key.endswith("_") and not key.startswith("_"):
            setattr(estimator, key, value)
    return estimator


# ---------------------------------------------------------------- preprocessing
#
# The float32 and scale steps are FunctionTransformers over numpy functions, not digitclf's: a
# saved pipeline loads wherever scikit-learn does (MLflow, skops), with no digitclf installed.


def scale_pixels(X: Any, factor: float) -> np.ndarray:
    """x * factor as float32 (pipelines saved before digitclf used numpy's functions call this and to_float32)."""
    return _float32(X, np.float32(factor))


def to_float32(X: Any) -> np.ndarray:
    return _float32(X, None)


def _float32(X: Any, factor: np.float32 | None, rows: int = 8192) -> np.ndarray:
    """X (times ``factor``) as one new float32 array: what the float32 and scale steps compute.

    A memory-mapped input (the data cache) is converted in row blocks, its mapped pages
    released after each: the raw pixels never sit in the resident set beside their float
    copy (measured in benchmarks/RESULTS.md).
    """
    if not isinstance(X, np.memmap):
        return np.asarray(X, dtype=np.float32) if factor is None else np.multiply(X, factor, dtype=np.float32)
    out = np.empty(X.shape, dtype=np.float32)
    for start in range(0, len(X), rows):
        block = slice(start, start + rows)
        if factor is None:
            out[block] = X[block]
        else:
            np.multiply(X[block], factor, out=out[block])
        release_pages(X)
    return out


def _float32_transformer(factor: np.float32 | None = None) -> Any:
    """X as float32, or factor * X computed in float32 (the factor goes first: a ufunc takes operands by position)."""
    import functools

    from sklearn.preprocessing import FunctionTransformer

    if factor is None:
        return FunctionTransformer(np.asarray, kw_args={"dtype": "float32"})
    return FunctionTransformer(functools.partial(np.multiply, np.float32(factor), dtype="float32"))


def _float32_step(params: Any, pixel_max: float, seed: int) -> Any:
    return _float32_transformer()


def _scale_step(params: Any, pixel_max: float, seed: int) -> Any:
    return _float32_transformer(np.float32(1.0 / pixel_max))


def float_conversion(step: Any) -> tuple[bool, np.float32 | None]:
    """(True, the factor or None) for a float32 or scale step, old (digitclf functions) or new (numpy's)."""
    import functools

    from sklearn.preprocessing import FunctionTransformer

    if not isinstance(step, FunctionTransformer):
        return False, None
    func, kw_args = step.func, step.kw_args or {}
    if func is np.asarray or func is to_float32:
        return True, None
    if func is scale_pixels:
        return True, np.float32(kw_args["factor"])
    if isinstance(func, functools.partial) and func.func is np.multiply:
        return True, func.args[0]
    return False, None


def _standardize_step(params: Any, pixel_max: float, seed: int) -> Any:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler(copy=False)


def _pca_step(params: "PCAParams", pixel_max: float, seed: int) -> Any:
    from sklearn.decomposition import PCA

    return PCA(n_components=params.n_components, whiten=params.whiten, random_state=seed)


@dataclass(frozen=True)
class Step:
    """One ``preprocess:`` step: what it does, and how its transformer is built."""

    description: str
    build: Callable[[Any, float, int], Any] | None  # (params, pixel_max, seed) -> transformer; None: no step
    needs_float: bool = False  # a float32 conversion goes first if nothing before made floats
    has_params: bool = False  # written {name: {...}} in the config


# The one table of preprocessing steps: the config schema, its messages and the pipeline read it.
STEPS: dict[str, Step] = {
    "none": Step("raw pixels; scikit-learn converts them to float64, as in the tutorial", None),
    "float32": Step("raw values as float32", _float32_step),
    "scale": Step("x / max pixel value, float32 (/255 for MNIST, /16 for digits)", _scale_step),
    "standardize": Step("float32, zero mean and unit variance per pixel", _standardize_step, needs_float=True),
    "pca": Step("principal components: {pca: {n_components: 50, whiten: false}}", _pca_step,
                needs_float=True, has_params=True),
}
PLAIN_STEPS = tuple(name for name, step in STEPS.items() if not step.has_params)


def build_preprocessor(steps: list[Any], pixel_max: float, seed: int) -> list[tuple[str, Any]]:
    """Pipeline steps for ``preprocess:``; every step outputs float32 (none keeps the raw pixels)."""
    out: list[tuple[str, Any]] = []
    is_float = False
    for entry in steps:
        name, params = (entry, None) if isinstance(entry, str) else entry.step()
        step = STEPS[name]
        if step.build is None:
            continue
        if step.needs_float and not is_float:
            out.append(("float32", _float32_step(None, pixel_max, seed)))
        out.append((name, step.build(params, pixel_max, seed)))
        is_float = True
    names = [name for name, _ in out]
    if len(names) != len(set(names)):
        raise ConfigError(f"preprocess: a step appears twice ({', '.join(names)}); list each step once")
    return out


def portable(model: Any) -> Any:
    """The pipeline with digitclf's own conversion functions (in pipelines saved by earlier digitclf) replaced by
    the numpy ones the steps use now: the same values, and it loads where digitclf is not installed."""
    steps = getattr(model, "steps", None)
    if not steps or not any(_calls_digitclf(step) for _, step in steps):
        return model
    from sklearn.pipeline import Pipeline

    return Pipeline([(name, _float32_transformer(float_conversion(step)[1]) if _calls_digitclf(step) else step)
                     for name, step in steps])


def _calls_digitclf(step: Any) -> bool:
    return getattr(step, "func", None) in (scale_pixels, to_float32)


def fit_transform(step: Any, X: Any, chunk: int = 4096) -> Any:
    """fit_transform, with three steps worked through in row chunks:

    - a float32 or scale step on a memory-mapped input converts it block by block (``_float32``);
    - a StandardScaler is fitted chunk by chunk (``partial_fit``): scikit-learn accumulates float32
      input in float64, and one pass would allocate a float64 copy of the data;
    - a PCA transforms chunk by chunk into one C-ordered array, which keeps OpenBLAS's working
      buffers small (measured in benchmarks/RESULTS.md).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    converts, factor = float_conversion(step)
    if converts and isinstance(X, np.memmap):  # the same values, converted block by block
        step.fit(X)
        return _float32(X, factor)
    if X.shape[0] <= chunk or not isinstance(step, (StandardScaler, PCA)):
        return step.fit_transform(X)
    if isinstance(step, StandardScaler):
        for start in range(0, X.shape[0], chunk):
            step.partial_fit(X[start:start + chunk])
        return step.transform(X)
    step.fit(X)
    out = np.empty((X.shape[0], step.n_components_), dtype=X.dtype)
    for start in range(0, X.shape[0], chunk):
        out[start:start + chunk] = step.transform(X[start:start + chunk])
    return out


def fit_transform_steps(steps: list[tuple[str, Any]], X: Any, chunk: int = 4096) -> Any:
    """Each step's ``fit_transform`` in turn, with one pair worked through without its middle array: a
    float32 or scale step on a memory-mapped input, then a PCA.  The PCA is fitted on the float copy,
    the copy is freed, and row chunks converted afresh from the mapped pixels (the same values) are
    transformed: the float copy (188 MB for Fashion-MNIST) and the PCA's output are never resident
    together (benchmarks/RESULTS.md, "Peak RSS").
    """
    from sklearn.decomposition import PCA

    i = 0
    while i < len(steps):
        step, after = steps[i][1], steps[i + 1][1] if i + 1 < len(steps) else None
        converts, factor = float_conversion(step)
        if converts and isinstance(X, np.memmap) and isinstance(after, PCA) and X.shape[0] > chunk:
            step.fit(X)
            after.fit(_float32(X, factor))  # the float copy lives for the fit only
            out = np.empty((X.shape[0], after.n_components_), dtype=np.float32)
            for start in range(0, X.shape[0], chunk):
                out[start:start + chunk] = after.transform(_float32(X[start:start + chunk], factor))
            X, i = out, i + 2
        else:
            X, i = fit_transform(step, X, chunk), i + 1
    return X


def n_iter(estimator: Any) -> int | None:
    """The solver's iteration count (the maximum over one-vs-rest fits), or None."""
    inner = getattr(estimator, "estimators_", None)
    if isinstance(inner, list) and inner and hasattr(inner[0], "n_iter_"):
        return int(max(np.max(e.n_iter_) for e in inner))
    value = getattr(estimator, "n_iter_", None)
    return None if value is None else int(np.max(value))


def describe_estimator(estimator: Any) -> dict[str, Any]:
    """Class name and the solver, for tables."""
    from sklearn.multiclass import OneVsRestClassifier

    inner = estimator.estimator if isinstance(estimator, OneVsRestClassifier) else estimator
    return {"class": type(inner).__name__, "solver": getattr(inner, "solver", None),
            "one_vs_rest": inner is not estimator}
