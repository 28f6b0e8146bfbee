"""Property tests for the hardened readers: mutated records and alias-laden YAML.

A real run.json, cache manifest and split.npz are mutated at random (keys dropped, values
replaced by other types, garbage nested in); whatever results, reading them raises only
digitclf's own errors, and one damaged run never hides the others from ``runs``.  YAML
documents built from anchors and aliases load, or are refused as too large, in bounded time.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitclf.config import MAX_YAML_NODES, read_yaml
from digitclf.errors import ConfigError, DatasetError, DigitclfError, RunError
from digitclf.records import CacheManifest, RunRecord, SavedSplit, parse
from digitclf.runs import RunDir, sha256_file
from helpers import train

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GARBAGE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                       max_leaves=8)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """One real digits run (no plots) whose files the tests copy and mutate."""
    outputs = tmp_path_factory.mktemp("hostile-props") / "outputs"
    return train(outputs, "output.plots=false").run.path


def mutations(record: dict) -> st.SearchStrategy:
    """``record`` with one to three top-level or nested keys dropped or replaced by garbage."""
    paths = [(k,) for k in record] + [(k, j) for k, v in record.items() if isinstance(v, dict) for j in v]

    def apply(edits):
        data = json.loads(json.dumps(record))
        for path, drop, value in edits:
            node = data
            for key in path[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and path[-1] in node:
                if drop:
                    del node[path[-1]]
                else:
                    node[path[-1]] = value
        return data

    return st.lists(st.tuples(st.sampled_from(paths), st.booleans(), GARBAGE), min_size=1, max_size=3).map(apply)


@FAST
@given(data=st.data())
def test_mutated_run_json_is_a_run_error_or_a_record(real_run, data, tmp_path):
    record = json.loads((real_run / "run.json").read_text())
    mutated = data.draw(mutations(record) | GARBAGE)
    try:
        parsed = parse(RunRecord, mutated, "run.json", RunError)
    except RunError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(parsed, RunRecord)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_mutated_run_never_hides_the_others(real_run, data, cli, isolated):
    outputs = isolated / "outputs"
    shutil.rmtree(outputs, ignore_errors=True)
    good = outputs / real_run.parent.name / real_run.name
    shutil.copytree(real_run, good)
    bad = outputs / real_run.parent.name / "20990101-000000-badbad"
    shutil.copytree(real_run, bad)
    record = json.loads((real_run / "run.json").read_text())
    (bad / "run.json").write_text(json.dumps(data.draw(mutations(record) | GARBAGE)))
    result = cli("runs", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows[good.name]["status"] == "complete"
    assert bad.name in rows  # listed, whatever its state


@FAST
@given(data=st.data())
def test_mutated_cache_manifest_is_a_dataset_error_or_a_manifest(data):
    manifest = {"name": "mnist", "source": "import:/x", "created": "2026-12-02T00:00:00+0000", "image_shape": [28, 28],
                "n_train": 200, "shape": [250, 784], "fingerprint": "sha256:0123456789abcdef",
                "arrays": {"X": {"file": "X.npy", "sha256": "0" * 64, "xxh3_128": "0" * 32},
                           "y": {"file": "y.npy", "sha256": "1" * 64, "xxh3_128": "1" * 32}}}
    mutated = data.draw(mutations(manifest) | GARBAGE)
    try:
        parsed = parse(CacheManifest, mutated, "manifest.json", DatasetError)
    except DatasetError as exc:
        assert "\n" not in str(exc)
    else:
        height, width = parsed.image_shape
        assert height * width == parsed.shape[1]  # what the model guarantees to the loader


ARRAYS = ("test_index", "y_test", "y_pred", "proba", "error_index", "error_images", "image_shape", "labels")


@FAST
@given(data=st.data())
def test_mutated_split_arrays_are_a_run_error_or_consistent(real_run, data):
    with np.load(real_run / "split.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    for key in data.draw(st.lists(st.sampled_from(ARRAYS), min_size=1, max_size=3, unique=True)):
        choice = data.draw(st.sampled_from(["drop", "shrink", "shift", "reshape", "zero"]))
        if choice == "drop":
            arrays.pop(key, None)
        elif choice == "shrink":
            arrays[key] = arrays[key][: max(0, len(arrays[key]) - 1)]
        elif choice == "shift" and arrays[key].dtype.kind in "iu":
            arrays[key] = arrays[key].astype(np.int64) + data.draw(st.integers(-10**6, 10**6))
        elif choice == "reshape":
            arrays[key] = arrays[key].reshape(-1)[:, None] if arrays[key].size else arrays[key]
        else:
            arrays[key] = np.zeros((0,), dtype=np.int64)
    try:
        saved = SavedSplit.from_arrays(arrays, "split.npz")
    except RunError as exc:
        assert "\n" not in str(exc)
    else:
        n = len(saved.y_test)
        assert saved.y_pred.shape == saved.test_index.shape == (n,)
        assert saved.error_index.size == 0 or (0 <= saved.error_index.min() and saved.error_index.max() < n)
        assert len(saved.error_images) == len(saved.error_index)


def test_damaged_split_with_a_matching_sha256_is_refused_by_evaluate(real_run, cli, isolated):
    """The sha256 says the file is what was saved; its arrays still must fit together."""
    run_copy = isolated / "outputs" / real_run.parent.name / real_run.name
    shutil.copytree(real_run, run_copy)
    with np.load(run_copy / "split.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["error_index"] = np.asarray([10**6])
    arrays["error_images"] = arrays["error_images"][:1]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (run_copy / "split.npz").write_bytes(buffer.getvalue())
    record = json.loads((run_copy / "run.json").read_text())
    record["artifacts"]["split.npz"] = sha256_file(run_copy / "split.npz")
    (run_copy / "run.json").write_text(json.dumps(record))
    result = cli("evaluate", real_run.name)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: outputs/{real_run.parent.name}/{real_run.name}/split.npz is damaged (error_index points outside the "
                                     "test set); train the run again")


# ---------------------------------------------------------------- YAML with anchors and aliases


def aliased_yaml(widths: list[int]) -> str:
    """Each level an anchored list holding ``width`` aliases of the level below: sum-product values."""
    lines = ["l0: &l0 [x]"]
    for level, width in enumerate(widths, 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@FAST
@given(widths=st.lists(st.integers(1, 12), min_size=1, max_size=9))
def test_aliased_yaml_loads_or_is_refused_quickly(widths):
    expanded = sum(int(np.prod(widths[:i])) * (1 + (1 if i == 0 else 0)) for i in range(len(widths) + 1))
    started = time.perf_counter()
    try:
        data = read_yaml(aliased_yaml(widths), "c.yaml")
    except ConfigError as exc:
        assert "expands to more than" in str(exc)
        assert expanded > MAX_YAML_NODES // 4  # refused only when it is really large
    else:
        assert data["l0"] == ["x"] and len(data[f"l{len(widths)}"]) == widths[-1]
    assert time.perf_counter() - started < 5  # a bound on a pathological case, not a speed claim


@FAST
@given(body=GARBAGE, anchor_twice=st.booleans())
def test_any_document_with_a_recursive_alias_is_refused(body, anchor_twice):
    text = "a: &a\n  - *a\n" + ("b: &a [1]\n" if anchor_twice else "") + f"c: {json.dumps(body)}\n"
    try:
        read_yaml(text, "c.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc)
    except DigitclfError:  # pragma: no cover - any other project error type would also be a clean line
        raise
