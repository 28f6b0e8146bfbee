"""models: preprocessing steps fitted in chunks and block-wise float conversion, checked against
scikit-learn's one-pass results and numpy directly."""

from __future__ import annotations

import numpy as np
import pytest

from digitclf import models
from helpers import resident_file_kb


# ---------------------------------------------------------------- fit_transform in chunks


def test_chunked_standardization_equals_scikit_learns_one_pass():
    from sklearn.preprocessing import StandardScaler

    from digitclf.models import fit_transform as _fit_transform

    X = np.random.default_rng(0).integers(0, 256, size=(10000, 30)).astype(np.float32)
    expected = StandardScaler().fit(X)
    chunked = StandardScaler(copy=False)
    out = _fit_transform(chunked, X.copy())
    np.testing.assert_allclose(chunked.mean_, expected.mean_, rtol=1e-10)
    np.testing.assert_allclose(chunked.scale_, expected.scale_, rtol=1e-10)
    np.testing.assert_allclose(out, expected.transform(X), atol=1e-5)
    assert chunked.n_samples_seen_ == 10000 and out.dtype == np.float32


def test_pca_transformed_in_blocks_equals_scikit_learns_fit_transform():
    from sklearn.decomposition import PCA

    from digitclf.models import fit_transform as _fit_transform

    X = np.random.default_rng(1).integers(0, 256, size=(10001, 40)).astype(np.float32)  # 3 blocks, the last short
    expected = PCA(n_components=12, whiten=True, random_state=0).fit_transform(X)
    step = PCA(n_components=12, whiten=True, random_state=0)
    out = _fit_transform(step, X, chunk=4096)
    assert out.shape == (10001, 12) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_allclose(step.transform(X[:5]), expected[:5], atol=1e-4)  # the fitted step, as saved


# ---------------------------------------------------------------- block-wise float conversion


@pytest.fixture
def mapped_pixels(tmp_path):
    def make(rows: int, cols: int = 30) -> tuple[np.memmap, np.ndarray]:
        original = np.random.default_rng(rows).integers(0, 256, size=(rows, cols), dtype=np.uint8)
        path = tmp_path / f"pixels{rows}.npy"
        np.save(path, original)
        mapped = np.load(path, mmap_mode="r")
        assert isinstance(mapped, np.memmap)
        return mapped, original

    return make


def assert_new_float32(out, expected):
    assert type(out) is np.ndarray and not isinstance(out, np.memmap)
    assert out.dtype == np.float32 and out.flags.writeable and out.flags.c_contiguous
    assert out.shape == expected.shape
    assert np.array_equal(out, expected)  # exactly, not approximately


@pytest.mark.parametrize("rows,block", [(50, 7), (50, 50), (50, 64), (1, 7)])
def test_blocks_that_do_not_divide_the_rows(mapped_pixels, rows, block):
    X, original = mapped_pixels(rows)
    factor = np.float32(1 / 255)
    assert_new_float32(models._float32(X, None, rows=block), np.asarray(original, np.float32))
    assert_new_float32(models._float32(X, factor, rows=block), (original * factor).astype(np.float32))


def test_to_float32_and_scale_pixels_on_a_20000_row_memmap(mapped_pixels):
    X, original = mapped_pixels(20000)  # 8192 + 8192 + 3616 rows
    assert 20000 % 8192 != 0
    out = models.to_float32(X)
    assert_new_float32(out, np.asarray(original, np.float32))
    assert not np.shares_memory(out, X)
    for factor in (1 / 255, 1 / 16, 0.1):
        scaled = models.scale_pixels(X, factor)
        assert_new_float32(scaled, (original * np.float32(factor)).astype(np.float32))
    np.testing.assert_array_equal(X, original)  # the input is untouched


def test_in_memory_input_is_converted_in_one_go(mapped_pixels):
    _, original = mapped_pixels(50)
    assert_new_float32(models.to_float32(original), np.asarray(original, np.float32))
    assert_new_float32(models.scale_pixels(original, 1 / 255), (original * np.float32(1 / 255)).astype(np.float32))
    assert original.dtype == np.uint8


def test_memmap_view_of_a_predefined_split(mapped_pixels):
    X, original = mapped_pixels(20000)
    view = X[9000:19000]  # a slice of the cache, as the predefined split hands it over
    assert isinstance(view, np.memmap)
    assert_new_float32(models.scale_pixels(view, 1 / 255), (original[9000:19000] * np.float32(1 / 255)).astype(np.float32))


def test_block_conversion_leaves_no_mapped_pages_resident(tmp_path):
    if resident_file_kb() is None:
        pytest.skip("/proc/self/status has no RssFile")
    original = np.random.default_rng(1).integers(0, 256, size=(20000, 1024), dtype=np.uint8)  # ~20 MB, 3 blocks
    np.save(tmp_path / "pixels.npy", original)
    mapped = np.load(tmp_path / "pixels.npy", mmap_mode="r")
    before = resident_file_kb()
    out = models.scale_pixels(mapped, 1 / 255)
    grown = resident_file_kb() - before
    assert grown < 8 * 1024, grown  # without the releases all ~20 MB of pixels would stay mapped in
    assert_new_float32(out, (original * np.float32(1 / 255)).astype(np.float32))


# ---------------------------------------------------------------- saved pipelines need only scikit-learn


@pytest.mark.parametrize("preprocess", [["float32"], ["scale"], ["standardize"], [{"pca": {"n_components": 5}}],
                                        ["scale", "standardize", {"pca": {"n_components": 5}}]])
def test_every_step_is_numpy_or_scikit_learn_and_computes_float32(preprocess):
    import pickle

    import skops.io as sio
    from sklearn.datasets import load_digits
    from sklearn.pipeline import Pipeline

    from digitclf.config import load_config
    from digitclf.runs import SKOPS_TRUSTED

    X = load_digits().data.astype(np.uint8)
    cfg = load_config("digits_lbfgs", [f"preprocess={preprocess}"])
    pipeline = Pipeline(models.build_preprocessor(cfg.preprocess, 16.0, 0))
    out = pipeline.fit_transform(X)
    assert out.dtype == np.float32
    assert b"digitclf" not in pickle.dumps(pipeline)  # unpickles wherever scikit-learn is installed
    assert set(sio.get_untrusted_types(data=sio.dumps(pipeline))) <= SKOPS_TRUSTED - {
        "digitclf.models.scale_pixels", "digitclf.models.to_float32"}
    np.testing.assert_array_equal(pipeline.transform(X.astype(np.float64)), out)  # float64 input, same values
    if preprocess == ["scale"]:
        np.testing.assert_array_equal(out, (X / np.float32(16)).astype(np.float32))


@pytest.mark.parametrize("step,factor", [("float32", None), ("scale", np.float32(1 / 255))])
def test_fit_transform_converts_a_memmap_block_wise_to_what_the_step_computes(mapped_pixels, step, factor):
    X, original = mapped_pixels(20000)
    transformer = models.STEPS[step].build(None, 255.0, 0)
    assert models.float_conversion(transformer) == (True, factor)
    out = models.fit_transform(transformer, X)
    assert_new_float32(out, transformer.transform(original))


def test_pipelines_pickled_with_digitclfs_old_functions_still_load_and_predict_the_same():
    import pickle

    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = load_digits(return_X_y=True)
    old = Pipeline([("scale", FunctionTransformer(models.scale_pixels, kw_args={"factor": 1 / 16})),
                    ("clf", LogisticRegression(max_iter=200))]).fit(X, y)
    loaded = pickle.loads(pickle.dumps(old))
    new = Pipeline([("scale", models.STEPS["scale"].build(None, 16.0, 0)), ("clf", loaded[-1])])
    np.testing.assert_array_equal(loaded.predict(X), new.predict(X))
    assert models.float_conversion(loaded[0]) == (True, np.float32(1 / 16))
    assert models.float_conversion(FunctionTransformer(models.to_float32)) == (True, None)
    assert models.float_conversion(FunctionTransformer(np.log1p)) == (False, None)


def test_portable_replaces_digitclfs_old_functions_with_numpys_and_predicts_the_same():
    import pickle

    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    X, y = load_digits(return_X_y=True)
    old = Pipeline([("scale", FunctionTransformer(models.scale_pixels, kw_args={"factor": 1 / 16})),
                    ("standardize", StandardScaler()), ("clf", LogisticRegression(max_iter=300))]).fit(X, y)
    assert b"digitclf" in pickle.dumps(old)
    new = models.portable(old)
    assert b"digitclf" not in pickle.dumps(new)
    assert new[1] is old[1] and new[2] is old[2]  # the fitted steps themselves
    np.testing.assert_array_equal(new.predict(X), old.predict(X))
    np.testing.assert_array_equal(new.predict_proba(X), old.predict_proba(X))
    already = Pipeline([("float32", models.STEPS["float32"].build(None, 16.0, 0)), ("clf", old[2])])
    assert models.portable(already) is already and models.portable(old[2]) is old[2]


@pytest.mark.parametrize("scale", [False, True])
def test_float_then_pca_on_a_memmap_equals_scikit_learns_pipeline(mapped_pixels, scale):
    """The fused pair (PCA fitted on the float copy, then chunks converted afresh) computes what the
    steps compute one after the other on the array in memory."""
    from sklearn.base import clone
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    X, original = mapped_pixels(10001, 40)  # 3 chunks, the last short
    first = models._scale_step(None, 255.0, 0) if scale else models._float32_step(None, 255.0, 0)
    steps = [("float32", first), ("pca", PCA(n_components=12, whiten=True, random_state=0))]
    expected = Pipeline([(name, clone(step)) for name, step in steps]).fit_transform(original)
    out = models.fit_transform_steps(steps, X, chunk=4096)
    assert type(out) is np.ndarray and out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (10001, 12)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_allclose(Pipeline(steps).transform(original[:5]), expected[:5], atol=1e-4)  # as saved
