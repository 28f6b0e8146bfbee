"""The speed and memory levers: model.blas_threads, the XXH3-128 cache check, released pages and
block-wise float conversion -- each checked against threadpoolctl, hashlib/xxhash, /proc or numpy directly."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg  # noqa: F401 - loads scipy's own BLAS too, as scikit-learn's solvers do
import xxhash
import yaml
from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

from digitclf import datasets, models, runner, threads
from digitclf.config import DatasetConfig, RunConfig, load_config
from digitclf.errors import DatasetError


def blas_counts() -> list[int]:
    """num_threads of every loaded BLAS library, as threadpoolctl reports them."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    """Every BLAS library at 2 threads for the test (whatever the machine's default), restored after."""
    if not blas_counts():
        pytest.skip("no BLAS library loaded that threadpoolctl can see")
    with threadpool_limits(limits=2, user_api="blas"):
        if set(blas_counts()) != {2}:
            pytest.skip(f"this BLAS will not run 2 threads (reports {blas_counts()})")
        yield


def only_run(outputs: Path = Path("outputs")) -> Path:
    runs = [p.parent for p in outputs.glob("*/*/run.json")]
    assert len(runs) == 1, runs
    return runs[0]


# ---------------------------------------------------------------- blas_threads


def test_blas_threads_caps_inside_and_restores_after(two_blas_threads):
    with threads.blas_threads(1):
        counts = blas_counts()
        assert counts and set(counts) == {1}
    assert set(blas_counts()) == {2}


def test_blas_threads_on_the_machine_default_restores_it():
    before = blas_counts()
    if not before or max(before) < 2:
        pytest.skip(f"BLAS runs {before} threads by default: nothing to cap")
    with threads.blas_threads(1):
        assert set(blas_counts()) == {1}
    assert blas_counts() == before


def test_blas_threads_never_raises_the_count(two_blas_threads):
    with threadpool_limits(limits=1, user_api="blas"):
        with threads.blas_threads(4):
            assert set(blas_counts()) == {1}
        assert set(blas_counts()) == {1}
    with threads.blas_threads(4):  # 2 threads, a cap of 4: stays at 2
        assert set(blas_counts()) == {2}
    assert set(blas_counts()) == {2}


def test_blas_threads_none_changes_nothing(two_blas_threads):
    with threadpool_limits(limits=1, user_api="blas"):
        with threads.blas_threads(None):
            assert set(blas_counts()) == {1}
    with threads.blas_threads(None):
        assert set(blas_counts()) == {2}


def test_blas_threads_never_raises_a_library_below_the_others(two_blas_threads):
    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    if len(libs) < 2:
        pytest.skip("one BLAS library loaded: counts cannot differ")
    libs[0].set_num_threads(1)  # restored by the fixture's threadpool_limits
    before = blas_counts()
    assert sorted(before)[0] == 1 and max(before) == 2
    with threads.blas_threads(4):  # the cap is the smallest count: no library goes up
        assert set(blas_counts()) == {1}
    assert blas_counts() == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 100 lbfgs steps on raw pixels
def test_train_with_one_blas_thread_matches_plain_sklearn(cli, monkeypatch):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    seen: list[list[int]] = []  # BLAS thread counts inside fit, predict and predict_proba, in their thread

    def watched(name):
        method = getattr(LogisticRegression, name)

        def sampled(self, *args, **kwargs):
            if threading.current_thread().name == "digitclf-fit":  # the run's own calls, not validation's
                seen.append(blas_counts())
            return method(self, *args, **kwargs)
        monkeypatch.setattr(LogisticRegression, name, sampled)

    for name in ("fit", "predict", "predict_proba"):
        watched(name)
    result = cli("train", "--set", "model.blas_threads=1", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)

    x_train, x_test, y_train, y_test = train_test_split(*load_digits(return_X_y=True), test_size=0.25, random_state=0)
    expected = LogisticRegression(solver="lbfgs").fit(x_train, y_train).score(x_test, y_test)
    assert metrics["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert metrics["n_train"] == 1347 and metrics["n_test"] == 450

    assert len(seen) == 3 and all(counts and set(counts) == {1} for counts in seen), seen
    run = only_run()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["blas_threads"] == 1
    assert load_config(run / "config.yaml").model.blas_threads == 1
    record = json.loads((run / "run.json").read_text())
    assert record["config"]["model"]["blas_threads"] == 1
    assert record["config_digest"] == load_config(None, ["model.blas_threads=1"]).digest()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_evaluate_predicts_under_the_runs_cap_and_reproduces_it(cli, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    assert cli("train", "--set", "model.blas_threads=1", "--set", "preprocess=[scale]", "--json").exit_code == 0
    seen: list[list[int]] = []
    predict = LogisticRegression.predict

    def sampled(self, X):
        seen.append(blas_counts())
        return predict(self, X)

    monkeypatch.setattr(LogisticRegression, "predict", sampled)
    result = cli("evaluate", "--json")
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)
    recorded = json.loads((only_run() / "metrics.json").read_text())
    assert evaluation["accuracy"] == recorded["accuracy"]
    assert seen and all(set(counts) == {1} for counts in seen), seen


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_test_set_is_transformed_after_the_fit(cli, monkeypatch):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer

    calls: list[tuple[str, int]] = []
    fit, transform = LogisticRegression.fit, FunctionTransformer.transform

    def fit_logged(self, X, y, *args, **kwargs):
        calls.append(("fit", len(X)))
        return fit(self, X, y, *args, **kwargs)

    def transform_logged(self, X):
        calls.append(("transform", len(X)))
        return transform(self, X)

    monkeypatch.setattr(LogisticRegression, "fit", fit_logged)
    monkeypatch.setattr(FunctionTransformer, "transform", transform_logged)
    result = cli("train", "--set", "preprocess=[scale]", "--json")
    assert result.exit_code == 0, result.output
    run_calls = [call for call in calls if call[1] in (1347, 450)]  # validation's dry fit uses 30 rows
    assert run_calls == [("transform", 1347), ("fit", 1347), ("transform", 450)]
    timings = json.loads(result.stdout)["timings"]
    assert list(timings) == ["load", "split", "preprocess", "fit", "predict", "score"]


# ---------------------------------------------------------------- config errors


@pytest.mark.parametrize("value,message", [
    ("0", "Error: config: model.blas_threads: input should be greater than or equal to 1, got 0"),
    ("1025", "Error: config: model.blas_threads: input should be less than or equal to 1024, got 1025"),
    ("true", "Error: config: model.blas_threads: must be a whole number, not true "
             "(YAML reads true/false/yes/no as booleans)"),
])
def test_bad_blas_threads_exit_2_with_one_line(cli, value, message):
    result = cli("train", "--set", f"model.blas_threads={value}", "--json")
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
    assert result.stdout == ""
    assert not Path("outputs").exists()


def test_fractional_blas_threads_exit_2_naming_the_key(cli):
    result = cli("train", "--set", "model.blas_threads=1.5", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("Error: config: model.blas_threads: input should be a valid integer, "
                             "got a number with a fractional part: 1.5\n")
    assert not Path("outputs").exists()


# ---------------------------------------------------------------- digest


def digest_by_hand(data: dict) -> str:
    data = json.loads(json.dumps(data))  # a deep copy
    data.pop("output")
    if data["model"].get("blas_threads") is None:
        data["model"].pop("blas_threads", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def test_digest_leaves_out_an_unset_blas_threads():
    cfg = load_config("digits_lbfgs")
    assert cfg.model.blas_threads is None
    legacy = cfg.to_dict()
    del legacy["model"]["blas_threads"]  # what to_dict() gave before the key existed
    assert "blas_threads" not in json.dumps(legacy)
    assert cfg.digest() == digest_by_hand(legacy)
    assert cfg.digest() == RunConfig.model_validate(legacy).digest()

    capped = load_config("digits_lbfgs", ["model.blas_threads=1"])
    assert capped.digest() != cfg.digest()
    assert capped.digest() == digest_by_hand(capped.to_dict())
    by_hand = capped.to_dict()
    by_hand.pop("output")
    assert capped.digest() == hashlib.sha256(json.dumps(by_hand, sort_keys=True).encode()).hexdigest()[:16]
    assert load_config("digits_lbfgs", ["model.blas_threads=2"]).digest() != capped.digest()


def test_digests_from_before_blas_threads_are_unchanged():
    # computed by digitclf at commit 878f7d5, before model.blas_threads existed: sweeps still
    # recognise the points they ran then
    assert load_config(None).resolved().digest() == "8c5219e7d4987e57"
    shipped_then = load_config("fashion_mnist_lbfgs", ["model.blas_threads=null"])
    assert shipped_then.resolved().digest() == "c6a48fe19ca0b558"


def test_digest_ignores_output_but_not_the_model():
    cfg = load_config("digits_lbfgs")
    assert load_config("digits_lbfgs", ["output.dir=elsewhere"]).digest() == cfg.digest()
    assert load_config("digits_lbfgs", ["model.params.C=2"]).digest() != cfg.digest()


# ---------------------------------------------------------------- cache checksums


def flip_last_pixel(folder: Path) -> None:
    blob = bytearray((folder / "X.npy").read_bytes())
    blob[-1] ^= 0x01
    (folder / "X.npy").write_bytes(bytes(blob))


def drop_xxh3(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["arrays"].values():
        del entry["xxh3_128"]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def checksum_error(folder: Path) -> str:
    return (f"cached mnist failed its checksum test (X.npy); run 'digitclf data fetch mnist --force' "
            f"or delete {folder}")


def test_manifest_records_xxh3_128_and_sha256(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("X", "y"):
        array = np.load(folder / manifest["arrays"][key]["file"])
        assert manifest["arrays"][key]["xxh3_128"] == xxhash.xxh3_128_hexdigest(array.tobytes())
        assert manifest["arrays"][key]["sha256"] == hashlib.sha256(array.tobytes()).hexdigest()
    assert manifest["arrays"]["X"]["xxh3_128"] != manifest["arrays"]["y"]["xxh3_128"]
    assert len(manifest["arrays"]["X"]["xxh3_128"]) == 32


def test_new_manifest_is_checked_with_xxh3(idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    direct = datasets.load_dataset(DatasetConfig(name="idx", path=idx_folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    # a wrong sha256 beside a right xxh3_128 still loads: the per-load check is XXH3
    manifest["arrays"]["X"]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    data = datasets.cache_load("mnist")
    np.testing.assert_array_equal(data.X, direct.X)
    # and a wrong xxh3_128 is refused even though the bytes are intact
    manifest["arrays"]["X"]["xxh3_128"] = "0" * 32
    (folder / "manifest.json").write_text(json.dumps(manifest))
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


def test_checksum_failure_via_the_cli(cli, idx_folder):
    folder = datasets.import_to_cache("mnist", idx_folder)
    flip_last_pixel(folder)
    result = cli("train", "--set", "dataset.name=mnist", "--set", "split.kind=predefined", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "Error: " + checksum_error(folder) + "\n"
    record = json.loads((only_run() / "run.json").read_text())  # the run is recorded as failed
    assert record["status"] == "failed" and record["error"] == "DatasetError: " + checksum_error(folder)


# ---------------------------------------------------------------- release_pages


def resident_file_kb() -> int | None:
    """RssFile (+ RssShmem: a mapped file on tmpfs is counted there) from /proc/self/status, in kB."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "RssFile" not in fields:
        return None
    return sum(int(fields[key].split()[0]) for key in ("RssFile", "RssShmem") if key in fields)


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


def test_editors_see_the_bounds_of_blas_threads_and_random_state():
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "config.schema.json").read_text())
    jsonschema.validate({"model": {"blas_threads": 1}, "split": {"random_state": 0}}, schema)
    for bad in ({"model": {"blas_threads": 0}}, {"model": {"blas_threads": 1025}},
                {"split": {"random_state": -1}}, {"split": {"random_state": 2**32}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
