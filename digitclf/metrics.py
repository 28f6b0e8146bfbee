"""Scores of a set of predictions: accuracy with its confidence interval, per-class report, confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np


def accuracy_ci95(n_correct: int, n_total: int) -> list[float]:
    """Wilson score interval for a proportion (scipy's binomtest), as [low, high]."""
    from scipy.stats import binomtest

    ci = binomtest(int(n_correct), int(n_total)).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def score(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy, its 95% CI, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    n_correct = int(np.sum(y_true == y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    per_class = {str(label): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for label, p, r, f, s in zip(labels, precision, recall, f1, support)}
    return {
        "accuracy": n_correct / len(y_true),
        "accuracy_ci95": accuracy_ci95(n_correct, len(y_true)),
        "n_test": int(len(y_true)),
        "n_errors": int(len(y_true) - n_correct),
        "labels": [int(label) for label in labels],
        "per_class": per_class,
        "macro_f1": float(np.mean(f1)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
