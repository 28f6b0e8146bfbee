"""Hostile input against the hardening fixes: one ``Error:`` line, the right exit code, nothing the user had changed.

Every refusal is checked for the whole contract: no exception escaped the CLI, no traceback, empty stdout,
exactly one stderr line starting ``Error: `` (never ``Error: unexpected``), the exit code (2 usage/config,
1 runtime), and the bytes of the user's files and run folders are the same before and after.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import REPO, tiny_images, write_idx

DIGITS = "configs/digits_lbfgs.yaml"
RUN_ID = "20260101-000000-abcdef"
BAD_ID = "20260101-000001-bad000"
KNN = ("--set", "model.estimator=knn", "--set", "model.params={}", "--set", "output.plots=false")


# ---------------------------------------------------------------- helpers


def refused(result, code: int | tuple[int, ...], *fragments: str) -> str:
    """The contract for a refusal; returns the error line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("Error: "), line
    assert not line.startswith("Error: unexpected"), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert result.exit_code in (code if isinstance(code, tuple) else (code,)), line
    return line


def ok(result):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


def tree(folder: Path) -> dict[str, str]:
    """sha256 (or link target / kind) of everything under ``folder``."""
    out: dict[str, str] = {}
    if not os.path.lexists(folder):
        return out
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_fifo():
                out[rel] = "fifo"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def run_dir(outputs: Path = Path("outputs"), run_id: str = RUN_ID) -> Path:
    return outputs / "digits_lbfgs" / run_id


def edit_record(run: Path, **changes) -> None:
    record = json.loads((run / "run.json").read_text())
    record.update(changes)
    (run / "run.json").write_text(json.dumps(record))


class Marker:
    """Unpickling this creates ./marker."""

    def __reduce__(self):
        return (open, ("marker", "w"))


def plant_hostile_model(run: Path) -> None:
    (run / "model.joblib").write_bytes(pickle.dumps(Marker()))
    record = json.loads((run / "run.json").read_text())
    record["artifacts"]["model.joblib"] = sha(run / "model.joblib")
    (run / "run.json").write_text(json.dumps(record))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One complete k-NN run on digits (RUN_ID, named digits_lbfgs), trained once per module."""
    from digitclf.config import load_config
    from digitclf.runner import train

    outputs = tmp_path_factory.mktemp("hostile") / "outputs"
    cfg = load_config(REPO / DIGITS, ["model.estimator=knn", "model.params={}", "output.plots=false"])
    train(cfg, outputs=outputs, run_id=RUN_ID)
    return outputs


@pytest.fixture
def outputs(trained, isolated) -> Path:
    shutil.copytree(trained, isolated / "outputs", symlinks=True)
    return isolated / "outputs"


@pytest.fixture
def mnist_cache(cli, idx_folder, isolated) -> Path:
    ok(cli("data", "import", "mnist", str(idx_folder)))
    return isolated / "cache" / "mnist"


# ================================================================ 1. run store names and links


@pytest.mark.parametrize("name", ["latest", "Sweeps"])
def test_reserved_run_name(cli, isolated, name):
    Path("c.yaml").write_text(f"name: {name}\n")
    refused(cli("train", "-c", "c.yaml"), 2, name)
    assert tree(Path("outputs")) == {}


LATEST_KINDS = {
    "file": lambda p: p.write_text("my notes\n"),
    "folder": lambda p: (p.mkdir(), (p / "keep.txt").write_text("mine\n")),
    "abs-symlink": lambda p: p.symlink_to("/tmp"),
}


@pytest.mark.parametrize("kind", list(LATEST_KINDS))
def test_latest_not_ours(cli, isolated, kind):
    Path("outputs").mkdir()
    LATEST_KINDS[kind](Path("outputs/latest"))
    before = tree(Path("outputs"))
    refused(cli("train", "-c", DIGITS, *KNN), 2, "latest")
    assert tree(Path("outputs")) == before


def _in_run(name: str):
    return lambda: str(run_dir() / name)


OUT_TARGETS = {
    "model": _in_run("model.joblib"),
    "run-json": _in_run("run.json"),
    "new-png-in-run": _in_run("x.png"),
    "dot": lambda: ".",
    "fifo": lambda: (os.mkfifo("pipe.png"), "pipe.png")[1],
    "foreign-file": lambda: (Path("notes.png").write_bytes(b"not a png at all"), "notes.png")[1],
}


@pytest.mark.parametrize("target", list(OUT_TARGETS))
@pytest.mark.parametrize("command", [("plot-errors",), ("plot-samples", "--dataset", "digits")],
                         ids=["plot-errors", "plot-samples"])
def test_plot_out_refused(cli, outputs, isolated, command, target):
    out = OUT_TARGETS[target]()
    before = tree(isolated)
    refused(cli(*command, "--out", out), 2)
    assert tree(isolated) == before


REPORT_TARGETS = {
    "model": _in_run("model.joblib"),
    "run-json": _in_run("run.json"),
    "dot": lambda: ".",
    "fifo": lambda: (os.mkfifo("pipe.html"), "pipe.html")[1],
    "foreign-html": lambda: (Path("mine.html").write_text("<html>my page</html>"), "mine.html")[1],
}


@pytest.mark.parametrize("target", list(REPORT_TARGETS))
def test_report_out_refused(cli, outputs, isolated, target):
    out = REPORT_TARGETS[target]()
    before = tree(isolated)
    refused(cli("report", "--out", out), 2)
    assert tree(isolated) == before


def test_plot_errors_replaces_its_own_png(cli, outputs):
    ok(cli("plot-errors", "--out", "errors.png"))
    assert Path("errors.png").read_bytes().startswith(b"\x89PNG")
    ok(cli("plot-errors", "--out", "errors.png"))
    assert Path("errors.png").read_bytes().startswith(b"\x89PNG")


def test_evaluate_by_run_name(cli, outputs):
    ok(cli("evaluate", "digits_lbfgs"))


@pytest.mark.parametrize("where", ["file", "/dev/null"])
def test_outputs_not_a_folder(cli, isolated, where):
    if where == "file":
        Path("outfile").write_text("mine\n")
        where = "outfile"
    before = tree(isolated)
    refused(cli("train", "-c", DIGITS, "--outputs", where), 1, where)
    assert tree(isolated) == before


# ================================================================ 2. model integrity


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_hostile_pickle_refused(cli, outputs, isolated, command):
    plant_hostile_model(run_dir())
    args = ("evaluate", RUN_ID) if command == "evaluate" else ("predict", "--run", RUN_ID, "digit.png")
    if command == "predict":
        from PIL import Image

        Image.fromarray(np.zeros((8, 8), np.uint8)).save("digit.png")
    before = tree(isolated)
    refused(cli(*args), 2, "--trust")
    assert not Path("marker").exists()
    assert tree(isolated) == before


def test_other_key_refused_then_trust(cli, isolated, monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITCLF_KEY", str(tmp_path / "second.key"))
    ok(cli("train", "-q", "-c", DIGITS, *KNN))
    monkeypatch.setenv("DIGITCLF_KEY", str(tmp_path / "third.key"))
    before = tree(isolated / "outputs")
    refused(cli("evaluate"), 2, "--trust")
    assert tree(isolated / "outputs") == before
    ok(cli("evaluate", "--trust"))


def test_a_superseded_run_loads_and_evaluates_without_trust(cli):
    """The signature names the run as run.json records it, not its folder: moving it aside keeps it usable."""
    import digitclf

    ok(cli("train", "-q", "-c", DIGITS, *KNN, "--run-id", "fixed"))
    first = json.loads(Path("outputs/digits_lbfgs/fixed/run.json").read_text())
    ok(cli("train", "-q", "-c", DIGITS, *KNN, "--run-id", "fixed"))
    (aside,) = Path("outputs/digits_lbfgs/.superseded").iterdir()
    assert json.loads((aside / "run.json").read_text())["token"] == first["token"]
    evaluated = json.loads(ok(cli("evaluate", str(aside), "--json")).stdout)
    assert evaluated["matches_recorded"] is True and evaluated["run_id"] == aside.name
    assert digitclf.load_run(aside).model.predict(np.zeros((1, 64))).shape == (1,)


def test_a_run_signed_before_tokens_still_loads_but_dropping_a_token_does_not(cli):
    """A run saved by a digitclf whose signatures named only the run id (v1) loads without --trust; removing
    the token from a newer run.json (to pass as such a run) is refused."""
    from digitclf import signing

    ok(cli("train", "-q", "-c", DIGITS, *KNN, "--run-id", "old"))
    ok(cli("train", "-q", "-c", DIGITS, *KNN, "--run-id", "new"))
    for run_id, resign in (("old", True), ("new", False)):
        path = Path("outputs/digits_lbfgs") / run_id / "run.json"
        record = json.loads(path.read_text())
        del record["token"]
        if resign:  # what the earlier digitclf wrote
            record["signatures"]["model.joblib"] = signing.sign(
                "digitclf-model-v1", run_id, "model.joblib", record["artifacts"]["model.joblib"])
        path.write_text(json.dumps(record))
    ok(cli("evaluate", "outputs/digits_lbfgs/old"))
    line = refused(cli("evaluate", "outputs/digits_lbfgs/new"), 2, "--trust")
    assert " is not signed with your key (" in line


def _plant(path: Path, what: str, victim: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    {"FIFO": lambda: os.mkfifo(path), "folder": path.mkdir, "link": lambda: path.symlink_to(victim)}[what]()


@pytest.mark.parametrize("what", ["FIFO", "link", "folder"])
@pytest.mark.parametrize("lock, args", [(".run-ids.lock", ["train", "--run-id", "x"]),
                                        (".sweep.lock", ["sweep", "--grid", "model.params.n_neighbors=1,2"])],
                         ids=["train-run-id", "sweep"])
def test_a_planted_lock_file_is_one_error_and_never_followed_or_waited_on(isolated, what, lock, args):
    """A FIFO where the lock file goes would block open() forever, a link would create or lock a file
    elsewhere: each is one Error line naming it, and nothing is written."""
    planted, victim = Path("outputs/digits_lbfgs") / lock, isolated / "victim"
    _plant(planted, what, victim)
    before = tree(isolated)
    done = subprocess.run([sys.executable, "-m", "digitclf", *args, "-c", DIGITS, "-q", *KNN],
                          capture_output=True, text=True, timeout=120)  # a blocked open() fails here
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [f"Error: {os.path.abspath(planted) if lock == '.sweep.lock' else planted} "
                                        f"is a {what}, not the lock file digitclf keeps there; "
                                        "remove it and run again"]
    assert not os.path.lexists(victim) and tree(isolated) == before


def swap_model(source: Path, target: Path, *, signature: bool) -> None:
    """Put ``source``'s model into ``target`` with a matching sha256 (and ``source``'s signature too)."""
    shutil.copyfile(source / "model.joblib", target / "model.joblib")
    record, theirs = (json.loads((p / "run.json").read_text()) for p in (target, source))
    record["artifacts"]["model.joblib"] = theirs["artifacts"]["model.joblib"]
    if signature:
        record["signatures"]["model.joblib"] = theirs["signatures"]["model.joblib"]
    (target / "run.json").write_text(json.dumps(record))


@pytest.mark.parametrize("signature", [False, True], ids=["own-signature", "their-signature"])
@pytest.mark.parametrize("donor", ["other-run", "same-id-run-before"])
def test_a_signed_model_put_into_another_run_is_refused(cli, isolated, donor, signature):
    """Both runs are this user's and signed; a model moved between them is refused, whichever signature it takes
    along, even between two runs of one fixed run id (the earlier one moved to .superseded/)."""
    ok(cli("train", "-q", "-c", DIGITS, *KNN, "--set", "model.params={n_neighbors: 1}", "--run-id", "fixed"))
    ok(cli("train", "-q", "-c", DIGITS, *KNN, "--run-id", "other" if donor == "other-run" else "fixed"))
    source = Path("outputs/digits_lbfgs/other") if donor == "other-run" else \
        next(Path("outputs/digits_lbfgs/.superseded").iterdir())
    target = Path("outputs/digits_lbfgs/fixed")
    assert sha(source / "model.joblib") != sha(target / "model.joblib")
    ok(cli("evaluate", str(target)))  # before the swap: its own model loads
    swap_model(source, target, signature=signature)
    before = tree(isolated / "outputs")
    line = refused(cli("evaluate", str(target)), 2, "--trust")
    assert line.startswith(f"Error: {target.resolve() / 'model.joblib'} is not signed with your key (")
    assert " for this run: " in line
    assert tree(isolated / "outputs") == before
    ok(cli("evaluate", str(target), "--trust"))  # the user's own call


def test_short_key_file(cli, outputs, isolated, monkeypatch):
    Path("short.key").write_bytes(b"abc")
    monkeypatch.setenv("DIGITCLF_KEY", str(isolated / "short.key"))
    before = tree(isolated)
    line = refused(cli("evaluate", RUN_ID), (1, 2))
    assert "key" in line
    assert tree(isolated) == before


# ================================================================ 3. data integrity


def _rewrite_manifest(cache: Path, edit) -> None:
    manifest = json.loads((cache / "manifest.json").read_text())
    (cache / "manifest.json").write_text(json.dumps(edit(manifest)))


MNIST_CFG = "dataset: {name: mnist}\nmodel: {estimator: knn, params: {}}\noutput: {plots: false}\n"


def test_tampered_cache_with_fixed_checksums(cli, mnist_cache, isolated):
    import xxhash

    X = np.load(mnist_cache / "X.npy")
    X[0, 0] ^= 1
    np.save(mnist_cache / "X.npy", X)

    def edit(manifest):
        manifest["arrays"]["X"]["sha256"] = sha(mnist_cache / "X.npy")
        manifest["arrays"]["X"]["xxh3_128"] = xxhash.xxh3_128_hexdigest(memoryview(np.ascontiguousarray(X)).cast("B"))
        return manifest

    _rewrite_manifest(mnist_cache, edit)
    Path("c.yaml").write_text(MNIST_CFG)
    before = tree(isolated / "cache")
    refused(cli("train", "-q", "-c", "c.yaml"), 1, "mnist")
    assert tree(isolated / "cache") == before


MANIFESTS = {
    "list": lambda m: [],
    "no-arrays": lambda m: {k: v for k, v in m.items() if k != "arrays"},
    "shape-5x5": lambda m: {**m, "image_shape": [5, 5]},
}


@pytest.mark.parametrize("kind", list(MANIFESTS))
def test_damaged_manifest(cli, mnist_cache, isolated, kind):
    _rewrite_manifest(mnist_cache, MANIFESTS[kind])
    Path("c.yaml").write_text(MNIST_CFG)
    refused(cli("train", "-q", "-c", "c.yaml"), (1, 2), "mnist")


def test_idx_folder_as_fashion_path(cli, idx_folder, isolated):
    Path("c.yaml").write_text(f"dataset: {{name: fashion-mnist, path: {idx_folder}}}\n")
    refused(cli("train", "-q", "-c", "c.yaml"), (1, 2), "fingerprint")


def test_import_fashion_from_wrong_idx(cli, idx_folder, isolated):
    refused(cli("data", "import", "fashion-mnist", str(idx_folder)), (1, 2), "fashion-mnist")
    assert not (isolated / "cache" / "fashion-mnist").exists()


# ================================================================ 4. bounds


def _bomb_lines() -> list[str]:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return lines


CONFIG_FILES = {
    "alias-bomb": lambda: "\n".join(_bomb_lines()) + "\n",
    "recursive-alias": lambda: "seed: &a [*a]\n",
    "deep-nesting": lambda: "model:\n  params:\n    x: " + "[" * 70 + "]" * 70 + "\n",
    "deep-mapping": lambda: "".join("  " * i + f"k{i}:\n" for i in range(70)) + "  " * 70 + "v: 1\n",
    "huge-file": lambda: "seed: 1\n" + "#" * 1_000_001 + "\n",
    "duplicate-key": lambda: "seed: 1\nseed: 2\n",
    "duplicate-nested": lambda: "model:\n  params:\n    C: 1\n    C: 2\n",
    "big-int": lambda: "seed: " + "9" * 5000 + "\n",
}


@pytest.mark.parametrize("kind", list(CONFIG_FILES))
def test_hostile_config_file(cli, isolated, kind):
    Path("c.yaml").write_text(CONFIG_FILES[kind]())
    before = tree(isolated)
    line = refused(cli("train", "-c", "c.yaml"), 2)
    if kind.startswith("duplicate"):
        assert ("seed" if kind == "duplicate-key" else "C") in line
    assert tree(isolated) == before


def test_merge_key_override_accepted(cli, isolated):
    Path("c.yaml").write_text("model:\n  <<: {estimator: knn, params: {n_neighbors: 5}}\n  params: {n_neighbors: 3}\n"
                              "output: {plots: false}\n")
    ok(cli("train", "-q", "-c", "c.yaml"))


def test_alias_bomb_in_set(cli, isolated):
    parts = ["&a [1,1,1,1,1,1,1,1,1]"]
    for prev, name in zip("abcdef", "bcdefg"):
        parts.append(f"&{name} [{','.join([f'*{prev}'] * 9)}]")
    refused(cli("train", "-c", DIGITS, "--set", "model.params={x: [" + ", ".join(parts) + "]}"), 2)
    assert tree(Path("outputs")) == {}


SPECIAL_CONFIG = {
    "fifo": lambda: (os.mkfifo("c.yaml"), "c.yaml")[1],
    "dev-null": lambda: "/dev/null",
    "symlink-loop": lambda: (os.symlink("loop2.yaml", "loop1.yaml"), os.symlink("loop1.yaml", "loop2.yaml"),
                             "loop1.yaml")[2],
}


@pytest.mark.parametrize("kind", list(SPECIAL_CONFIG))
def test_special_config_path(cli, isolated, kind):
    refused(cli("train", "-c", SPECIAL_CONFIG[kind]()), 2)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_special_dataset_path(cli, isolated, kind):
    if kind == "fifo":
        os.mkfifo("d.npz")
        path = "d.npz"
    else:
        path = "/dev/zero"
    Path("c.yaml").write_text(f"dataset: {{name: npz, path: {path}}}\n")
    refused(cli("train", "-q", "-c", "c.yaml"), (1, 2))


def test_fifo_inside_idx_folder(cli, idx_folder, isolated):
    (idx_folder / "train-images-idx3-ubyte.gz").unlink()
    os.mkfifo(idx_folder / "train-images-idx3-ubyte")
    Path("c.yaml").write_text(f"dataset: {{name: idx, path: {idx_folder}}}\n")
    refused(cli("train", "-q", "-c", "c.yaml"), (1, 2), "train-images-idx3-ubyte")


# ================================================================ 5. damaged records


def _write(name: str, text: str):
    return lambda run: (run / name).write_text(text)


def _json_edit(**changes):
    return lambda run: edit_record(run, **changes)


def _drop(name: str):
    return lambda run: (run / name).unlink()


def _bad_split(run: Path) -> None:
    with np.load(run / "split.npz") as data:
        arrays = {k: data[k] for k in data.files}
    key = next((k for k in arrays if "error" in k), None)
    assert key is not None, list(arrays)
    arrays[key] = np.full_like(arrays[key], 10 ** 6) if arrays[key].size else np.array([10 ** 6])
    (run / "split.npz").write_bytes(npz_bytes(**arrays))
    record = json.loads((run / "run.json").read_text())
    record["artifacts"]["split.npz"] = sha(run / "split.npz")
    (run / "run.json").write_text(json.dumps(record))


DAMAGE = {
    "json-list": _write("run.json", "[]"),
    "json-null": _write("run.json", "null"),
    "json-string": _write("run.json", '"x"'),
    "json-empty": _write("run.json", "{}"),
    "artifacts-string": _json_edit(artifacts="x"),
    "status-weird": _json_edit(status="weird"),
    "no-metrics": _drop("metrics.json"),
    "split-out-of-range": _bad_split,
}


def _damage(names):
    return [pytest.param(n, id=n) for n in names]


@pytest.fixture
def damaged(outputs, request):
    bad = run_dir(outputs, BAD_ID)
    shutil.copytree(run_dir(outputs), bad)
    edit_record(bad, id=BAD_ID)
    DAMAGE[request.param](bad)
    return bad


@pytest.mark.parametrize("damaged", _damage(DAMAGE),
                         indirect=True)
def test_damaged_run_listed(cli, damaged):
    result = ok(cli("runs"))
    assert RUN_ID in result.stdout
    assert "damaged" in result.stdout


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
def test_damaged_run_evaluate(cli, damaged, isolated):
    before = tree(isolated / "outputs")
    refused(cli("evaluate", BAD_ID), (1, 2))
    assert tree(isolated / "outputs") == before


@pytest.mark.parametrize("damaged", _damage(("json-list", "status-weird", "no-metrics", "split-out-of-range")), indirect=True)
def test_damaged_run_report(cli, damaged):
    ok(cli("report", "--out", "r.html"))
    page = Path("r.html").read_text()
    assert f'id="run-{RUN_ID}"' in page and f'id="run-{BAD_ID}"' not in page  # the damaged run is left out


@pytest.mark.parametrize("damaged", _damage(("json-null", "artifacts-string", "status-weird", "no-metrics")), indirect=True)
def test_damaged_run_pruned(cli, damaged, isolated):
    good = tree(run_dir())
    ok(cli("runs", "--prune", "--yes"))
    assert not damaged.exists()
    assert tree(run_dir()) == good


# ================================================================ 6. lifecycles


def _tmp_only(outputs: Path) -> Path:
    folder = outputs / "digits_lbfgs" / "20260101-000002-tmp000"
    folder.mkdir(parents=True)
    (folder / ".run.json.abc.tmp").write_text("{")
    return folder


def test_tmp_only_folder_pruned_when_old(cli, outputs):
    folder = _tmp_only(outputs)
    old = time.time() - 120
    os.utime(folder / ".run.json.abc.tmp", (old, old))
    os.utime(folder, (old, old))
    assert "damaged" in ok(cli("runs")).stdout
    ok(cli("runs", "--prune", "--yes"))
    assert not folder.exists()
    assert run_dir().exists()


def test_tmp_only_folder_kept_when_fresh(cli, outputs):
    folder = _tmp_only(outputs)
    ok(cli("runs", "--prune", "--yes"))
    assert folder.exists()


def test_stale_cache_tmp_removed(cli, isolated):
    stale = isolated / "cache" / f".mnist-tmp-{dead_pid()}-xyz"
    stale.mkdir(parents=True)
    (stale / "X.npy").write_bytes(b"partial")
    ok(cli("data", "list"))
    assert not stale.exists()


# ================================================================ 7. CLI edges


def test_prune_eof(cli, outputs, isolated):
    bad = run_dir(outputs, BAD_ID)
    shutil.copytree(run_dir(outputs), bad)
    edit_record(bad, id=BAD_ID, status="failed")
    before = tree(isolated / "outputs")
    result = cli("runs", "--prune", input="")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.count("Error: ") == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert "Error: " in last and "--yes" in last and "unexpected" not in last
    assert result.exit_code != 0
    assert tree(isolated / "outputs") == before


def test_train_debug_flag(cli, isolated):
    result = cli("train", "--debug")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_compare_same_run(cli, outputs):
    refused(cli("compare", RUN_ID, RUN_ID), 2)


def test_evaluate_empty_dataset(cli, outputs):
    refused(cli("evaluate", RUN_ID, "--dataset", ""), 2)


def test_report_with_perfect_run(cli, outputs):
    ok(cli("train", "-q", "-c", DIGITS, "--set", "name=perfect", "--set", "model.estimator=knn",
           "--set", "model.params={n_neighbors: 1}", "--set", "split.test_size=5", "--set", "output.plots=false"))
    run = next(Path("outputs/perfect").glob("*/metrics.json")).parent
    flat = json.loads((run / "metrics_flat.json").read_text())
    assert flat["n_errors"] == 0, flat
    ok(cli("report", "--out", "r.html"))
    assert Path("r.html").stat().st_size > 0


# ================================================================ 8. known conditions, never unexpected


def test_huge_max_iter(cli, isolated):
    refused(cli("train", "-q", "-c", DIGITS, "--set", "model.params.solver=sag",
                "--set", "model.params.max_iter=2147483648"), (1, 2))


X60, Y60 = tiny_images(60, side=28)


def _with_nan(x):
    x = x.astype(float)
    x[3, 4, 5] = np.nan
    return x


STRUCT = [("a", "u1"), ("b", "u1")]
NPZS = {
    "structured": lambda: npz_bytes(x_train=np.zeros((50, 28, 28), dtype=STRUCT), y_train=Y60[:50],
                                    x_test=np.zeros((10, 28, 28), dtype=STRUCT), y_test=Y60[50:]),
    "complex": lambda: npz_bytes(x_train=X60[:50].astype(complex), y_train=Y60[:50],
                                 x_test=X60[50:].astype(complex), y_test=Y60[50:]),
    "nan-pixels": lambda: npz_bytes(x_train=_with_nan(X60[:50]), y_train=Y60[:50],
                                    x_test=X60[50:].astype(float), y_test=Y60[50:]),
    "float-labels": lambda: npz_bytes(x_train=X60[:50], y_train=np.full(50, 1.5), x_test=X60[50:],
                                      y_test=np.full(10, 1.5)),
}


@pytest.mark.parametrize("kind", list(NPZS))
def test_hostile_npz(cli, isolated, kind):
    Path("d.npz").write_bytes(NPZS[kind]())
    Path("c.yaml").write_text("dataset: {name: npz, path: d.npz}\noutput: {plots: false}\n")
    before = sha(Path("d.npz"))
    refused(cli("train", "-q", "-c", "c.yaml"), (1, 2))
    assert sha(Path("d.npz")) == before


def test_idx_zero_test_images(cli, idx_folder, isolated):
    write_idx(idx_folder / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28)), gz=True)
    write_idx(idx_folder / "t10k-labels-idx1-ubyte", np.zeros(0), gz=True)
    Path("c.yaml").write_text(f"dataset: {{name: idx, path: {idx_folder}}}\nsplit: {{kind: predefined}}\n")
    refused(cli("train", "-q", "-c", "c.yaml"), (1, 2), "test")
