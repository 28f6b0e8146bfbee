"""Commands on saved runs: evaluate, plot-errors, plot-samples, runs (and --prune), compare, report.

Three runs are trained once per module (digits with lbfgs, digits with C=10, a 28x28 IDX set with
a few mislabelled test images) and copied into each test's own outputs/ folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_images, write_idx
from digitclf.saved import compare as compare_mod, evaluate as evaluate_mod, grids as grids_mod
from digitclf import listing, plots, runner
from digitclf.config import load_config
from digitclf.runs import RunDir, iter_runs, load_model, load_split, resolve_run

REPO = Path(__file__).resolve().parent.parent


def make_idx(folder: Path, seed: int, mislabel: int = 0) -> Path:
    """A 28x28 IDX folder (200 train, 50 test); the first ``mislabel`` test labels are shifted by one."""
    x_train, y_train = tiny_images(200, seed=seed)
    x_test, y_test = tiny_images(50, seed=seed + 1)
    y_test[:mislabel] = (y_test[:mislabel] + 1) % 10
    for name, array in (("train-images-idx3-ubyte", x_train), ("train-labels-idx1-ubyte", y_train),
                        ("t10k-images-idx3-ubyte", x_test), ("t10k-labels-idx1-ubyte", y_test)):
        write_idx(folder / name, array, gz=True)
    return folder


def train(outputs: Path, *overrides: str):
    cfg = load_config(REPO / "configs" / "digits_lbfgs.yaml", list(overrides))
    return runner.train(cfg, outputs=outputs)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    outputs = root / "outputs"
    idx_a = make_idx(root / "idx_a", seed=1, mislabel=8)
    idx_b = make_idx(root / "idx_b", seed=5)
    lbfgs = train(outputs)
    # train-time plots only for the first run: the commands under test draw their own (and it saves seconds)
    c10 = train(outputs, "name=digits_c10", "model.params.C=10", "output.plots=false")
    idx = train(outputs, "name=idx_run", "dataset.name=idx", f"dataset.path={idx_a}", "split.kind=predefined",
                "preprocess=[scale]", "output.plots=false")
    return SimpleNamespace(outputs=outputs, idx_a=idx_a, idx_b=idx_b,
                           lbfgs=lbfgs.run.id, c10=c10.run.id, idx=idx.run.id)


@pytest.fixture
def saved(template, isolated):
    """The module's runs copied into this test's outputs/ (evaluate writes into run folders)."""
    shutil.copytree(template.outputs, isolated / "outputs", symlinks=True)
    return template


def run_of(run_id: str) -> RunDir:
    return resolve_run(run_id, Path("outputs"))


def one_error_line(result) -> str:
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.rstrip("\n")


def png_size(path_or_bytes) -> tuple[int, int]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


# ---------------------------------------------------------------- evaluate


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # the seed's 100 iterations
def test_evaluate_reproduces_train_time_accuracy_exactly(saved):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    run = run_of(saved.lbfgs)
    result = evaluate_mod.evaluate(run)
    recorded = run.metrics().to_json()
    assert result["accuracy"] == recorded["accuracy"]
    assert result["matches_recorded"] is True and result["changed_predictions"] == 0
    # independently: the seed tutorial's own code
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target, test_size=0.25, random_state=0)
    expected = LogisticRegression(solver="lbfgs", random_state=0).fit(x_train, y_train).predict(x_test)
    assert result["accuracy"] == np.mean(expected == y_test)
    assert result["confusion_matrix"] == confusion_matrix(y_test, expected).tolist()
    assert json.loads(run.file("evaluation.json").read_text())["accuracy"] == result["accuracy"]
    run.verify("confusion_matrix.png")  # refreshed, and its new sha256 recorded
    assert png_size(run.file("confusion_matrix.png")) == (800, 800)  # 8 inches (10 classes) at 100 dpi
    training = evaluate_mod.evaluate(run, split="train", save=False)
    model = load_model(run)
    assert training["n_test"] == len(y_train) and training["accuracy"] == model.score(x_train, y_train)


def test_evaluate_mnist_format_run_reproduces_accuracy(saved):
    run = run_of(saved.idx)
    result = evaluate_mod.evaluate(run, save=False)
    assert result["accuracy"] == run.metrics().to_json()["accuracy"] == 1 - 8 / 50


def test_evaluate_cli_latest_by_id_and_json(saved, cli):
    latest = cli("evaluate")
    assert latest.exit_code == 0, latest.output
    assert "accuracy  0.8400  (95% CI" in latest.stdout and "same as train time (0.8400)" in latest.stdout
    assert latest.stderr.strip().startswith("wrote evaluation.json, confusion_matrix.png in ")
    others = [r.id for r in iter_runs(Path("outputs")) if r.id != saved.c10]
    prefix = next(saved.c10[:k] for k in range(16, len(saved.c10)) if not any(o.startswith(saved.c10[:k]) for o in others))
    by_prefix = cli("evaluate", prefix, "--json", "--style", "matplotlib", "--normalize", "true")
    assert by_prefix.exit_code == 0, by_prefix.output
    data = json.loads(by_prefix.stdout)
    assert data["run_id"] == saved.c10 and data["matches_recorded"] is True
    by_folder = cli("evaluate", str(run_of(saved.lbfgs).path), "--json")
    assert json.loads(by_folder.stdout)["run_id"] == saved.lbfgs


def test_evaluate_on_another_idx_folder(saved, cli):
    from digitclf.datasets import read_idx_folder

    result = cli("evaluate", saved.idx, "--dataset", str(saved.idx_b), "--split", "all", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    parts = read_idx_folder(saved.idx_b)
    X = np.concatenate([parts["x_train"], parts["x_test"]]).reshape(250, -1)
    y = np.concatenate([parts["y_train"], parts["y_test"]])
    expected = load_model(run_of(saved.idx)).predict(X)
    assert data["n_test"] == 250 and data["accuracy"] == np.mean(expected == y)
    assert data["dataset"]["same_as_training"] is False and "matches_recorded" not in data
    assert data["files"] == ["evaluation-idx-all.json", "confusion_matrix-idx-all.png"]
    assert run_of(saved.idx).file("evaluation-idx-all.json").is_file()
    test_part = json.loads(cli("evaluate", saved.idx, "--dataset", str(saved.idx_b), "--json").stdout)
    assert test_part["n_test"] == 50  # the set's canonical test part


def test_evaluate_refuses_a_shape_mismatch(saved, cli):
    result = cli("evaluate", saved.idx, "--dataset", "digits")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: --dataset digits: its images are 8x8 but run {saved.idx} was trained "
                                      "on 28x28 images; pick a data set with the same image size")


def test_evaluate_refuses_changed_data(saved, cli):
    run = run_of(saved.lbfgs)
    record = json.loads(run.file("run.json").read_text())
    record["dataset"]["fingerprint"] = "sha256:0000000000000000"
    run.file("run.json").write_text(json.dumps(record))
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 2
    assert one_error_line(result).startswith(
        "Error: data set 'digits' (sklearn.datasets.load_digits) has fingerprint sha256:")
    assert "the saved test split does not apply to it" in result.stderr


def test_evaluate_refuses_an_altered_model(saved, cli):
    run = run_of(saved.lbfgs)
    with open(run.file("model.joblib"), "ab") as fh:
        fh.write(b"\0")
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"Error: {run.path}/model.joblib does not match the sha256 recorded when it was saved; refusing to load "
        "an altered file (a model file can run code). Re-train or restore the original.")


def test_evaluate_notes_a_scikit_learn_version_change(saved, cli):
    run = run_of(saved.lbfgs)
    record = json.loads(run.file("run.json").read_text())
    record["versions"]["scikit-learn"] = "0.0.1"
    run.file("run.json").write_text(json.dumps(record))
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 0, result.output
    assert f"note: run {saved.lbfgs} was saved with scikit-learn 0.0.1" in result.stderr


# ---------------------------------------------------------------- failures shared by every command


def _make_unfinished(status: str) -> RunDir:
    """A copy of a complete run marked with another status (a dead pid for 'running')."""
    source = iter_runs(Path("outputs"))[0]
    target = RunDir(source.path.parent / f"{source.id}-{status}")
    shutil.copytree(source.path, target.path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    target.update(id=target.id, status=status, pid=int(dead.stdout), host=socket.gethostname())
    return target


COMMANDS = [("evaluate",), ("plot-errors",), ("predict", "digit.png"), ("report",), ("compare", "x")]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_empty_outputs_folder_is_one_error_line(command, cli, tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "digit.png")
    args = (command[0], "nosuch", "other") if command[0] == "compare" else command
    result = cli(*args)
    assert result.exit_code == 2
    expected = ("Error: no run matches 'nosuch' in outputs/; outputs/ has no runs yet" if command[0] == "compare" else
                "Error: no complete run in outputs/; train one first: digitclf train --config configs/digits_lbfgs.yaml")
    assert one_error_line(result) == expected
    runs = cli("runs")
    assert runs.exit_code == 2 and one_error_line(runs) == (
        "Error: no runs in outputs/; train one first: digitclf train --config configs/digits_lbfgs.yaml")


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_unknown_and_unfinished_runs_are_one_error_line(command, saved, cli, tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "digit.png")
    newest = iter_runs(Path("outputs"))[-1].id
    extra = ("other",) if command[0] == "compare" else command[1:]
    unknown = cli(command[0], "nosuch", *extra)
    assert unknown.exit_code == 2
    assert one_error_line(unknown) == f"Error: no run matches 'nosuch' in outputs/; see 'digitclf runs' (newest: {newest})"
    for status in ("failed", "abandoned"):
        run = _make_unfinished("failed" if status == "failed" else "running")
        result = cli(command[0], run.id, *(extra if command[0] != "compare" else (saved.lbfgs,)))
        assert result.exit_code == 2
        assert one_error_line(result) == (f"Error: run {run.id} is {status}, not complete; it has no usable results "
                                          "(train it again, or prune it with 'digitclf runs --prune')")
        shutil.rmtree(run.path)


# ---------------------------------------------------------------- plots


def test_plot_errors_grid_for_8x8_and_28x28(saved, cli):
    result = cli("plot-errors", saved.lbfgs, "--n", "7", "--cols", "4", "--out", "digits_errors.png")
    assert result.exit_code == 0, result.output
    assert result.stdout == "digits_errors.png\n"
    assert png_size(Path("digits_errors.png")) == (1040, 525)  # 4 x 2 cells of 2.6 x 2.55 in + 0.15 in, 100 dpi
    default = cli("plot-errors", saved.idx, "--sort", "confidence")
    assert default.exit_code == 0, default.output
    assert png_size(Path(f"misclassified-{saved.idx}.png")) == (1300, 525)  # the 8 mistakes, 5 per row


@pytest.mark.parametrize("args", [("plot-errors", "--out", "nodir/x.png"), ("report", "--out", "nodir/x.png")])
def test_missing_output_folder_is_one_error_line(saved, cli, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert one_error_line(result) == "Error: cannot write nodir/x.png: the folder nodir does not exist; create it first"


def test_errors_sorted_by_confidence_and_titled_like_the_seed(saved):
    run = run_of(saved.lbfgs)
    split = load_split(run)
    chosen = grids_mod.select_errors(split, n=5, sort="confidence")
    wrong = np.flatnonzero(split.y_test != split.y_pred)
    confidence = split.proba[wrong].max(axis=1)
    assert np.allclose(chosen.confidence, np.sort(confidence)[::-1][:5])
    assert np.array_equal(chosen.y_true, split.y_test[wrong[np.argsort(-confidence, kind="stable")[:5]]])
    in_order = grids_mod.select_errors(split, n=3, sort="index")
    assert np.array_equal(in_order.test_position, wrong[:3])
    ax = grids_mod.error_grid(run, n=3, sort="index")
    titles = [text.get_text() for text in ax.texts]
    assert titles[0] == (f"Predicted: {split.y_pred[wrong[0]]}, Actual: {split.y_test[wrong[0]]}\n"
                         f"p={split.proba[wrong[0]].max():.2f}")
    assert [image.get_array().shape for image in ax.images] == [(8, 8)] * 3


def test_plot_samples_digits_and_idx(saved, cli):
    result = cli("plot-samples", "--dataset", "digits", "--out", "samples.png")
    assert result.exit_code == 0, result.output
    assert png_size(Path("samples.png")) == (1300, 270)  # one row of 5
    titles = [text.get_text() for text in grids_mod.sample_grid("digits", n=3).texts]
    assert titles == ["Training: 0", "Training: 1", "Training: 2"]
    idx = cli("plot-samples", "--dataset", str(saved.idx_b), "--n", "10")
    assert idx.exit_code == 0 and idx.stdout == "samples-idx_b.png\n"
    assert png_size(Path("samples-idx_b.png")) == (1300, 525)
    unknown = cli("plot-samples", "--dataset", "digitz")
    assert unknown.exit_code == 2 and one_error_line(unknown).startswith(
        "Error: --dataset: 'digitz' is neither a known data set (did you mean 'digits'?)")


def test_normalized_confusion_matrix_annotations():
    cm = np.array([[3, 1], [2, 6]])
    ax = plots.confusion_matrix(cm, [0, 1], normalize="true")
    assert [t.get_text() for t in ax.texts] == ["0.75", "0.25", "0.25", "0.75"]
    ax = plots.confusion_matrix(cm, [0, 1], normalize="pred", style="matplotlib")
    assert [t.get_text() for t in ax.texts] == ["0.60", "0.14", "0.40", "0.86"]


# ---------------------------------------------------------------- compare


def test_compare_flags_exactly_the_changed_keys(saved):
    result = compare_mod.compare([run_of(saved.lbfgs), run_of(saved.c10)], only_changed=True)
    changed_config = [key.split(":", 1)[1] for key in result["changed"] if key.startswith("config:")]
    assert sorted(changed_config) == ["model.params.C", "name", "output.plots"]  # what the fixture changed
    assert result["sections"]["config"] == {"name": ["digits_lbfgs", "digits_c10"], "output.plots": [True, False],
                                            "model.params.C": [None, 10]}
    assert result["sections"]["data"] == {}
    full = compare_mod.compare([run_of(saved.lbfgs), run_of(saved.c10)])
    assert full["sections"]["config"]["seed"] == [0, 0] and full["changed"] == result["changed"]


def test_mcnemar_p_value_matches_an_independent_computation(saved):
    from scipy.stats import binom

    a, b = load_split(run_of(saved.lbfgs)), load_split(run_of(saved.c10))
    assert np.array_equal(a.y_test, b.y_test)
    right_a, right_b = a.y_pred == a.y_test, b.y_pred == b.y_test
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    expected = min(1.0, 2 * binom.cdf(min(only_a, only_b), only_a + only_b, 0.5))
    test = compare_mod.compare([run_of(saved.lbfgs), run_of(saved.c10)])["tests"][0]
    assert (test["a_only_correct"], test["b_only_correct"]) == (only_a, only_b)
    assert test["p_value"] == pytest.approx(expected, rel=1e-12)
    # a case where the answer is known by hand: 0 vs 6 discordant images -> p = 2 / 2**6
    y = np.zeros(10, int)
    assert compare_mod.mcnemar(y, y, np.r_[np.ones(6, int), np.zeros(4, int)])["p_value"] == pytest.approx(2 / 64)


def test_compare_cli(saved, cli):
    result = cli("compare", saved.lbfgs, saved.c10, saved.idx, "--only-changed")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [f"A = digits_lbfgs/{saved.lbfgs}", f"B = digits_c10/{saved.c10}", f"C = idx_run/{saved.idx}"]
    assert any(line.startswith("* model.params.C ") for line in lines)
    assert "  A vs C: not tested (different data or test split: a paired test needs the same test images)" in lines
    assert any(line.startswith("  A vs B: ") and ", p = " in line for line in lines)
    data = json.loads(cli("compare", saved.lbfgs, saved.c10, "--json").stdout)
    assert data["tests"][0]["method"].startswith("McNemar exact test")
    one = cli("compare", saved.lbfgs)
    assert one.exit_code == 2 and one_error_line(one) == (
        "Error: compare needs at least two runs, e.g. digitclf compare RUN_A RUN_B")


# ---------------------------------------------------------------- runs


def test_runs_rows_match_what_each_run_saved(saved, cli):
    result = cli("runs", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {saved.lbfgs, saved.c10, saved.idx}
    for run_id, row in rows.items():
        metrics = run_of(run_id).metrics().to_json()
        assert (row["accuracy"], row["fit_seconds"], row["converged"]) == (
            metrics["accuracy"], metrics["fit_seconds"], metrics["converged"])
        assert row["status"] == "complete" and row["model"] == f"LogisticRegression({metrics['solver']})"
    assert rows[saved.idx]["dataset"] == "idx"
    table = cli("runs").stdout.splitlines()
    assert table[0].split() == ["id", "name", "dataset", "model", "accuracy", "fit", "seconds", "converged", "status",
                                "date"]
    assert len(table) == 4
    parsed = list(csv.DictReader(io.StringIO(cli("runs", "--format", "csv").stdout)))
    assert {r["id"] for r in parsed} == set(rows)
    md = cli("runs", "--format", "md").stdout.splitlines()
    assert md[1].startswith("|---|") and len(md) == 5


def test_runs_filter_and_sort(saved, cli):
    by_accuracy = json.loads(cli("runs", "--sort", "accuracy", "--reverse", "--format", "json").stdout)
    accuracies = [r["accuracy"] for r in by_accuracy]
    assert accuracies == sorted(accuracies, reverse=True)
    glob = json.loads(cli("runs", "--name", "digits_*", "--format", "json").stdout)
    assert {r["name"] for r in glob} == {"digits_lbfgs", "digits_c10"}
    run_of(saved.c10).update(sweep={"id": "sw-1234", "point": {}, "index": 1})
    swept = json.loads(cli("runs", "--sweep", "sw-12", "--format", "json").stdout)
    assert [r["id"] for r in swept] == [saved.c10]
    _make_unfinished("failed")
    failed = json.loads(cli("runs", "--status", "failed", "--format", "json").stdout)
    assert [r["status"] for r in failed] == ["failed"]
    none = cli("runs", "--status", "interrupted")
    assert none.exit_code == 0 and none.stdout == "" and "no runs match" in none.stderr
    bad = cli("runs", "--sort", "speed")
    assert bad.exit_code == 2 and one_error_line(bad).startswith("Error: --sort: 'speed' is not a column")


def test_prune_deletes_only_dead_runs(saved, cli):
    dead = {status: _make_unfinished(status) for status in ("failed", "interrupted", "running")}
    alive = _make_unfinished("complete")
    alive.update(status="running", pid=os.getpid())  # this process: still running
    declined = cli("runs", "--prune", input="n\n")
    assert declined.exit_code == 0 and all(run.path.exists() for run in dead.values())
    result = cli("runs", "--prune", "--yes")
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == sorted(f"deleted {run.path.resolve()}" for run in dead.values())
    assert not any(run.path.exists() for run in dead.values())
    assert alive.path.exists() and {r.id for r in iter_runs(Path("outputs"))} == {saved.lbfgs, saved.c10, saved.idx,
                                                                                  alive.id}
    again = cli("runs", "--prune", "--yes")
    assert again.exit_code == 0 and again.stdout == "" and "nothing to prune" in again.stderr


# ---------------------------------------------------------------- report


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: set[str] = set()
        self.rows = 0

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.rows += tag == "tr"
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_report_is_self_contained_and_embeds_every_image(saved, cli):
    import base64

    result = cli("report", "--out", "report.html")
    assert result.exit_code == 0, result.output
    assert result.stdout == "report.html\n"
    text = Path("report.html").read_text()
    parser = _Images()
    parser.feed(text)
    assert "script" not in parser.tags and "<script" not in text.lower()
    assert parser.rows == 1 + 3  # header + one row per run
    assert len(parser.sources) == 1 + 2 * 3  # the scatter, then a confusion matrix and a mistakes grid per run
    for source in parser.sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        width, height = png_size(base64.b64decode(source[len(prefix):], validate=True))
        assert width > 100 and height > 100
    for run_id in (saved.lbfgs, saved.c10, saved.idx):
        assert f'id="run-{run_id}"' in text and f'href="#run-{run_id}"' in text
    chosen = cli("report", saved.lbfgs, "--out", "one.html")
    assert chosen.exit_code == 0
    parser = _Images()
    parser.feed(Path("one.html").read_text())
    assert len(parser.sources) == 3


def test_accuracy_vs_time_points():
    points = [{"label": "a", "fit_seconds": 0.05, "accuracy": 0.95, "accuracy_ci95": [0.93, 0.97]},
              {"label": "b", "fit_seconds": 30.0, "accuracy": 0.91}]
    ax = plots.accuracy_vs_time(points)
    assert ax.get_xscale() == "log"  # 600x apart
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    assert png_size(plots.png_bytes(ax)) == (700, 450)


def test_cli_choices_come_from_the_library(cli):
    from digitclf import choices

    offered = {("evaluate", "--style"): choices.STYLES, ("report", "--style"): choices.STYLES,
               ("evaluate", "--normalize"): choices.NORMALIZE, ("report", "--normalize"): choices.NORMALIZE,
               ("evaluate", "--split"): choices.SPLITS, ("plot-errors", "--sort"): choices.ERROR_ORDERS,
               ("runs", "--format"): choices.FORMATS}
    assert plots.STYLES == choices.STYLES and plots.NORMALIZE == choices.NORMALIZE
    for (command, option), allowed in offered.items():
        result = cli(command, option, "nonsense")
        assert result.exit_code == 2
        listed = ", ".join(f"'{value}'" for value in allowed)
        assert f"'nonsense' is not one of {listed}" in one_error_line(result), (command, option)
