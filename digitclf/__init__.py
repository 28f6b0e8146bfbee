"""digitclf: reproducible digit-classification experiments with scikit-learn."""

__version__ = "0.1.0"
