"""The closed sets of choices the library accepts and the CLI offers, as Literal types (one source each).

Kept free of heavy imports so the CLI can build its options (and ``--help``) from them.
"""

from __future__ import annotations

from typing import Literal, get_args

Style = Literal["seaborn", "matplotlib"]  # confusion matrix: annotated seaborn heatmap or plain matplotlib
Normalize = Literal["true", "pred", "all"]  # confusion matrix as fractions of actual, predicted or all
Split = Literal["test", "train", "all"]  # rows evaluate scores
ErrorOrder = Literal["index", "confidence"]  # order of the mistakes shown
TableFormat = Literal["table", "csv", "json", "md"]  # digitclf runs --format
Backend = Literal["loky", "dask"]  # where sweep points run

STYLES = get_args(Style)
NORMALIZE = get_args(Normalize)
SPLITS = get_args(Split)
ERROR_ORDERS = get_args(ErrorOrder)
FORMATS = get_args(TableFormat)
BACKENDS = get_args(Backend)
