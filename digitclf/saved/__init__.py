"""Operations on saved runs; none of them trains.

Each starts from a ``RunDir`` (``digitclf.runs.resolve_run``) and reads what the run saved:
its typed record, the data fingerprint, ``split.npz`` and the sha256-checked model.

- ``evaluate``: score the model again, on its own test split or another data set;
- ``predict``: label image files;
- ``compare``: runs side by side, with McNemar's test on shared test images;
- ``grids``: the image grids (a run's mistakes, a data set's first images).
"""
