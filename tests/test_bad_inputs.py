"""Bad input through the real CLI: one ``Error:`` line, the right exit code, nothing lost.

Each row of ``CASES`` is one bad input: the files it needs, the command line, the exit
code (2 usage/config, 1 runtime/data) and the exact error line -- or its start plus key
fragments when the tail is scikit-learn's or click's own wording.  Every row is checked
for the whole contract: stderr is that one line, stdout is empty, no traceback, no
exception escaped the CLI, and nothing new looks complete: saved runs and ``latest`` are
untouched, rows found after the data is loaded (``ran=True``) leave exactly one new run
folder, marked ``failed``, and every other row leaves none at all.

A row with ``bug=`` is the behaviour that should happen but does not yet: a strict xfail
the library owner removes when fixing it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Union

import numpy as np
import pytest

from helpers import tiny_images, write_idx

CONFIG = "c.yaml"
RUN_ID = "20260101-000000-abcdef"
IDX_CONFIG = "dataset: {name: idx, path: idxdata}\n"  # the conftest ``idx_folder`` is ./idxdata
NPZ_CONFIG = "dataset: {name: npz, path: d.npz}\n"
DIGITS = "configs/digits_lbfgs.yaml"
# lists that grow as sections, data sets and estimators are added are checked as fragments
TOP_KEYS = ("name, dataset, split, preprocess, model, output, seed",)
NOT_BOOL = "must be a whole number, not true (YAML reads true/false as booleans)"
SAFE_NAME = ("is not a safe run name; use letters, digits, '.', '_' or '-' "
             "(at most 64, starting with a letter or digit)")

FileContent = Union[str, bytes, Callable[[], bytes]]


@dataclass(frozen=True)
class Bad:
    """One bad input and the single error line it must produce."""

    id: str
    args: tuple[str, ...]
    code: int
    error: str  # the whole line after "Error: ", or its start when ``fragments`` are given
    fragments: tuple[str, ...] = ()
    files: Mapping[str, FileContent] = field(default_factory=dict)  # written into the working folder
    idx: Callable[[Path], None] | None = None  # alters the conftest IDX folder (./idxdata)
    saved: bool = False  # ./outputs holds one complete run, RUN_ID
    setup: Callable[[Path], None] | None = None  # last touches to the working folder
    ran: bool = False  # found after loading the data: one run folder, marked failed
    bug: str | None = None  # strict xfail: what is wrong today


def config(id: str, text: FileContent, code: int, error: str, fragments: tuple[str, ...] = (), *,
           command: str = "train", **kw) -> Bad:
    """A row running ``digitclf <command> -c c.yaml`` on ``text``.

    Rows that load data pass ``--quiet``: train's progress lines go to stderr by design,
    and the contract here is that the error is the only line there.
    """
    quiet = ("-q",) if kw.get("ran") and command == "train" else ()
    args = (*command.split(), *quiet, "-c", CONFIG)
    return Bad(id, args, code, error, fragments, files={CONFIG: text, **kw.pop("files", {})}, **kw)


def override(id: str, setting: str, code: int, error: str, fragments: tuple[str, ...] = (), **kw) -> Bad:
    """A row running ``digitclf train -c configs/digits_lbfgs.yaml --set <setting>``."""
    quiet = ("-q",) if kw.get("ran") else ()
    return Bad(id, ("train", *quiet, "-c", DIGITS, "--set", setting), code, error, fragments, **kw)


# ---------------------------------------------------------------- data files


def edit_gz(name: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """Rewrite one gzipped IDX file of the folder with ``edit`` applied to its decompressed bytes."""

    def mutate(folder: Path) -> None:
        path = folder / f"{name}.gz"
        path.write_bytes(gzip.compress(edit(gzip.decompress(path.read_bytes()))))

    return mutate


def replace_idx(name: str, array: np.ndarray) -> Callable[[Path], None]:
    return lambda folder: write_idx(folder / name, array, gz=True)


def raw_bytes(name: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """Rewrite the compressed file itself (to break the gzip layer)."""

    def mutate(folder: Path) -> None:
        path = folder / f"{name}.gz"
        path.write_bytes(edit(path.read_bytes()))

    return mutate


def single_class(folder: Path) -> None:
    write_idx(folder / "train-labels-idx1-ubyte", np.full(200, 3), gz=True)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.full(50, 3), gz=True)


def npz(**arrays: np.ndarray) -> Callable[[], bytes]:
    def build() -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    return build


X60, Y60 = tiny_images(60, side=8)


# ---------------------------------------------------------------- saved runs


def saved(id: str, args: tuple[str, ...], code: int, error: str, fragments: tuple[str, ...] = (), **kw) -> Bad:
    """A row run where ./outputs holds one complete run (RUN_ID, named digits_lbfgs)."""
    return Bad(id, args, code, error, fragments, saved=True, **kw)


def other_run(run_id: str, edit: Callable[[Path], None]) -> Callable[[Path], None]:
    """Copy the saved run to ``run_id`` and alter the copy."""

    def setup(folder: Path) -> None:
        runs = folder / "outputs" / "digits_lbfgs"
        shutil.copytree(runs / RUN_ID, runs / run_id)
        edit(runs / run_id)

    return setup


def set_status(status: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        record = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**record, "id": run.name, "status": status}))

    return edit


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    pixels = np.zeros((8, 8), np.uint8)
    pixels[1:7, 3:5] = 255  # a "1": a blank image is refused before any model is loaded
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


NO_COMPLETE_RUN = "no complete run in {}/; train one first: digitclf train --config configs/digits_lbfgs.yaml"
NO_MATCH = "no run matches {!r} in outputs/; see 'digitclf runs' (newest: " + RUN_ID + ")"
FAILED_ID = "20260101-000001-failed"

# ---------------------------------------------------------------- the table

CASES: list[Bad] = [
    # -- the config file itself
    Bad("config-missing", ("train", "-c", "nope.yaml"), 2,
        "config file 'nope.yaml' not found (looked in ./ and configs/); available: ", ("digits_lbfgs.yaml",)),
    Bad("config-misspelled", ("train", "-c", "digits_lbgfs.yaml"), 2,
        "config file 'digits_lbgfs.yaml' not found (looked in ./ and configs/) (did you mean 'digits_lbfgs.yaml'?)"),
    # tests run as root, so chmod 000 would not stop a read: a folder and non-UTF-8 bytes stand in
    # for an unreadable config
    Bad("config-is-a-folder", ("train", "-c", "folder.yaml"), 2,
        "config 'folder.yaml' is a folder; give a YAML file such as configs/digits_lbfgs.yaml",
        files={"folder.yaml/x": "seed: 1\n"}),
    config("config-not-utf8", b"name: \xff\xfe\n", 2,
           "cannot read config c.yaml: it is not UTF-8 text (byte 0xff at offset 6); save it as UTF-8"),
    config("yaml-syntax-flow", "name: x\nsplit: {kind: random\nseed: 1\n", 2,
           "c.yaml:3:5: invalid YAML: expected ',' or '}', but got ':'; fix the syntax there"),
    config("yaml-syntax-indent", "name: x\n  bad: value\n", 2,
           "c.yaml:2:6: invalid YAML: mapping values are not allowed here; fix the syntax there"),
    config("yaml-two-documents", "seed: 1\n---\nseed: 2\n", 2,
           "c.yaml:2:1: invalid YAML: but found another document; fix the syntax there"),
    config("yaml-nul-byte", "name: x\x00\n", 2,
           "c.yaml: invalid YAML: unacceptable character #x0000: special characters are not allowed; "
           "fix the syntax there"),
    config("yaml-unhashable-key", "{[1, 2]: 3}\n", 2,
           "c.yaml:1:2: invalid YAML: found unhashable key; fix the syntax there"),
    config("yaml-nested-too-deep", "seed: " + "[" * 1000 + "]" * 1000 + "\n", 2,
           "c.yaml: invalid YAML: ", ("nested too deeply",)),
    config("empty-file", "", 2, "c.yaml is empty; start from configs/digits_lbfgs.yaml"),
    config("comments-only", "# nothing yet\n", 2, "c.yaml is empty; start from configs/digits_lbfgs.yaml"),
    config("top-level-list", "- name: x\n- seed: 1\n", 2,
           "c.yaml: the top level must be a mapping of sections (name, dataset, split, ...), got a list"),
    config("top-level-string", "just words\n", 2,
           "c.yaml: the top level must be a mapping of sections (name, dataset, split, ...), got a str"),
    config("section-is-a-list", "dataset: [digits]\n", 2,
           "c.yaml: dataset: must be a mapping with keys name, path; got ['digits']"),
    config("params-is-a-list", "model: {params: [1]}\n", 2,
           "c.yaml: model.params: must be a mapping (key: value); got [1]"),
    # -- YAML tags: the safe loader only
    config("python-tag-apply", "name: !!python/object/apply:os.system ['echo pwned']\n", 2,
           "c.yaml:1:7: YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed; "
           "configs are plain YAML (mappings, lists, strings, numbers)"),
    config("custom-tag", "seed: !seed 1\n", 2,
           "c.yaml:1:7: YAML tag !seed is not allowed; configs are plain YAML (mappings, lists, strings, numbers)"),
    # -- unknown keys at every level, with a suggestion
    config("unknown-key-top", "nmae: x\n", 2,
           "c.yaml: nmae: unknown key 'nmae' (did you mean 'name'?); allowed keys: ", TOP_KEYS),
    config("unknown-key-dataset", "dataset: {nme: digits}\n", 2,
           "c.yaml: dataset.nme: unknown key 'nme' (did you mean 'name'?); allowed keys: ", ("name, path",)),
    config("unknown-key-split", "split: {test_sise: 0.2}\n", 2,
           "c.yaml: split.test_sise: unknown key 'test_sise' (did you mean 'test_size'?); allowed keys: ",
           ("kind, test_size, random_state, stratify",)),
    config("unknown-key-model", "model: {estimater: knn}\n", 2,
           "c.yaml: model.estimater: unknown key 'estimater' (did you mean 'estimator'?); allowed keys: ",
           ("estimator, params",)),
    config("unknown-key-output", "output: {plot: false}\n", 2,
           "c.yaml: output.plot: unknown key 'plot' (did you mean 'plots'?); allowed keys: ",
           ("dir, model_format, plots, misclassified",)),
    config("unknown-key-pca", "preprocess: [{pca: {n_component: 5}}]\n", 2,
           "c.yaml: preprocess.0.pca.n_component: unknown key 'n_component' (did you mean 'n_components'?); "
           "allowed keys: ", ("n_components, whiten",)),
    config("unknown-preprocess-step", "preprocess: [scael]\n", 2,
           "c.yaml: preprocess: unknown step 'scael' (did you mean 'scale'?); "
           "allowed: none, float32, scale, standardize, {pca: {n_components: N}}"),
    # -- wrong types and values
    config("seed-not-a-number", "seed: abc\n", 2,
           "c.yaml: seed: must be a whole number, got the text 'abc'"),
    # config validate: a regression (true read as 1) would otherwise train a whole run first
    config("seed-is-a-boolean", "seed: true\n", 2, f"c.yaml: seed: {NOT_BOOL}",
           command="config validate"),
    config("seed-negative", "seed: -1\n", 2, "c.yaml: seed: input should be greater than or equal to 0, got -1"),
    config("stratify-maybe", "split: {stratify: maybe}\n", 2,
           "c.yaml: split.stratify: must be true or false (no quotes), got 'maybe'"),
    config("plots-is-a-list", "output: {plots: [1]}\n", 2,
           "c.yaml: output.plots: must be true or false (no quotes), got [1]"),
    config("misclassified-is-a-boolean", "output: {misclassified: true}\n", 2,
           f"c.yaml: output.misclassified: {NOT_BOOL}",
           command="config validate"),
    config("pca-components-is-a-boolean", "preprocess: [{pca: {n_components: true}}]\n", 2,
           "c.yaml: preprocess.0.pca.n_components: must be a count like 50 or a fraction like 0.95, not true",
           command="config validate"),
    config("dataset-path-empty", "dataset: {name: idx, path: ''}\n", 2,
           "c.yaml: dataset.path: is empty; give a folder of IDX files or an .npz file, or remove the key"),
    config("misclassified-too-many", "output: {misclassified: 1000}\n", 2,
           "c.yaml: output.misclassified: input should be less than or equal to 400, got 1000"),
    config("model-format-pickle", "output: {model_format: pickle}\n", 2,
           "c.yaml: output.model_format: input should be 'joblib' or 'skops', got 'pickle'"),
    config("split-kind-unknown", "split: {kind: shuffled}\n", 2,
           "c.yaml: split.kind: input should be 'random', 'predefined' or 'kfold', got 'shuffled'"),
    config("pca-fraction-above-one", "preprocess: [{pca: {n_components: 1.5}}]\n", 2,
           "c.yaml: preprocess.0.pca.n_components: a fraction of explained variance must be in (0, 1)"),
    config("pca-more-components-than-pixels", "preprocess: [{pca: {n_components: 1000}}]\n", 2,
           "preprocess: ", ("n_components=1000",), ran=True),
    # -- split sizes
    config("test-size-above-one", "split: {test_size: 1.5}\n", 2,
           "c.yaml: split.test_size: a fraction must be between 0 and 1 (exclusive), got 1.5"),
    config("test-size-zero", "split: {test_size: 0}\n", 2,
           "c.yaml: split.test_size: a count of test images must be at least 1, got 0"),
    config("test-size-negative", "split: {test_size: -3}\n", 2,
           "c.yaml: split.test_size: a count of test images must be at least 1, got -3"),
    config("test-size-divide-by-zero", "split: {test_size: 1/0}\n", 2,
           "c.yaml: split.test_size: cannot read '1/0' as a fraction; write 0.25, 1/7 or a count like 10000"),
    config("test-size-count-too-large", "split: {test_size: 5000}\n", 2,
           "split.test_size: 5000 test images but the data set has only 1797; use a fraction such as 0.25", ran=True),
    override("test-size-count-equals-data", "split.test_size=1797", 2,
             "split.test_size: 1797 test images but the data set has only 1797; use a fraction such as 0.25", ran=True),
    override("predefined-split-on-digits", "split.kind=predefined", 2,
             "split.kind: 'digits' has no predefined train/test split; use kind: random"),
    # -- data sets and estimators
    config("unknown-dataset", "dataset: {name: mnsit}\n", 2,
           "dataset.name: unknown data set 'mnsit' (did you mean 'mnist'?); known: ",
           ("digits, mnist, fashion-mnist, idx, npz",)),
    config("idx-without-path", "dataset: {name: idx}\n", 2,
           "dataset.name: 'idx' needs dataset.path (a folder of IDX files or an .npz file)"),
    config("dataset-path-missing", "dataset: {name: idx, path: no/such/folder}\n", 2,
           "dataset.path: 'no/such/folder' does not exist; point it at a folder of IDX files or an .npz"),
    config("dataset-path-unknown-user", "dataset: {name: idx, path: ~nosuchuser/x}\n", 2,
           "dataset.path: '~nosuchuser/x' does not exist; point it at a folder of IDX files or an .npz"),
    config("dataset-path-too-long", "dataset: {name: idx, path: " + "a" * 5000 + "}\n", 2,
           "dataset.path: 'aaaa", ("' does not exist; point it at a folder of IDX files or an .npz",)),
    config("unknown-estimator", "model: {estimator: logistic_regresion}\n", 2,
           "model.estimator: unknown estimator 'logistic_regresion' (did you mean 'logistic_regression'?); "
           "known: logistic_regression, ", ("knn", ", or a dotted path like sklearn.svm.SVC")),
    config("dotted-estimator-missing", "model: {estimator: sklearn.svm.SVX}\n", 2,
           "model.estimator: 'sklearn.svm.SVX' does not exist in scikit-learn; "
           "check the spelling, e.g. sklearn.svm.SVC"),
    config("dotted-estimator-outside-sklearn", "model: {estimator: os.system}\n", 2,
           "model.estimator: 'os.system' is outside scikit-learn; only sklearn.* classes are allowed"),
    config("dotted-estimator-not-a-classifier", "model: {estimator: sklearn.decomposition.PCA}\n", 2,
           "model.estimator: 'sklearn.decomposition.PCA' is not a scikit-learn classifier"),
    config("meta-estimator-needs-arguments", "model: {estimator: sklearn.multiclass.OneVsRestClassifier}\n", 2,
           "model.estimator: 'sklearn.multiclass.OneVsRestClassifier' needs constructor arguments (",
           ("model.params alone",)),
    config("param-does-not-exist", "model: {params: {Cc: 1}}\n", 2,
           "model.params.Cc: LogisticRegression has no parameter 'Cc' (did you mean 'C'?); allowed: C, ",
           ("max_iter", "solver")),
    config("solver-misspelled", "model: {params: {solver: lbfgz}}\n", 2,
           "model.params.solver: LogisticRegression's solver must be one of lbfgs, liblinear, newton-cg, "
           "newton-cholesky, sag, saga; got 'lbfgz' (did you mean 'lbfgs'?)"),
    config("max-iter-negative", "model: {params: {max_iter: -1}}\n", 2,
           "model.params.max_iter: LogisticRegression's max_iter must be an int in the range [0, inf); got -1"),
    config("c-negative", "model: {params: {C: -1}}\n", 2,
           "model.params.C: LogisticRegression's C must be a float in the range (0.0, inf]; got -1"),
    config("solver-penalty-incompatible", "model: {params: {solver: lbfgs, penalty: l1}}\n", 2,
           "model.params: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty."),
    config("elasticnet-needs-saga", "model: {params: {solver: liblinear, penalty: elasticnet}}\n", 2,
           "model.params: Only 'saga' solver supports elasticnet penalty, got solver=liblinear."),
    config("knn-more-neighbours-than-images", "model: {estimator: knn, params: {n_neighbors: 5000}}\n", 2,
           "model.params: ", ("n_neighbors = 5000",), ran=True),
    # -- run names cannot escape the outputs folder
    *(config(f"unsafe-name-{label}", f"name: '{name}'\n", 2, f"c.yaml: name: {name!r} {SAFE_NAME}")
      for label, name in [("parent", "../x"), ("absolute", "/abs"), ("slash", "a/b"), ("hidden", ".hidden"),
                          ("dots", ".."), ("100-chars", "n" * 100)]),
    # -- --set overrides
    override("set-without-equals", "novalue", 2,
             "--set 'novalue': expected KEY.PATH=VALUE, e.g. --set model.params.C=10"),
    override("set-without-key", "=1", 2, "--set '=1': expected KEY.PATH=VALUE, e.g. --set model.params.C=10"),
    override("set-empty-key-part", "a..b=1", 2,
             "--set 'a..b=1': expected KEY.PATH=VALUE, e.g. --set model.params.C=10"),
    override("set-into-a-scalar", "seed.x=1", 2,
             "--set 'seed.x=1': seed is int, not a mapping; set it whole, e.g. --set seed=..."),
    override("set-bad-yaml", "seed=[1", 2,
             "--set seed:1:3: invalid YAML: expected ',' or ']', but got '<stream end>'; fix the syntax there"),
    override("set-python-tag", "seed=!!python/name:os.system", 2,
             "--set seed:1:1: YAML tag tag:yaml.org,2002:python/name:os.system is not allowed; "
             "configs are plain YAML (mappings, lists, strings, numbers)"),
    override("set-unknown-key", "model.estimater=knn", 2,
             "configs/digits_lbfgs.yaml: model.estimater: unknown key 'estimater' (did you mean 'estimator'?); "
             "allowed keys: ", ("estimator, params",)),
    # -- IDX folders (the conftest idx_folder, altered)
    config("idx-wrong-magic", IDX_CONFIG, 1,
           "idxdata/train-images-idx3-ubyte.gz is not an IDX file (bad magic number 00000703); "
           "expected the MNIST format, e.g. train-images-idx3-ubyte",
           idx=edit_gz("train-images-idx3-ubyte", lambda b: b"\x00\x00\x07\x03" + b[4:]), ran=True),
    config("idx-truncated", IDX_CONFIG, 1,
           "idxdata/train-images-idx3-ubyte.gz has 156700 data bytes but its header (200, 28, 28) says 156800; "
           "the file is truncated or corrupt, re-download it",
           idx=edit_gz("train-images-idx3-ubyte", lambda b: b[:-100]), ran=True),
    config("idx-truncated-header", IDX_CONFIG, 1,
           "idxdata/t10k-labels-idx1-ubyte.gz is truncated inside its header; re-download it",
           idx=edit_gz("t10k-labels-idx1-ubyte", lambda b: b[:6]), ran=True),
    config("idx-counts-disagree", IDX_CONFIG, 1,
           "idxdata: 200 train images but 199 labels; the image and label files must match",
           idx=replace_idx("train-labels-idx1-ubyte", tiny_images(199)[1]), ran=True),
    config("idx-labels-not-1d", IDX_CONFIG, 1,
           "idxdata: train labels have shape (200, 1); expected one label per image (an idx1-ubyte file)",
           idx=replace_idx("train-labels-idx1-ubyte", tiny_images(200)[1].reshape(200, 1)), ran=True),
    config("idx-missing-file", IDX_CONFIG, 2,  # found before any run folder is made (config validate too)
           "dataset.path: idxdata has no t10k-labels-idx1-ubyte[.gz]; an IDX folder needs the four standard files "
           "(train/t10k images and labels)",
           idx=lambda folder: (folder / "t10k-labels-idx1-ubyte.gz").unlink()),
    config("idx-gzip-truncated", IDX_CONFIG, 1,
           "cannot read idxdata/train-images-idx3-ubyte.gz: Compressed file ended before the end-of-stream "
           "marker was reached; re-download or re-export the file",
           idx=raw_bytes("train-images-idx3-ubyte", lambda b: b[:200]), ran=True),
    config("idx-gzip-not-gzip", IDX_CONFIG, 1,
           "cannot read idxdata/train-images-idx3-ubyte.gz: Not a gzipped file (b'PK'); "
           "re-download or re-export the file",
           idx=raw_bytes("train-images-idx3-ubyte", lambda b: b"PK\x03\x04 a zip, not a gzip"), ran=True),
    config("idx-single-class", IDX_CONFIG, 1, "idxdata has a single class (3); classification needs at least two",
           idx=single_class, ran=True),
    config("idx-image-sizes-differ", IDX_CONFIG, 1, "idxdata: train images are (28, 28) but test images (20, 20)",
           idx=replace_idx("t10k-images-idx3-ubyte", tiny_images(50, side=20)[0]), ran=True),
    # -- npz files
    config("npz-missing-arrays", NPZ_CONFIG, 1,
           "d.npz lacks x_test, y_test; a Keras-style .npz holds x_train, y_train, x_test and y_test",
           files={"d.npz": npz(x_train=X60, y_train=Y60)}, ran=True),
    config("npz-not-a-zip", NPZ_CONFIG, 1,
           "d.npz is not an .npz file (not a zip archive); "
           "save one with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)",
           files={"d.npz": b"hello, not a zip"}, ran=True),
    config("npz-object-arrays", NPZ_CONFIG, 1,
           "cannot read d.npz as .npz: Object arrays cannot be loaded when allow_pickle=False",
           files={"d.npz": npz(x_train=np.array([{}], dtype=object), y_train=Y60, x_test=X60, y_test=Y60)},
           ran=True),
    config("npz-flat-images", NPZ_CONFIG, 1, "d.npz: train images have shape (60, 64); expected (n, height, width)",
           files={"d.npz": npz(x_train=X60.reshape(60, -1), y_train=Y60, x_test=X60, y_test=Y60)}, ran=True),
    config("npz-single-class", NPZ_CONFIG, 1, "d.npz has a single class (0); classification needs at least two",
           files={"d.npz": npz(x_train=X60, y_train=np.zeros(60), x_test=X60, y_test=np.zeros(60))}, ran=True),
    config("dataset-path-neither", "dataset: {name: npz, path: notes.txt}\n", 2,
           "dataset.path: 'notes.txt' is neither a folder of IDX files nor an .npz file; point it at one of those",
           files={"notes.txt": "hello"}),
    # -- other commands run the same checks
    config("config-show-unknown-key", "nmae: x\n", 2,
           "c.yaml: nmae: unknown key 'nmae' (did you mean 'name'?); allowed keys: ", TOP_KEYS,
           command="config show"),
    config("config-validate-bad-param", "model: {params: {max_iter: -1}}\n", 2,
           "model.params.max_iter: LogisticRegression's max_iter must be an int in the range [0, inf); got -1", command="config validate"),
    # -- command line
    Bad("unknown-command", ("bogus",), 2, "No such command 'bogus'. (see 'digitclf --help')"),
    Bad("misspelled-command", ("trian",), 2, "No such command 'trian'. Did you mean 'train'? (see 'digitclf --help')"),
    Bad("unknown-option", ("train", "--bogus"), 2, "No such option: --bogus", ("(see 'digitclf train --help')",)),
    Bad("option-without-value", ("train", "-c"), 2, "Option '-c' requires an argument."),
    Bad("flag-given-a-value", ("train", "--quiet=yes"), 2, "Option '--quiet' does not take a value."),
    Bad("extra-argument", ("train", "-c", DIGITS, "extra"), 2,
        "Got unexpected extra argument(s) (extra) (see 'digitclf train --help')"),
    Bad("outputs-is-a-file", ("train", "-c", DIGITS, "--outputs", "afile"), 1,
        "outputs folder afile cannot be a folder: afile is a file; give a folder with --outputs or output.dir "
        "(it is created if missing)",
        files={"afile": "not a folder"}),
    Bad("fetch-unknown-dataset", ("data", "fetch", "nosuch"), 2,
        "'nosuch' cannot be fetched; fetchable: ", ("mnist, fashion-mnist",)),
    Bad("import-unsafe-cache-name", ("data", "import", "../x", "configs"), 2,
        "'../x' is not a usable cache name; use letters, digits, '.', '_' or '-'"),
    Bad("import-path-missing", ("data", "import", "mine", "nowhere"), 2, "", ("'nowhere'", "does not exist")),
    # -- saved runs: evaluate, predict, runs, compare, plots, report
    Bad("evaluate-no-outputs-folder", ("evaluate",), 2, NO_COMPLETE_RUN.format("outputs")),
    Bad("evaluate-empty-outputs", ("evaluate", "-o", "empty"), 2, NO_COMPLETE_RUN.format("empty"),
        setup=lambda folder: (folder / "empty").mkdir()),
    Bad("runs-empty-outputs", ("runs", "-o", "empty"), 2,
        "no runs in empty/; train one first: digitclf train --config configs/digits_lbfgs.yaml",
        setup=lambda folder: (folder / "empty").mkdir()),
    Bad("predict-without-runs", ("predict", "digit.png"), 2, NO_COMPLETE_RUN.format("outputs"),
        files={"digit.png": png}),
    saved("evaluate-unknown-run", ("evaluate", "nosuchrun"), 2, NO_MATCH.format("nosuchrun")),
    saved("evaluate-ambiguous-prefix", ("evaluate", "20260101"), 2,
          f"'20260101' matches 2 runs ({RUN_ID}, {FAILED_ID}); give more of the id",
          setup=other_run(FAILED_ID, set_status("failed"))),
    saved("evaluate-failed-run", ("evaluate", FAILED_ID), 2,
          f"run {FAILED_ID} is failed, not complete; it has no usable results "
          "(train it again, or prune it with 'digitclf runs --prune')",
          setup=other_run(FAILED_ID, set_status("failed"))),
    saved("evaluate-damaged-run-record", ("evaluate", "20260101-000002-damaged"), 2,
          "outputs/digits_lbfgs/20260101-000002-damaged/run.json is unreadable (Expecting property name enclosed "
          "in double quotes: line 1 column 2 (char 1)); the run is damaged",
          setup=other_run("20260101-000002-damaged", lambda run: (run / "run.json").write_text("{not json"))),
    saved("evaluate-missing-split", ("evaluate", "20260101-000003-nosplit"), 2,
          "outputs/digits_lbfgs/20260101-000003-nosplit/split.npz is missing; the run is incomplete, train it again",
          setup=other_run("20260101-000003-nosplit",
                          lambda run: (set_status("complete")(run), (run / "split.npz").unlink()))),
    saved("evaluate-unknown-dataset", ("evaluate", "--dataset", "nosuch"), 2,
          "--dataset: 'nosuch' is neither a known data set (", ("mnist", ") nor an existing IDX folder or .npz file")),
    saved("evaluate-bad-split-choice", ("evaluate", "--split", "bogus"), 2, "Invalid value for '--split': ",
          ("'bogus' is not one of 'test', 'train', 'all'", "(see 'digitclf evaluate --help')")),
    saved("predict-unknown-run", ("predict", "nosuchrun", "digit.png"), 2, NO_MATCH.format("nosuchrun"),
          files={"digit.png": png}),
    saved("predict-text-file", ("predict", "notes.txt"), 2,
          "cannot read notes.txt as an image (cannot identify image file 'notes.txt'); give a PNG or JPEG file",
          files={"notes.txt": "seven"}),
    saved("predict-text-named-png", ("predict", "fake.png"), 2,
          "cannot read fake.png as an image (cannot identify image file 'fake.png'); give a PNG or JPEG file",
          files={"fake.png": "not a png"}),
    saved("predict-truncated-png", ("predict", "cut.png"), 2,
          "cannot read cut.png as an image (cannot identify image file 'cut.png'); give a PNG or JPEG file",
          files={"cut.png": lambda: png()[:40]}),
    saved("predict-missing-image", ("predict", "missing.png"), 2,
          "image 'missing.png' does not exist; give PNG/JPEG files or a folder of them"),
    saved("predict-folder-without-images", ("predict", "nopics"), 2,
          "nopics has no PNG or JPEG files; give image files or a folder of them", files={"nopics/readme.txt": "x"}),
    saved("predict-run-but-no-images", ("predict", RUN_ID), 2,
          f"no images given, or '{RUN_ID}' does not exist; usage: digitclf predict [RUN] IMAGE..."),
    saved("predict-tampered-model", ("predict", RUN_ID, "digit.png"), 2,
          f"outputs/digits_lbfgs/{RUN_ID}/model.joblib does not match the sha256 recorded when it was saved; "
          "refusing to load an altered file (a model file can run code). Re-train or restore the original.",
          files={"digit.png": png},
          setup=lambda folder: (folder / f"outputs/digits_lbfgs/{RUN_ID}/model.joblib").open("ab").write(b"\0")),
    saved("runs-unknown-sort", ("runs", "--sort", "bogus"), 2, "--sort: 'bogus' is not a column; use one of ",
          ("accuracy",)),
    saved("runs-unknown-status", ("runs", "--status", "bogus"), 2, "--status: 'bogus' is not one of ",
          ("running, complete, failed, interrupted, abandoned",)),
    saved("runs-unknown-format", ("runs", "--format", "xml"), 2, "Invalid value for '--format': ",
          ("'xml' is not one of",)),
    saved("compare-one-run", ("compare", RUN_ID), 2,
          "compare needs at least two runs, e.g. digitclf compare RUN_A RUN_B"),
    saved("plot-errors-zero", ("plot-errors", "--n", "0"), 2, "Invalid value for '--n': ",
          ("greater than or equal to 1",)),
    saved("report-unknown-run", ("report", "nosuch"), 2, NO_MATCH.format("nosuch")),
    Bad("plot-samples-unknown-dataset", ("plot-samples", "--dataset", "nosuch"), 2,
        "--dataset: 'nosuch' is neither a known data set (", ("mnist", ") nor an existing IDX folder or .npz file")),
    Bad("plot-samples-out-folder-missing", ("plot-samples", "--dataset", "digits", "--out", "nodir/x.png"), 2,
        "cannot write nodir/x.png: the folder nodir does not exist; create it first"),
    # -- sweeps: every point is validated before any runs
    Bad("sweep-grid-malformed", ("sweep", "-c", DIGITS, "--grid", "novalue"), 2,
        "--grid 'novalue': expected KEY.PATH=v1,v2,..., e.g. --grid model.params.C=0.1,1,10"),
    Bad("sweep-grid-without-values", ("sweep", "-c", DIGITS, "--grid", "model.params.C="), 2,
        "--grid 'model.params.C=': expected KEY.PATH=v1,v2,..., e.g. --grid model.params.C=0.1,1,10"),
    Bad("sweep-point-unknown-param", ("sweep", "-c", DIGITS, "--grid", "model.params.Cc=1,2"), 2,
        "sweep point 1 (Cc=1): model.params.Cc: LogisticRegression has no parameter 'Cc' (did you mean 'C'?); "
        "allowed: ", ("max_iter",)),
    Bad("sweep-point-invalid-value", ("sweep", "-c", DIGITS, "--grid", "model.params.C=1,-1"), 2,
        "sweep point 2 (C=-1): model.params.C: LogisticRegression's C must be a float in the range (0.0, inf]; "
        "got -1"),
    Bad("sweep-nothing-to-sweep", ("sweep", "-c", DIGITS), 2, "nothing to sweep: give --grid KEY=v1,v2 ",
        ("sweep:",)),
    Bad("sweep-unknown-backend", ("sweep", "-c", DIGITS, "--grid", "model.params.C=1,2", "--backend", "bogus",
                                  "--dry-run"), 2, "--backend: unknown backend 'bogus'; use one of loky, dask"),
    Bad("sweep-zero-jobs", ("sweep", "-c", DIGITS, "--grid", "model.params.C=1,2", "--jobs", "0", "--dry-run"), 2,
        "--jobs: 0 is not a number of processes; use 1, 2, ... or -1 for one per core"),
    Bad("sweep-jobs-not-a-number", ("sweep", "-c", DIGITS, "--grid", "model.params.C=1,2", "--jobs", "abc"), 2,
        "Invalid value for '--jobs' / '-j': ", ("unable to parse string as an integer",)),
    Bad("import-bad-idx", ("data", "import", "mnist", "idxdata"), 1,
        "idxdata/train-images-idx3-ubyte.gz is not an IDX file (bad magic number 00000703); "
        "expected the MNIST format, e.g. train-images-idx3-ubyte",
        idx=edit_gz("train-images-idx3-ubyte", lambda b: b"\x00\x00\x07\x03" + b[4:])),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """An outputs folder with one complete run (k-NN on digits: no slow fit), trained once per module."""
    from digitclf.config import load_config
    from digitclf.runner import train

    outputs = tmp_path_factory.mktemp("trained") / "outputs"
    cfg = load_config(Path(__file__).parent.parent / DIGITS,
                      ["model.estimator=knn", "model.params={}", "output.plots=false"])
    train(cfg, outputs=outputs, run_id=RUN_ID)
    return outputs


def _params() -> list:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return [pytest.param(case, id=case.id,
                         marks=[pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else [])
            for case in CASES]


def _write_files(folder: Path, files: Mapping[str, FileContent]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = content() if callable(content) else content
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _snapshot(folder: Path) -> tuple[list[str], dict[str, str]]:
    """Where every ``latest`` points, and the status of every run.json (or 'damaged')."""
    latest = sorted(f"{p} -> {os.readlink(p)}" for p in folder.glob("**/latest"))
    records = {}
    for path in sorted(folder.glob("**/run.json")):
        try:
            records[str(path)] = json.loads(path.read_text())["status"]
        except ValueError:
            records[str(path)] = "damaged"
    return latest, records


@pytest.mark.parametrize("case", _params())
def test_bad_input_gives_one_error_line(case: Bad, cli, isolated, request):
    _write_files(isolated, case.files)
    if case.idx is not None:
        case.idx(request.getfixturevalue("idx_folder"))
    if case.saved:
        shutil.copytree(request.getfixturevalue("trained"), isolated / "outputs", symlinks=True)
    if case.setup is not None:
        case.setup(isolated)
    before = _snapshot(isolated)

    result = cli(*case.args, prog_name="digitclf")  # the name users see in "see 'digitclf --help'"

    # the CLI turned the problem into an exit code: no exception escaped to the runner
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    if case.fragments:
        assert line.startswith(f"Error: {case.error}"), line
        for fragment in case.fragments:
            assert fragment in line, (fragment, line)
    else:
        assert line == f"Error: {case.error}"
    assert result.exit_code == case.code, line

    # nothing left looking complete: saved runs untouched, at most one new run, marked failed
    latest, records = _snapshot(isolated)
    assert latest == before[0]
    new = {path: status for path, status in records.items() if path not in before[1]}
    assert {path: records[path] for path in before[1]} == before[1]
    assert list(new.values()) == (["failed"] if case.ran else [])


def test_suite_is_large_enough():
    """The issue asks for at least 40 bad inputs; this table is the number README quotes."""
    assert len(CASES) >= 45
