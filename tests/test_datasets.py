"""Dataset sources: IDX (gz and raw), npz, the checksummed cache (XXH3-128, legacy sha256), splits,
released pages, and bad files.  The OpenML source is in test_datasets_openml.py."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import xxhash

from digitclf import datasets, models
from digitclf.config import DatasetConfig, SplitConfig
from digitclf.errors import ConfigError, DatasetError
from helpers import FASHION_DIR, checksum_error, flip_last_pixel, resident_file_kb, tiny_images, write_idx


def test_idx_roundtrip_gz_and_raw(tmp_path):
    X, y = tiny_images(12)
    raw = write_idx(tmp_path / "raw-images-idx3-ubyte", X)
    gz = write_idx(tmp_path / "gz-images-idx3-ubyte", X, gz=True)
    np.testing.assert_array_equal(datasets.read_idx(raw), X)
    np.testing.assert_array_equal(datasets.read_idx(gz), X)
    np.testing.assert_array_equal(datasets.read_idx(write_idx(tmp_path / "l-idx1-ubyte", y)), y)


def test_idx_reader_matches_the_format_spec_by_hand(tmp_path):
    # magic 0x00000801 = unsigned byte, 1 dimension; size 3; data 7 8 9
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    assert datasets.read_idx(path).tolist() == [7, 8, 9]


@pytest.mark.parametrize("data,expected", [
    (b"\x00\x00\x08", "is not an IDX file (bad magic number 000008)"),
    (b"\x12\x34\x08\x01\x00\x00\x00\x01\x05", "is not an IDX file (bad magic number 12340801)"),
    (b"\x00\x00\x08\x03\x00\x00", "is truncated inside its header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "has 2 data bytes but its header (5,) says 5"),
])
def test_bad_idx_bytes(data, expected):
    with pytest.raises(DatasetError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        datasets.parse_idx(data, "f")


def test_idx_folder_loads_train_then_test(idx_folder):
    data = datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))
    x_train = datasets.read_idx(idx_folder / "train-images-idx3-ubyte.gz")
    x_test = datasets.read_idx(idx_folder / "t10k-images-idx3-ubyte.gz")
    assert data.X.shape == (250, 784) and data.X.dtype == np.uint8
    np.testing.assert_array_equal(data.X[:200], x_train.reshape(200, -1))
    np.testing.assert_array_equal(data.X[200:], x_test.reshape(50, -1))
    assert data.n_train == 200 and data.image_shape == (28, 28)
    assert data.fingerprint == datasets.fingerprint(data.X, data.y, 200)


def test_idx_count_mismatch(tmp_path, idx_folder):
    write_idx(idx_folder / "t10k-labels-idx1-ubyte", np.zeros(49), gz=True)
    with pytest.raises(DatasetError, match="50 test images but 49 labels; the image and label files must match"):
        datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))


def test_idx_folder_missing_file(idx_folder):
    (idx_folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ConfigError, match="^dataset.path: .*idxdata has no t10k-labels-idx1-ubyte"):  # before reading
        datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))


def test_corrupt_gzip(idx_folder):
    path = idx_folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DatasetError, match="cannot read .*train-images-idx3-ubyte.gz"):
        datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))


def test_npz_keras_layout(tmp_path):
    x_train, y_train = tiny_images(30)
    x_test, y_test = tiny_images(10, seed=5)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = datasets.load_dataset(DatasetConfig(name="npz", path=path))
    np.testing.assert_array_equal(data.X[30:], x_test.reshape(10, -1))
    np.testing.assert_array_equal(data.y, np.concatenate([y_train, y_test]))
    np.savez(path, x_train=x_train, y_train=y_train)
    with pytest.raises(DatasetError, match="lacks x_test, y_test; a Keras-style .npz holds"):
        datasets.load_dataset(DatasetConfig(name="npz", path=path))


def test_single_class_is_refused(tmp_path):
    x, _ = tiny_images(20)
    path = tmp_path / "one.npz"
    np.savez(path, x_train=x, y_train=np.full(20, 3), x_test=x[:5], y_test=np.full(5, 3))
    with pytest.raises(DatasetError, match="has a single class .3.; classification needs at least two"):
        datasets.load_dataset(DatasetConfig(name="npz", path=path))


def test_cache_store_then_memmap_hit(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    x = np.load(folder / "X.npy")
    assert manifest["arrays"]["X"]["sha256"] == hashlib.sha256(x.tobytes()).hexdigest()
    data = datasets.load_dataset(DatasetConfig(name="mnist"))
    assert isinstance(data.X, np.memmap) and not data.X.flags.writeable
    assert data.source.startswith("cache:") and data.n_train == 200
    direct = datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))
    np.testing.assert_array_equal(data.X, direct.X)
    assert data.fingerprint == direct.fingerprint


def test_altered_cache_is_never_used(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    blob = bytearray((folder / "X.npy").read_bytes())
    blob[-1] ^= 0xFF
    (folder / "X.npy").write_bytes(bytes(blob))
    with pytest.raises(DatasetError, match="cached mnist failed its checksum test .X.npy.; run 'digitclf data fetch "
                                           "mnist --force' or delete"):
        datasets.load_dataset(DatasetConfig(name="mnist"))


def test_truncated_cache_is_reported(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    (folder / "X.npy").write_bytes((folder / "X.npy").read_bytes()[:1000])
    with pytest.raises(DatasetError, match="cached mnist is damaged"):
        datasets.load_dataset(DatasetConfig(name="mnist"))


def test_reimport_replaces_cache(idx_folder):
    datasets.import_to_cache("mnist", idx_folder)
    datasets.import_to_cache("mnist", idx_folder)
    assert [p.name for p in datasets.cache_dir().iterdir()] == ["mnist"]  # no temp folders left


def test_random_split_equals_train_test_split_on_the_arrays():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = datasets.load_dataset(DatasetConfig(name="digits"))
    train, test = datasets.split_indices(data, SplitConfig(test_size=0.25, random_state=0))
    digits = load_digits()
    _, x_test, _, y_test = train_test_split(digits.data, digits.target, test_size=0.25, random_state=0)
    np.testing.assert_array_equal(data.X[test], x_test)
    np.testing.assert_array_equal(data.y[test], y_test)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 1797


def test_predefined_split_is_a_view(idx_folder):
    data = datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))
    train, test = datasets.split_indices(data, SplitConfig(kind="predefined"))
    assert (train, test) == (slice(0, 200), slice(200, 250))
    assert np.shares_memory(data.X[train], data.X)


def test_count_test_size_larger_than_data():
    data = datasets.load_dataset(DatasetConfig(name="digits"))
    with pytest.raises(ConfigError, match="split.test_size: 5000 test images but the data set has only 1797"):
        datasets.split_indices(data, SplitConfig(test_size=5000))


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_system_folder_into_cache():
    data = datasets.load_dataset(DatasetConfig(name="fashion-mnist"))
    assert data.X.shape == (70000, 784) and data.n_train == 60000
    assert np.bincount(data.y).tolist() == [7000] * 10
    with gzip.open(FASHION_DIR / "t10k-labels-idx1-ubyte.gz") as fh:
        np.testing.assert_array_equal(data.y[60000:], np.frombuffer(fh.read(), np.uint8, offset=8))
    again = datasets.load_dataset(DatasetConfig(name="fashion-mnist"))
    assert isinstance(again.X, np.memmap) and again.fingerprint == data.fingerprint


# ---------------------------------------------------------------- cache checksums


def drop_xxh3(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["arrays"].values():
        del entry["xxh3_128"]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def test_manifest_records_xxh3_128_and_sha256(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("X", "y"):
        array = np.load(folder / manifest["arrays"][key]["file"])
        assert manifest["arrays"][key]["xxh3_128"] == xxhash.xxh3_128_hexdigest(array.tobytes())
        assert manifest["arrays"][key]["sha256"] == hashlib.sha256(array.tobytes()).hexdigest()
    assert manifest["arrays"]["X"]["xxh3_128"] != manifest["arrays"]["y"]["xxh3_128"]
    assert len(manifest["arrays"]["X"]["xxh3_128"]) == 32


def test_new_manifest_is_checked_with_xxh3_and_its_edits_by_its_signature(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    direct = datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["signature"]  # signed with the session's key when written
    np.testing.assert_array_equal(datasets.cache_load("mnist").X, direct.X)
    # an edited manifest no longer verifies: every byte is checked against its sha256, and a wrong one is refused
    edited = json.loads(json.dumps(manifest))
    edited["arrays"]["X"]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(edited))
    with pytest.raises(DatasetError) as caught:
        datasets.cache_load("mnist")
    assert str(caught.value) == checksum_error(folder)
    # a wrong xxh3_128 beside the right sha256 is refused too, even though the bytes are intact
    edited = json.loads(json.dumps(manifest))
    edited["arrays"]["X"]["xxh3_128"] = "0" * 32
    (folder / "manifest.json").write_text(json.dumps(edited))
    with pytest.raises(DatasetError) as caught:
        datasets.cache_load("mnist")
    assert str(caught.value) == checksum_error(folder)


def test_changed_pixel_is_refused_by_xxh3(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    flip_last_pixel(folder)
    with pytest.raises(DatasetError) as caught:
        datasets.load_dataset(DatasetConfig(name="mnist"))
    assert str(caught.value) == checksum_error(folder)
    assert folder == Path.cwd() / "cache" / "mnist"


def test_legacy_manifest_still_loads(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    manifest = drop_xxh3(folder)
    assert "xxh3_128" not in (folder / "manifest.json").read_text()
    data = datasets.load_dataset(DatasetConfig(name="mnist"))
    direct = datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))
    assert isinstance(data.X, np.memmap)
    np.testing.assert_array_equal(data.X, direct.X)
    np.testing.assert_array_equal(data.y, direct.y)
    assert data.fingerprint == direct.fingerprint == manifest["fingerprint"]


def test_legacy_manifest_gains_xxh3_after_its_sha256_check(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    drop_xxh3(folder)
    datasets.load_dataset(DatasetConfig(name="mnist"))  # checked with sha256, then upgraded
    upgraded = json.loads((folder / "manifest.json").read_text())
    for key in ("X", "y"):
        raw = np.load(folder / f"{key}.npy").tobytes()
        assert upgraded["arrays"][key]["xxh3_128"] == xxhash.xxh3_128_hexdigest(raw)
        assert upgraded["arrays"][key]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert oct((folder / "manifest.json").stat().st_mode & 0o777) == "0o644"
    assert not list(folder.glob(".manifest.*"))  # no temp file left behind


def test_legacy_manifest_with_a_changed_pixel_is_refused_by_sha256(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    drop_xxh3(folder)
    flip_last_pixel(folder)
    with pytest.raises(DatasetError) as caught:
        datasets.load_dataset(DatasetConfig(name="mnist"))
    assert str(caught.value) == checksum_error(folder)


# ---------------------------------------------------------------- release_pages


def test_release_pages_drops_mapped_pages_and_keeps_the_data(tmp_path):
    if resident_file_kb() is None:
        pytest.skip("/proc/self/status has no RssFile")
    original = np.random.default_rng(0).integers(0, 256, size=(32 * 1024, 1024), dtype=np.uint8)  # 32 MiB
    np.save(tmp_path / "big.npy", original)
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    assert int(mapped.sum(dtype=np.uint64)) == int(original.sum(dtype=np.uint64))  # every page touched
    touched = resident_file_kb()
    datasets.release_pages(mapped)
    released = resident_file_kb()
    assert touched - released >= 20 * 1024, (touched, released)
    assert np.array_equal(mapped, original)  # pages come back from the page cache
    datasets.release_pages(mapped[100:200])  # a view shares the mapping: no error either


def test_release_pages_keeps_the_changes_of_a_copy_on_write_map(tmp_path):
    np.save(tmp_path / "small.npy", np.zeros((64, 4096), dtype=np.uint8))
    changed = np.load(tmp_path / "small.npy", mmap_mode="c")
    changed[0, 0] = 99  # a private page: dropping it would silently bring back the file's 0
    datasets.release_pages(changed)
    assert changed[0, 0] == 99
    assert models.to_float32(changed)[0, 0] == np.float32(99)


def test_release_pages_leaves_in_memory_arrays_alone():
    array = np.arange(1000, dtype=np.uint8)
    copy = array.copy()
    assert datasets.release_pages(array) is None
    assert datasets.release_pages(array.reshape(10, 100)[::2]) is None
    np.testing.assert_array_equal(array, copy)


# ---------------------------------------------------------------- a data set given by path reuses the cache


def _by_path(folder):
    return datasets.load_dataset(DatasetConfig(name="idx", path=folder))


def test_a_path_is_parsed_once_then_memory_mapped(idx_folder, monkeypatch):
    first = _by_path(idx_folder)
    assert not isinstance(first.X, np.memmap)
    entry = datasets.cache_dir() / datasets.path_cache_name("idx", idx_folder)
    assert (entry / "manifest.json").is_file()
    monkeypatch.setattr(datasets, "_read_path", lambda path: pytest.fail("parsed again"))
    again = _by_path(idx_folder)
    assert isinstance(again.X, np.memmap)
    np.testing.assert_array_equal(again.X, first.X)
    np.testing.assert_array_equal(again.y, first.y)
    assert (again.fingerprint, again.source, again.n_train, again.image_shape) == \
        (first.fingerprint, first.source, 200, (28, 28))
    assert again.fingerprint == datasets.fingerprint(np.asarray(again.X), np.asarray(again.y), 200)


def test_a_changed_file_is_parsed_again_and_replaces_the_entry(idx_folder):
    _by_path(idx_folder)
    x_test, y_test = tiny_images(50, seed=9)
    write_idx(idx_folder / "t10k-images-idx3-ubyte", x_test, gz=True)
    changed = _by_path(idx_folder)
    assert not isinstance(changed.X, np.memmap)  # parsed, not the stale entry
    np.testing.assert_array_equal(changed.X[200:], x_test.reshape(50, -1))
    reused = _by_path(idx_folder)
    assert isinstance(reused.X, np.memmap) and reused.fingerprint == changed.fingerprint
    assert len(list((datasets.cache_dir() / "by-path").iterdir())) == 1  # replaced, not added


def test_a_damaged_path_entry_is_verified_and_parsed_again(idx_folder):
    first = _by_path(idx_folder)
    flip_last_pixel(datasets.cache_dir() / datasets.path_cache_name("idx", idx_folder))
    again = _by_path(idx_folder)  # the XXH3 check fails: the files are parsed, the entry rewritten
    assert not isinstance(again.X, np.memmap)
    np.testing.assert_array_equal(again.X, first.X)
    assert isinstance(_by_path(idx_folder).X, np.memmap)


def test_a_path_entry_with_an_edited_manifest_is_not_trusted(idx_folder):
    _by_path(idx_folder)
    folder = datasets.cache_dir() / datasets.path_cache_name("idx", idx_folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["fingerprint"] = "sha256:0000000000000000"  # the signature no longer verifies: full check
    (folder / "manifest.json").write_text(json.dumps(manifest))
    again = _by_path(idx_folder)
    assert again.fingerprint == datasets.fingerprint(np.asarray(again.X), np.asarray(again.y), 200)
