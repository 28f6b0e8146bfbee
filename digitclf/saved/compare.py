"""``compare``: runs side by side (config, data, metrics), with McNemar's exact test on shared test images
and the corrected resampled t-test for runs cross-validated on the same folds."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from digitclf.config import flatten
from digitclf.errors import ConfigError
from digitclf.runs import RunDir, load_split

MCNEMAR_METHOD = "McNemar exact test (two-sided binomial test on the discordant predictions, scipy.stats.binomtest)"
COMPARED_METRICS = ("accuracy", "accuracy_ci95", "macro_f1", "n_errors", "n_train", "n_test", "n_features",
                    "fit_seconds", "n_iter", "converged")


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test on paired predictions: is one model right where the other is wrong more often than chance?

    Only the discordant images count: ``a_only`` (A right, B wrong) and ``b_only``; under the null
    hypothesis each is Binomial(a_only + b_only, 1/2).  Two-sided p-value; 1.0 when they never disagree.
    """
    from scipy.stats import binomtest

    right_a, right_b = np.asarray(pred_a) == y_true, np.asarray(pred_b) == y_true
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p_value = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"method": MCNEMAR_METHOD, "n": int(len(y_true)), "a_only_correct": a_only, "b_only_correct": b_only,
            "accuracy_difference": float(np.mean(right_a) - np.mean(right_b)), "p_value": p_value}


CORRECTED_T_METHOD = ("corrected resampled t-test (Nadeau and Bengio 2003) on the paired fold accuracies: "
                      "folds share training images, so the variance is (1/J + n_test/n_train) s^2, df = J - 1")


def corrected_t_test(fold_a: Sequence[float], fold_b: Sequence[float], n_train: int, n_test: int) -> dict[str, Any]:
    """Nadeau and Bengio's corrected resampled t-test on paired fold scores (same folds for both runs).

    The plain paired t-test treats the J fold differences as independent; they are not (their training
    sets overlap), so its p-values are too small.  Two-sided; p = 1.0 when every difference is zero.
    """
    from scipy import stats

    from digitclf.cv import corrected_variance

    diff = np.asarray(fold_a, dtype=float) - np.asarray(fold_b, dtype=float)
    variance = corrected_variance(diff, n_train, n_test)
    mean = float(diff.mean())
    if variance == 0:
        t, p_value = 0.0 if mean == 0 else float(np.sign(mean) * np.inf), 1.0 if mean == 0 else 0.0
    else:
        t = mean / float(np.sqrt(variance))
        p_value = float(2 * stats.t.sf(abs(t), len(diff) - 1))
    return {"method": CORRECTED_T_METHOD, "folds": int(len(diff)), "n_train": n_train, "n_test": n_test,
            "accuracy_difference": mean, "t": t, "p_value": p_value}


def _same_folds(a: Any, b: Any) -> bool:
    """Two cross-validated runs whose folds are the same rows: same data, the same split settings and seed."""
    same = a.config.split.model_dump(exclude={"jobs"}) == b.config.split.model_dump(exclude={"jobs"})
    return same and a.dataset is not None and b.dataset is not None \
        and a.dataset.fingerprint == b.dataset.fingerprint


def compare(runs: Sequence[RunDir], *, only_changed: bool = False) -> dict[str, Any]:
    """Config, data and metrics of runs side by side, the keys that differ, and McNemar tests for every
    pair of runs scored on the same test images."""
    if len(runs) < 2:
        raise ConfigError("compare needs at least two runs, e.g. digitclf compare RUN_A RUN_B")
    seen: set[Any] = set()
    for run in runs:
        if run.path.resolve() in seen:
            raise ConfigError(f"run {run.id} is given twice; compare different runs")
        seen.add(run.path.resolve())
    records = [run.record() for run in runs]
    typed_metrics = [run.metrics() for run in runs]
    run_metrics = [m.to_json() for m in typed_metrics]
    sections = {
        "config": [flatten(record.config.to_dict()) for record in records],
        "data": [{"dataset.fingerprint": r.dataset.fingerprint if r.dataset else None,
                  "dataset.n_samples": r.dataset.n_samples if r.dataset else None,
                  "versions.scikit-learn": r.version_of("scikit-learn")} for r in records],
        "metrics": [{key: m[key] for key in COMPARED_METRICS} for m in run_metrics],
    }
    table: dict[str, dict[str, list[Any]]] = {}
    changed: list[str] = []
    for section, per_run in sections.items():
        keys = list(dict.fromkeys(key for values in per_run for key in values))
        table[section] = {}
        for key in keys:
            values = [values[key] if key in values else None for values in per_run]
            differs = any(v != values[0] for v in values[1:])
            if differs:
                changed.append(f"{section}:{key}")
            if differs or not only_changed:
                table[section][key] = values
    splits = [load_split(run) for run in runs]
    tests = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            pair: dict[str, Any] = {"a": runs[i].id, "b": runs[j].id}
            fingerprints = [r.dataset.fingerprint if r.dataset else None for r in (records[i], records[j])]
            cv_a, cv_b = typed_metrics[i].cv, typed_metrics[j].cv
            if cv_a is not None and cv_b is not None and _same_folds(records[i], records[j]):
                pair.update(corrected_t_test(cv_a.fold_accuracy, cv_b.fold_accuracy, cv_a.fold_n_train[0],
                                             cv_a.fold_n_test[0]))
                pair["why"] = "both runs are cross-validated on the same folds"
            elif cv_a is not None or cv_b is not None:
                pair["skipped"] = ("a cross-validated run is compared with the corrected t-test on the same folds "
                                   "(the same data and split settings); these differ")
            elif fingerprints[0] == fingerprints[1] and np.array_equal(splits[i].test_index, splits[j].test_index):
                pair.update(mcnemar(splits[i].y_test, splits[i].y_pred, splits[j].y_pred))
                pair["why"] = "both runs are scored on the same test images"
            else:
                pair["skipped"] = "different data or test split: a paired test needs the same test images"
            tests.append(pair)
    return {"runs": [{"id": run.id, "name": run.name, "path": str(run.path)} for run in runs],
            "sections": table, "changed": changed, "tests": tests}
