"""Which rows a run trains on and which it is scored on: the test split, a validation split carved from
the training part, a seeded training subsample, and the k folds of cross-validation.

``datasets.split_indices`` chooses the test set; this module narrows its training part when a
search ranks points on validation data (``split.validation_size``) or gives a halving rung
fewer images (``split.train_size``).  Every random choice takes ``split.random_state``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from digitclf.errors import ConfigError

if TYPE_CHECKING:
    from digitclf.config import SplitConfig
    from digitclf.datasets import Dataset


def scored_on(cfg: "SplitConfig") -> str:
    """What a run's metrics score: the test set, a validation split of the training part, or the k folds."""
    if cfg.kind == "kfold" or cfg.cv:
        return "cross-validation"
    return "validation" if cfg.validation_size is not None else "test"


def train_and_scored_rows(data: "Dataset", cfg: "SplitConfig") -> tuple[Any, Any]:
    """(rows to train on, rows to score on): the test split, narrowed by ``validation_size`` and ``train_size``."""
    from digitclf.datasets import split_indices

    train_rows, scored_rows = split_indices(data, cfg)
    if cfg.validation_size is None and cfg.train_size is None:
        return train_rows, scored_rows
    train_rows = _as_rows(train_rows)
    if cfg.validation_size is not None:
        train_rows, scored_rows = _carve(data, train_rows, cfg, test_size=cfg.validation_size,
                                         what="split.validation_size")
    if cfg.train_size is not None:
        if cfg.train_size > len(train_rows):
            raise ConfigError(f"split.train_size: {cfg.train_size} training images asked for but the training "
                              f"part has {len(train_rows)}; lower it (or sweep.halving.max_resources)")
        if cfg.train_size < len(train_rows):
            train_rows, _ = _carve(data, train_rows, cfg, train_size=cfg.train_size, what="split.train_size")
    return train_rows, scored_rows


def _as_rows(rows: Any) -> np.ndarray:
    return np.arange(rows.start, rows.stop) if isinstance(rows, slice) else np.asarray(rows)


def _carve(data: "Dataset", rows: np.ndarray, cfg: "SplitConfig", what: str, **size: Any) -> tuple[Any, Any]:
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(rows, random_state=cfg.random_state,
                                stratify=data.y[rows] if cfg.stratify else None, **size)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def cv_rows(data: "Dataset", cfg: "SplitConfig") -> np.ndarray:
    """The rows a cross-validated run folds: every image (kind: kfold), or the training part (cv: true)."""
    if cfg.kind == "kfold":
        return np.arange(len(data.y))
    return _as_rows(train_and_scored_rows(data, cfg)[0])


def folds(data: "Dataset", cfg: "SplitConfig", rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) of each fold of ``rows``: ``repeats`` x ``n_splits`` shuffled folds, stratified
    when ``split.stratify`` (scikit-learn's (Repeated)(Stratified)KFold, seeded)."""
    splitter = fold_splitter(cfg)
    try:
        for train, test in splitter.split(np.zeros((len(rows), 1)), data.y[rows]):
            yield rows[train], rows[test]
    except ValueError as exc:
        raise ConfigError(f"split.n_splits: {exc}") from None


def fold_splitter(cfg: "SplitConfig") -> Any:
    """The scikit-learn splitter a kfold config describes (what cross_validate would be given)."""
    from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold

    if cfg.repeats > 1:
        cls = RepeatedStratifiedKFold if cfg.stratify else RepeatedKFold
        return cls(n_splits=cfg.n_splits, n_repeats=cfg.repeats, random_state=cfg.random_state)
    cls = StratifiedKFold if cfg.stratify else KFold
    return cls(n_splits=cfg.n_splits, shuffle=True, random_state=cfg.random_state)
