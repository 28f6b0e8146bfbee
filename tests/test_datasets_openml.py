"""The OpenML source, offline: scikit-learn's own ``fetch_openml`` runs on a data_home we fill.

Each test writes small gzipped files where ``fetch_openml`` caches what it downloads
(``$SCIKIT_LEARN_DATA/openml/openml.org/<url path>.gz``), shaped like OpenML's real
answers for mnist_784 (data id 554) and Fashion-MNIST (40996): 784 numeric ``pixelN``
columns and a nominal ``class`` column written as bare digits, as in the real ARFF.
``urlopen`` fails the way it does on a machine without network, so a cache miss
shows up as an error rather than a download.  The fixtures (``no_network``, ``sklearn_home``,
``openml_mnist``, ``parsers``) are in conftest.py, the fixture writer in helpers.py; the CLI side
(``data fetch``, ``train`` offline) is in cli/test_data_cmd.py and cli/test_train_cmd.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets

from digitclf import datasets
from digitclf.config import DatasetConfig
from digitclf.errors import DatasetError
from helpers import N_ROWS, OFFLINE_REASON, write_openml_fixture

# scikit-learn warns before each retry of a failed download; here every download fails (no_network)
pytestmark = [pytest.mark.filterwarnings("ignore:A network error occurred:UserWarning"),
              pytest.mark.usefixtures("no_network")]


def forbid_fetch(monkeypatch) -> list:
    calls: list = []

    def fetch_openml(*args, **kwargs):
        calls.append(args)
        raise AssertionError("fetch_openml called on a cache hit")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch_openml)
    return calls


def array_sha256(path: Path) -> str:
    return hashlib.sha256(np.load(path, allow_pickle=False).tobytes()).hexdigest()


@pytest.mark.parametrize("pandas", ["fails", "reads"])
def test_mnist_comes_from_fetch_openml_into_the_cache(openml_mnist, parsers, no_network, pandas, monkeypatch):
    if pandas == "reads":
        pytest.importorskip("pandas")
    parsers.pandas = pandas
    notes: list[str] = []

    data = datasets.load_dataset(DatasetConfig(name="mnist"), progress=notes.append)

    assert no_network == []
    if pandas == "fails":
        assert [parser for parser, _ in parsers.calls] == ["pandas", "liac-arff"]
    else:
        assert parsers.calls == [("pandas", np.dtype(np.int64))]  # the pandas parser's int64 pixels
    assert data.X.dtype == np.uint8 and data.X.shape == (N_ROWS, 784)
    np.testing.assert_array_equal(data.X, openml_mnist.X)
    assert data.y.dtype == np.int64
    np.testing.assert_array_equal(data.y, openml_mnist.y)
    assert data.image_shape == (28, 28)
    assert data.n_train == 60000  # OpenML's row order puts the canonical 60k first
    assert notes == ["fetching mnist from OpenML (mnist_784); this happens once, then it is cached"]

    folder = datasets.cache_dir() / "mnist"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == "openml:mnist_784"
    assert manifest["shape"] == [N_ROWS, 784] and manifest["image_shape"] == [28, 28]
    for key in ("X", "y"):
        assert manifest["arrays"][key]["sha256"] == array_sha256(folder / f"{key}.npy")
    assert np.load(folder / "X.npy").dtype == np.uint8

    fetch_calls = forbid_fetch(monkeypatch)
    again = datasets.load_dataset(DatasetConfig(name="mnist"))
    assert fetch_calls == []
    assert again.source == f"cache:{folder}"
    for array in (again.X, again.y):
        assert isinstance(array, np.memmap) and not array.flags.writeable
    np.testing.assert_array_equal(again.X, openml_mnist.X)
    np.testing.assert_array_equal(again.y, openml_mnist.y)
    assert again.fingerprint == data.fingerprint == manifest["fingerprint"]


def test_pandas_parser_and_liac_arff_fallback_give_the_same_arrays(openml_mnist, parsers, monkeypatch, isolated):
    pytest.importorskip("pandas")
    stored = {}
    for mode in ("reads", "fails"):
        monkeypatch.setenv("DIGITCLF_DATA", str(isolated / f"cache-{mode}"))
        parsers.pandas = mode
        stored[mode] = datasets.fetch_to_cache("mnist")
    assert [dtype for parser, dtype in parsers.calls if parser == "liac-arff"] == [np.dtype(np.float64)]
    for name in ("X.npy", "y.npy"):
        np.testing.assert_array_equal(np.load(stored["reads"] / name), np.load(stored["fails"] / name))
    fingerprints = {json.loads((path / "manifest.json").read_text())["fingerprint"] for path in stored.values()}
    assert len(fingerprints) == 1


def test_unpatched_pandas_parser_reads_the_cached_arff_offline(openml_mnist, no_network):
    data = datasets.load_dataset(DatasetConfig(name="mnist"))
    assert no_network == []
    assert openml_mnist.arff.is_file()  # scikit-learn's cache survives
    np.testing.assert_array_equal(data.X, openml_mnist.X)
    np.testing.assert_array_equal(data.y, openml_mnist.y)


def test_fashion_mnist_comes_from_openml_when_no_system_folder(sklearn_home, parsers, no_network, monkeypatch):
    monkeypatch.setitem(datasets.DATASETS, "fashion-mnist",
                        replace(datasets.DATASETS["fashion-mnist"], system_dirs=()))
    fixture = write_openml_fixture(sklearn_home, "Fashion-MNIST", data_id=40996, file_id=18238735, seed=3)

    data = datasets.load_dataset(DatasetConfig(name="fashion-mnist"))

    assert no_network == []
    np.testing.assert_array_equal(data.X, fixture.X)
    np.testing.assert_array_equal(data.y, fixture.y)
    assert data.class_names == datasets.FASHION_CLASSES
    assert datasets.cache_manifest("fashion-mnist").source == "openml:Fashion-MNIST"


def test_offline_with_nothing_cached_is_one_clear_error(sklearn_home, no_network):
    with pytest.raises(DatasetError) as info:
        datasets.load_dataset(DatasetConfig(name="mnist"))
    assert str(info.value) == (
        f"cannot fetch mnist from OpenML ({OFFLINE_REASON}); with no network, point dataset.path "
        "at a folder of IDX files or run 'digitclf data import mnist PATH'")
    assert no_network and "mnist_784" in no_network[0]  # it did try OpenML, and only that failed
    assert not (datasets.cache_dir() / "mnist").exists()
