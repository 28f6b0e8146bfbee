"""Importing scikit-learn for a command without the pandas it imports and never uses.

``sklearn.utils.fixes`` imports pandas at module level (``try: import pandas as pd``) and uses
that name nowhere: its one pandas helper takes pandas as an argument.  digitclf's commands hand
scikit-learn numpy arrays only, so they import it with pandas hidden for that one import: 30 MB
and about 0.1 s less on every train (benchmarks/RESULTS.md).  pandas stays importable afterwards
(MLflow, seaborn, a notebook's own code).  ``tests/test_imports.py`` reads scikit-learn's source
and fails the day ``sklearn.utils.fixes`` starts using its ``pd``.
"""

from __future__ import annotations

import sys


def import_sklearn() -> None:
    """Import scikit-learn's core (``sklearn.utils``) with pandas hidden, unless either is already loaded."""
    if "sklearn.utils.fixes" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError meanwhile
    try:
        import sklearn.utils  # noqa: F401
    finally:
        if sys.modules.get("pandas", False) is None:
            del sys.modules["pandas"]
