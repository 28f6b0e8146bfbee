"""Property tests: whatever the config loader and the IDX reader are fed, only digitclf's own errors escape.

Random YAML documents (config-shaped ones built from the real keys, random nested
values and keys, random text and bytes) go to ``load_config`` and, when they load,
to ``validate``; random bytes and random edits of a valid IDX file go to
``parse_idx``.  Anything but a ``DigitclfError`` (or a valid result) is a bug: the
CLI would show it as "unexpected ...".

Inputs hypothesis found or that pinned past bugs are kept as explicit regression tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from digitclf.checks import preflight as validate
from digitclf.config import PREPROCESS_STEPS, RunConfig, load_config
from digitclf.datasets import DATASETS, parse_idx
from digitclf.errors import DigitclfError
from digitclf.models import ESTIMATORS
from helpers import tiny_images, write_idx

# every function-scoped fixture here is the autouse ``isolated`` working folder: the
# same file is simply rewritten for each example
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# validate() imports scikit-learn and dry-fits the estimator: fewer examples
SLOW = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---------------------------------------------------------------- strategies

SCALARS = (st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats()
           | st.text(max_size=12) | st.sampled_from(["1/7", "1/0", "0.25", "yes", "~", "", "sklearn.svm.SVC"]))
SECTION_KEYS = {name: list(field.annotation.model_fields) for name, field in RunConfig.model_fields.items()
                if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields")}
REAL_KEYS = sorted({*RunConfig.model_fields, *(k for keys in SECTION_KEYS.values() for k in keys),
                    "pca", "n_components", "whiten", "C", "solver", "max_iter"})
KEYS = st.sampled_from(REAL_KEYS) | st.text(max_size=10) | st.integers(-3, 3) | st.none()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                      max_leaves=12)
SMALL_INTS = st.integers(-3, 60)  # bounded: validate() really fits, and max_iter=10**9 would be slow, not wrong
PATHS = st.text(max_size=30) | st.sampled_from(["idxdata", "no/such", "/", ".", "d.npz"])


def section(fields: dict, extra: bool) -> st.SearchStrategy:
    """A mapping with some of ``fields`` (real keys, plausible values), maybe random keys too, or any value."""
    known = st.fixed_dictionaries({}, optional=fields)
    if extra:
        known = st.tuples(known, st.dictionaries(KEYS, VALUES, max_size=2)).map(lambda kv: {**kv[1], **kv[0]})
    return known | VALUES if extra else known


NUMBERS = SMALL_INTS | st.floats(-2, 2) | st.sampled_from([0, 1, 1.0, 0.5, -1])
PARAMS = st.fixed_dictionaries({}, optional={
    "C": NUMBERS, "max_iter": SMALL_INTS, "n_neighbors": SMALL_INTS, "n_estimators": st.integers(-1, 5),
    "solver": st.sampled_from(["lbfgs", "liblinear", "saga", "lbfgz"]),
    "penalty": st.sampled_from(["l1", "l2", "elasticnet", None]), "Cc": NUMBERS,
})
ESTIMATOR_NAMES = st.sampled_from([*ESTIMATORS, "sklearn.svm.SVC", "sklearn.svm.SVX", "os.system",
                                   "sklearn.decomposition.PCA"])


def documents(extra: bool) -> st.SearchStrategy:
    """Config-shaped mappings: the real sections with plausible, wrong and random values."""
    numbers, params = NUMBERS, PARAMS
    pca = st.fixed_dictionaries({"pca": section({"n_components": numbers, "whiten": SCALARS}, extra)})
    fields = {
        "name": st.sampled_from(["run", "../x", "/abs", ".hidden", "a/b", "x" * 70]) | st.text(max_size=20),
        "dataset": section({"name": st.sampled_from([*DATASETS, "mnsit"]) | st.text(max_size=8),
                            "path": PATHS}, extra),
        "split": section({"kind": st.sampled_from(["random", "predefined", "other"]),
                          "test_size": numbers | st.sampled_from(["1/7", "1/0", "abc", 5000]),
                          "random_state": SMALL_INTS, "stratify": st.booleans() | SCALARS}, extra),
        "preprocess": st.lists(st.sampled_from([*PREPROCESS_STEPS, "scael"]) | pca, max_size=3) | SCALARS,
        "model": section({"estimator": ESTIMATOR_NAMES | st.text(max_size=12),
                          "params": params}, extra),
        "output": section({"dir": PATHS, "model_format": st.sampled_from(["joblib", "skops", "pickle"]),
                           "plots": st.booleans(), "misclassified": st.integers(-5, 500)}, extra),
        "seed": SMALL_INTS | SCALARS,
    }
    doc = st.fixed_dictionaries({}, optional=fields)
    if extra:
        doc = st.tuples(doc, st.dictionaries(KEYS, VALUES, max_size=2)).map(lambda kv: {**kv[1], **kv[0]})
    return doc


# what validate() checks beyond the schema -- data set, split kind, estimator and its parameters --
# on configs that mostly pass the schema
CHECKABLE = st.fixed_dictionaries({
    "dataset": st.fixed_dictionaries({"name": st.sampled_from([*DATASETS, "mnsit"])}, optional={"path": PATHS}),
    "split": st.fixed_dictionaries({"kind": st.sampled_from(["random", "predefined"])}),
    "preprocess": st.lists(st.sampled_from(PREPROCESS_STEPS) | st.fixed_dictionaries(
        {"pca": st.fixed_dictionaries({"n_components": st.integers(1, 80) | st.floats(0.01, 0.99)})}), max_size=2),
    "model": st.fixed_dictionaries({"estimator": ESTIMATOR_NAMES, "params": PARAMS}),
})

YAML_TEXT = st.text(alphabet=":-[]{},&*!|>'\"%@`#?.~ \n\tabcdefgnopsy01259", max_size=80)


def _load(tmp_text: str | bytes) -> RunConfig | None:
    """load_config on a file holding ``tmp_text``: the config, or None after a DigitclfError."""
    path = "c.yaml"
    with open(path, "wb") as fh:
        fh.write(tmp_text if isinstance(tmp_text, bytes) else tmp_text.encode("utf-8"))
    try:
        cfg = load_config(path)
    except DigitclfError as exc:
        assert "\n" not in str(exc)  # the CLI shows one line
        event(f"load: {type(exc).__name__}")
        return None
    event("load: ok")
    return cfg


# ---------------------------------------------------------------- config properties


@pytest.mark.slow
@FAST
@given(documents(extra=True))
def test_config_shaped_documents_raise_only_digitclf_errors(doc):
    _load(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@FAST
@given(VALUES | st.lists(VALUES, max_size=3))
def test_any_yaml_value_raises_only_digitclf_errors(value):
    _load(yaml.safe_dump(value, allow_unicode=True, sort_keys=False))


@FAST
@given(YAML_TEXT | st.text(max_size=80) | st.binary(max_size=80))
@example("{[1]: 2}")
@example("a: &x [*x]\n")
@example("seed: !!python/object/apply:os.system ['true']\n")
def test_random_text_and_bytes_raise_only_digitclf_errors(text):
    _load(text)


@FAST
@given(st.data())
def test_edits_of_a_shipped_config_raise_only_digitclf_errors(data):
    text = open("configs/digits_lbfgs.yaml", encoding="utf-8").read()
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:at] + data.draw(YAML_TEXT.map(lambda s: s[:4])) + text[at + cut:]
    _load(text)


@FAST
@given(st.lists(st.tuples(st.sampled_from(REAL_KEYS) | st.text(max_size=6), st.sampled_from(["", "=", "=="]),
                          YAML_TEXT.map(lambda s: s[:12])).map(lambda t: "".join(t))
                | st.text(max_size=20), max_size=3))
def test_random_overrides_raise_only_digitclf_errors(overrides):
    try:
        load_config(None, overrides)
    except DigitclfError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("overrides", [["0\n0==\t"], ["0\n0=="]], ids=["tab-value", "tagged-value"])
def test_override_key_with_a_newline_stays_one_line(overrides):
    """Found by test_random_overrides_raise_only_digitclf_errors: a newline in the key reached the message."""
    try:
        load_config(None, overrides)
    except DigitclfError as exc:
        assert "\n" not in str(exc)


@SLOW
@given(CHECKABLE | documents(extra=False))
def test_validate_raises_only_digitclf_errors(doc):
    cfg = _load(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    if cfg is not None:
        try:
            validate(cfg)
        except DigitclfError as exc:
            assert "\n" not in str(exc)
            event(f"validate: {str(exc).split(':')[0]}")
        else:
            event("validate: ok")


def test_validate_path_of_unknown_user():
    """Path.expanduser raises RuntimeError for ~nosuchuser: it must end as a ConfigError."""
    with pytest.raises(DigitclfError):
        validate(load_config(data={"dataset": {"name": "idx", "path": "~nosuchuser/x"}}))


# ---------------------------------------------------------------- IDX properties


@pytest.fixture(scope="module")
def idx_files(tmp_path_factory) -> list[bytes]:
    """Valid IDX bytes (3 images of 4x4 and their labels), written by the conftest helper."""
    folder = tmp_path_factory.mktemp("idx")
    images, labels = tiny_images(3, side=4)
    return [write_idx(folder / "images", images).read_bytes(), write_idx(folder / "labels", labels).read_bytes()]


def _parse(data: bytes) -> None:
    try:
        array = parse_idx(data)
    except DigitclfError as exc:
        assert "\n" not in str(exc)
        event("idx: " + next((k for k in ("magic", "inside its header", "data bytes") if k in str(exc)), "other"))
        return
    event("idx: decoded")
    # a decoded file is exactly its payload: nothing invented, nothing dropped
    assert array.ndim == data[3]
    assert array.nbytes == len(data) - 4 - 4 * data[3]


ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}  # the IDX format's type codes


@st.composite
def idx_like(draw) -> bytes:
    """A plausible header (a real or unknown type code, 0-4 sizes, small or huge), a payload of about its size."""
    code = draw(st.sampled_from([*ITEMSIZE, 0x07, 0xFF]))
    dims = draw(st.lists(st.integers(0, 5) | st.integers(0, 2**32 - 1), max_size=4))
    ndim = draw(st.just(len(dims)) | st.integers(0, 5))
    size = math.prod(dims) * ITEMSIZE.get(code, 1)
    n = draw(st.just(size) | st.integers(size - 2, size + 2)) if size <= 1000 else draw(st.integers(0, 40))
    return bytes([0, 0, code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims) + draw(
        st.binary(min_size=max(n, 0), max_size=max(n, 0)))


@FAST
@given(st.binary(max_size=64) | idx_like())
@example(b"")
@example(b"\x00\x00\x08\x00")
@example(b"\x00\x00\x08\x01\x00\x00\x00\x00")
def test_random_bytes_raise_only_dataset_errors(data):
    _parse(data)


@FAST
@given(st.data())
def test_edits_of_a_valid_idx_file_raise_only_dataset_errors(idx_files, data):
    raw = bytearray(data.draw(st.sampled_from(idx_files)))
    for _ in range(data.draw(st.integers(0, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.just(len(raw)) | st.integers(0, len(raw)))
    _parse(bytes(raw[:cut]) + data.draw(st.just(b"") | st.binary(max_size=8)))


@pytest.mark.parametrize("sizes", [(65536,) * 4, (0, 256, 7864320, 2290649225)], ids=["wraps-to-0", "zero-and-huge"])
def test_idx_size_overflow(sizes):
    """Sizes whose product passes int64 (65536**4 wrapped to 0 bytes; a 0 beside huge sizes) once reached reshape."""
    header = bytes([0, 0, 0x0B, len(sizes)]) + b"".join(size.to_bytes(4, "big") for size in sizes)
    with pytest.raises(DigitclfError):
        parse_idx(header)


def test_valid_idx_bytes_roundtrip(idx_files):
    """The mutation property starts from files the reader accepts."""
    images, labels = tiny_images(3, side=4)
    np.testing.assert_array_equal(parse_idx(idx_files[0]), images)
    np.testing.assert_array_equal(parse_idx(idx_files[1]), labels)
