"""digitclf: reproducible digit-classification experiments with scikit-learn.

The Python API (``load_config``, ``train``, ``load_run``, ``list_runs``, ``Run``) is
imported on first use, so ``import digitclf`` and the CLI start fast.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Run", "list_runs", "load_config", "load_run", "train"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from digitclf import api

        return getattr(api, name)
    raise AttributeError(f"module 'digitclf' has no attribute {name!r}")
