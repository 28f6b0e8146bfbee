"""When a fit stops: the patience rule, the time budget, and which estimators support either.

Two ways to stop, one rule.  Estimators with per-iteration callbacks in scikit-learn 1.9
(``LogisticRegression(solver="lbfgs")``) are watched by ``digitclf.curves.CurveCallback``, which
applies ``PatienceRule`` to the held-out accuracy after every iteration.  Estimators with their own
``early_stopping`` (SGD, MLP, HistGradientBoosting) get the same three numbers through their own
parameters (``native_params``), so the behaviour reads the same whichever estimator runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from digitclf.errors import ConfigError

if TYPE_CHECKING:
    from digitclf.config import EarlyStoppingConfig, ModelConfig

Support = Literal["callbacks", "native", "none"]
NATIVE_KEYS = ("early_stopping", "validation_fraction", "n_iter_no_change", "tol")  # SGD, MLP, HistGradientBoosting
CALLBACK_SOLVERS = ("lbfgs",)  # scikit-learn 1.9 reports iterations for these solvers only


def support(estimator: Any) -> Support:
    """How a (built, unfitted) estimator can be watched: per-iteration callbacks, its own early stopping, or not."""
    if hasattr(estimator, "set_callbacks") and getattr(estimator, "solver", None) in CALLBACK_SOLVERS:
        return "callbacks"
    if all(key in estimator.get_params(deep=False) for key in NATIVE_KEYS):
        return "native"
    return "none"


def check(model: "ModelConfig", estimator: Any) -> None:
    """``model.early_stopping`` and ``model.time_budget`` only where the estimator can honour them."""
    how = support(estimator)
    name = type(estimator).__name__
    solver = getattr(estimator, "solver", None)
    label = f"{name}(solver={solver})" if solver else name
    if model.time_budget is not None and how != "callbacks":
        raise ConfigError(f"model.time_budget: {label} reports no iterations to scikit-learn's callbacks, so a "
                          "budget cannot stop it; use logistic_regression with solver lbfgs, or remove time_budget")
    if model.early_stopping is not None and how == "none":
        raise ConfigError(f"model.early_stopping: {label} has neither per-iteration callbacks nor its own "
                          "early_stopping; use logistic_regression (lbfgs), sgd or mlp, or remove early_stopping")
    if model.early_stopping is not None and how == "native":
        clash = sorted(set(NATIVE_KEYS) & set(model.params))
        if clash:
            raise ConfigError(f"model.params.{clash[0]}: model.early_stopping sets it for {label}; "
                              "give the stopping rule in one place")


def native_params(rule: "EarlyStoppingConfig", estimator: Any) -> dict[str, Any]:
    """The estimator's own early-stopping parameters for the rule (accuracy on a held-out slice)."""
    params: dict[str, Any] = {"early_stopping": True, "validation_fraction": rule.validation_fraction,
                              "n_iter_no_change": rule.patience, "tol": rule.min_delta}
    if "scoring" in estimator.get_params(deep=False):  # HistGradientBoosting scores the loss by default
        params["scoring"] = "accuracy"
    return params


@dataclass
class PatienceRule:
    """Stop after ``patience`` iterations in a row without an accuracy above the best by more than ``min_delta``.

    The best iteration is the last one that improved so (Keras' ``EarlyStopping`` rule); its model is kept.
    """

    patience: int
    min_delta: float
    best_score: float = float("-inf")
    best_iteration: int | None = None
    waited: int = 0

    def update(self, iteration: int, score: float) -> bool:
        """Record an iteration's score; True when the fit should stop now."""
        if score > self.best_score + self.min_delta:
            self.best_score, self.best_iteration, self.waited = score, iteration, 0
            return False
        self.waited += 1
        return self.waited >= self.patience
