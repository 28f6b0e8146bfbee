"""The OpenML source, offline: scikit-learn's own ``fetch_openml`` runs on a data_home we fill.

Each test writes small gzipped files where ``fetch_openml`` caches what it downloads
(``$SCIKIT_LEARN_DATA/openml/openml.org/<url path>.gz``), shaped like OpenML's real
answers for mnist_784 (data id 554) and Fashion-MNIST (40996): 784 numeric ``pixelN``
columns and a nominal ``class`` column written as bare digits, as in the real ARFF.
``urlopen`` fails the way it does on a machine without network, so a cache miss
shows up as an error rather than a download.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from urllib.error import URLError

import numpy as np
import pytest
import sklearn.datasets
import sklearn.datasets._openml as sklearn_openml  # urlopen and the retry delay live here
from conftest import tiny_images

from digitclf import datasets
from digitclf.config import DatasetConfig
from digitclf.errors import DatasetError

# scikit-learn warns before each retry of a failed download; here every download fails
pytestmark = pytest.mark.filterwarnings("ignore:A network error occurred:UserWarning")

N_ROWS = 30
OFFLINE_REASON = "[Errno -3] Temporary failure in name resolution"


# ---------------------------------------------------------------- the fixture data_home


@dataclass
class OpenMLFixture:
    """What a builder wrote: the rows to expect back and where scikit-learn will look."""

    X: np.ndarray  # (n, 784) uint8, ARFF row order
    y: np.ndarray  # int64 labels
    arff: Path  # the cached ARFF file


def write_openml_fixture(data_home: Path, openml_name: str, data_id: int, file_id: int,
                         n: int = N_ROWS, seed: int = 0) -> OpenMLFixture:
    """Write the five files ``fetch_openml(openml_name, version=1)`` reads from its cache."""
    images, labels = tiny_images(n, seed=seed)
    X = images.reshape(n, -1)
    X[0, 0], X[1, -1] = 0, 255  # both ends of the pixel range survive the round trip
    y = labels.astype(np.int64)
    root = data_home / "openml" / "openml.org"

    def put(url_path: str, payload: bytes) -> Path:
        path = root / f"{url_path}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
        return path

    def put_json(url_path: str, document: dict) -> None:
        put(url_path, json.dumps(document).encode())

    lines = [f"@relation {openml_name}"]
    lines += [f"@attribute pixel{i} numeric" for i in range(1, X.shape[1] + 1)]
    lines += ["@attribute class {0,1,2,3,4,5,6,7,8,9}", "@data"]
    lines += [",".join(map(str, row)) + f",{label}" for row, label in zip(X, y)]
    arff = ("\n".join(lines) + "\n").encode()

    def feature(index: int, name: str, data_type: str, **extra: str) -> dict:
        return {"index": str(index), "name": name, "data_type": data_type, "is_target": "false",
                "is_ignore": "false", "is_row_identifier": "false", "number_of_missing_values": "0", **extra}

    features = [feature(i, f"pixel{i + 1}", "numeric") for i in range(X.shape[1])]
    features.append(feature(X.shape[1], "class", "nominal", is_target="true",
                            nominal_values=json.dumps([str(k) for k in range(10)])))

    # fetch_openml lower-cases the name before building the search URL
    put_json(f"api/v1/json/data/list/data_name/{openml_name.lower()}/limit/2/data_version/1",
             {"data": {"dataset": [{"did": data_id, "name": openml_name, "version": 1, "status": "active",
                                    "format": "ARFF", "file_id": file_id}]}})
    put_json(f"api/v1/json/data/{data_id}",
             {"data_set_description": {
                 "id": str(data_id), "name": openml_name, "version": "1", "format": "ARFF",
                 "description": "test fixture", "status": "active", "file_id": str(file_id),
                 "default_target_attribute": "class", "md5_checksum": hashlib.md5(arff).hexdigest(),
                 "url": f"https://api.openml.org/data/v1/download/{file_id}/{openml_name}.arff"}})
    put_json(f"api/v1/json/data/features/{data_id}", {"data_features": {"feature": features}})
    put_json(f"api/v1/json/data/qualities/{data_id}",
             {"data_qualities": {"quality": [{"name": "NumberOfInstances", "value": f"{n}.0"},
                                             {"name": "NumberOfFeatures", "value": f"{len(features)}.0"}]}})
    return OpenMLFixture(X, y, put(f"data/v1/download/{file_id}/{openml_name}.arff", arff))


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> list[str]:
    """The URLs scikit-learn tried to open: urlopen fails as on a machine without network."""
    opened: list[str] = []

    def offline_urlopen(request, *args, **kwargs):
        opened.append(getattr(request, "full_url", str(request)))
        raise URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline_urlopen)
    monkeypatch.setattr(sklearn_openml, "urlopen", offline_urlopen)  # imported by name there
    monkeypatch.setattr(sklearn_openml, "time", SimpleNamespace(sleep=lambda seconds: None))  # retry delay
    return opened


@pytest.fixture
def sklearn_home(isolated) -> Path:
    home = Path(sklearn.datasets.get_data_home())
    assert home == isolated / "sklearn_data"  # conftest's SCIKIT_LEARN_DATA is honoured
    return home


@pytest.fixture
def openml_mnist(sklearn_home) -> OpenMLFixture:
    return write_openml_fixture(sklearn_home, "mnist_784", data_id=554, file_id=52667)


@pytest.fixture
def parsers(monkeypatch):
    """Wrap fetch_openml; ``parsers.pandas = "fails" | "reads"`` decides the pandas attempt.

    "fails" raises the TypeError scikit-learn's pandas parser gives on bare-digit classes,
    before scikit-learn runs (it would delete its cached ARFF on a parse failure);
    "reads" runs the real pandas parser with the class column read as strings, the
    work-around for pandas >= 3.1.  ``parsers.calls`` holds (parser, pixel dtype).
    """
    real = sklearn.datasets.fetch_openml
    state = SimpleNamespace(pandas="fails", calls=[])

    def fetch_openml(*args, parser="auto", **kwargs):
        if parser == "pandas" and state.pandas == "fails":
            state.calls.append((parser, None))
            raise TypeError("expected string or bytes-like object, got 'int'")
        if parser == "pandas":
            kwargs.setdefault("read_csv_kwargs", {"dtype": {784: "str"}})
        bunch = real(*args, parser=parser, **kwargs)
        state.calls.append((parser, np.asarray(bunch.data).dtype))
        return bunch

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch_openml)
    return state


def forbid_fetch(monkeypatch) -> list:
    calls: list = []

    def fetch_openml(*args, **kwargs):
        calls.append(args)
        raise AssertionError("fetch_openml called on a cache hit")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch_openml)
    return calls


def array_sha256(path: Path) -> str:
    return hashlib.sha256(np.load(path, allow_pickle=False).tobytes()).hexdigest()


def error_line(result) -> str:
    """The one Error: line on stderr (progress notes may precede it); no traceback."""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# ---------------------------------------------------------------- library


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


# ---------------------------------------------------------------- CLI


def test_cli_train_offline_needs_mnist(cli, sklearn_home):
    result = cli("train", "--set", "dataset.name=mnist")
    assert result.exit_code == 1
    assert error_line(result) == (
        f"Error: cannot fetch mnist from OpenML ({OFFLINE_REASON}); with no network, point dataset.path "
        "at a folder of IDX files or run 'digitclf data import mnist PATH'")


def test_cli_data_fetch_caches_mnist_and_list_reports_it(cli, openml_mnist, parsers, no_network):
    folder = datasets.cache_dir() / "mnist"

    result = cli("data", "fetch", "mnist")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"cached mnist at {folder}\n"
    assert "fetching mnist from OpenML (mnist_784)" in result.stderr
    assert no_network == []

    listed = cli("data", "list", "--json")
    assert listed.exit_code == 0
    report = json.loads(listed.stdout)
    assert report["cache_dir"] == str(datasets.cache_dir())
    row = next(r for r in report["datasets"] if r["name"] == "mnist")
    assert row["cached"] is True and row["samples"] == N_ROWS and row["source"] == "openml:mnist_784"
    assert row["cache_bytes"] == sum(p.stat().st_size for p in folder.iterdir())

    again = cli("data", "fetch", "mnist")
    assert again.exit_code == 0
    assert again.stdout == "mnist is already cached; use --force to fetch it again\n"


def test_cli_fetch_force_repairs_a_changed_byte(cli, openml_mnist, parsers):
    assert cli("data", "fetch", "mnist").exit_code == 0
    folder = datasets.cache_dir() / "mnist"
    raw = bytearray((folder / "X.npy").read_bytes())
    raw[-1] ^= 0x01  # a pixel, not the .npy header: the file still loads
    (folder / "X.npy").write_bytes(bytes(raw))
    with pytest.raises(DatasetError) as info:
        datasets.load_dataset(DatasetConfig(name="mnist"))
    assert str(info.value) == (f"cached mnist failed its checksum test (X.npy); "
                               f"run 'digitclf data fetch mnist --force' or delete {folder}")

    result = cli("data", "fetch", "mnist", "--force")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"cached mnist at {folder}\n"
    repaired = datasets.load_dataset(DatasetConfig(name="mnist"))
    np.testing.assert_array_equal(repaired.X, openml_mnist.X)
