"""Hostile and careless inputs to the commands that read saved runs (predict, evaluate, plot-errors, compare,
report): each case broke the contract once (a wrong answer, a silent overwrite, a misleading Error line).

Every check is on the exact Error line and exit code, or on decoded files."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from helpers import one_error_line


def _digit_picture(size: int = 200, ink: int = 0, paper: int = 255) -> np.ndarray:
    """A thick '7' drawn on paper, as a uint8-range float array (independent of digitclf)."""
    image = Image.new("L", (size, size), paper)
    draw = ImageDraw.Draw(image)
    s = size / 200
    draw.line([(50 * s, 40 * s), (150 * s, 40 * s), (90 * s, 170 * s)], fill=ink, width=round(18 * s))
    return np.asarray(image, dtype=np.float64)


def run_path(saved, run_id: str) -> Path:
    return next(Path("outputs").glob(f"*/{run_id}"))


# ---------------------------------------------------------------- predict: image files


def test_16_bit_png_keeps_its_gray_levels(tmp_path):
    """A 16-bit grayscale scan (ink 20000, paper 60000 of 65535) was clipped at 255 by Pillow's
    convert('L'): every pixel white, 'no digit found'. It is read at its depth, scaled to 0-255."""
    from digitclf.images import read_gray

    picture = _digit_picture()
    deep = (picture / 255 * 40000 + 20000).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "scan16.png")
    assert Image.open(tmp_path / "scan16.png").mode == "I;16"
    np.testing.assert_allclose(read_gray(tmp_path / "scan16.png"), deep / 257, atol=1e-9)


def test_predict_reads_a_16_bit_png(cli, saved, tmp_path):
    picture = _digit_picture()
    Image.fromarray((picture / 255 * 40000 + 20000).astype(np.uint16)).save("scan16.png")
    Image.fromarray(picture.astype(np.uint8)).save("scan8.png")
    r16 = cli("predict", saved.lbfgs, "scan16.png", "--json")
    r8 = cli("predict", saved.lbfgs, "scan8.png", "--json")
    assert r16.exit_code == 0, r16.stderr
    # the same picture at two depths: the same digit found, the same answer
    p16, p8 = json.loads(r16.stdout)["predictions"][0], json.loads(r8.stdout)["predictions"][0]
    assert p16["box"] == p8["box"] and p16["label"] == p8["label"]


@pytest.mark.parametrize("fmt,name", [("GIF", "anim.gif"), ("PNG", "anim.png")])
def test_animation_refused(cli, saved, fmt, name):
    """An animated GIF or PNG was answered from its first frame without a word: which frame holds the digit?"""
    frames = [Image.fromarray(_digit_picture(ink=v).astype(np.uint8)) for v in (0, 60, 120)]
    frames[0].save(name, format=fmt, save_all=True, append_images=frames[1:])
    result = cli("predict", saved.lbfgs, name)
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: {name} is an animation of 3 frames; save the frame with the digit "
                                      "as a PNG or JPEG file")


def test_single_frame_gif_still_read(cli, saved):
    Image.fromarray(_digit_picture().astype(np.uint8)).save("one.gif")
    result = cli("predict", saved.lbfgs, "one.gif", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["predictions"][0]["label"] in range(10)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims width x height pixels (a decompression bomb's header; the pixels never come)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_named_as_too_large(cli, saved):
    """A 20000x20000 PNG was 'cannot read bomb.png as an image (...); give a PNG or JPEG file' - it is one."""
    _png_header_only(Path("bomb.png"), 20000, 20000)
    result = cli("predict", saved.lbfgs, "bomb.png")
    assert result.exit_code == 2
    bound = 2 * Image.MAX_IMAGE_PIXELS
    assert one_error_line(result) == (f"Error: bomb.png has more than {bound:,} pixels (Pillow's bound against "
                                      "decompression bombs), more than digitclf reads (50,000,000); scale it down "
                                      "or crop it to the digit")


# ---------------------------------------------------------------- saved runs: damaged, swapped, running


def test_swapped_metrics_json_refused(cli, saved):
    """metrics.json copied from another run was shown as this run's by compare and report, and evaluate said
    the accuracy was DIFFERENT from train time; its sha256 is in run.json, so it is refused by name."""
    run, other = run_path(saved, saved.lbfgs), run_path(saved, saved.c10)
    shutil.copy(other / "metrics.json", run / "metrics.json")
    expected = (f"Error: {run}/metrics.json does not match the sha256 recorded when it was saved; refusing to "
                "load an altered file (a model file can run code). Re-train or restore the original.")
    for args in (("evaluate", saved.lbfgs), ("compare", saved.lbfgs, saved.c10),
                 ("report", saved.lbfgs, "--out", "r.html")):
        result = cli(*args)
        assert (result.exit_code, one_error_line(result)) == (2, expected), args
    assert not Path("r.html").exists()
    listed = json.loads(cli("runs", "--format", "json").stdout)
    assert {row["id"]: row["status"] for row in listed}[saved.lbfgs] == "damaged"


def test_truncated_metrics_json_refused_by_evaluate(cli, saved):
    """evaluate went on without its record (exit 0, no comparison with train time) on a truncated metrics.json."""
    run = run_path(saved, saved.lbfgs)
    before = (run / "evaluation.json").exists()
    (run / "metrics.json").write_bytes((run / "metrics.json").read_bytes()[:100])
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 2
    assert one_error_line(result).startswith(f"Error: {run}/metrics.json does not match the sha256 recorded")
    assert (run / "evaluation.json").exists() == before


@pytest.mark.parametrize("command", [("evaluate",), ("plot-errors", "--out", "e.png"), ("predict", "x.png"),
                                     ("report", "--out", "r.html")])
def test_running_run_says_wait(cli, saved, command):
    """A run still training was 'running, not complete; ... prune it with digitclf runs --prune' (exit 2):
    pruning does not remove a running run. Now: wait for it (exit 1, as train --run-id says)."""
    run = run_path(saved, saved.c10)
    record = json.loads((run / "run.json").read_text())
    record.update(status="running", pid=os.getpid(), host=socket.gethostname(), finished=None)
    (run / "run.json").write_text(json.dumps(record))
    Image.fromarray(_digit_picture().astype(np.uint8)).save("x.png")
    name, *rest = command
    result = cli(name, saved.c10, *rest)
    assert result.exit_code == 1
    assert one_error_line(result) == (f"Error: run digits_c10/{saved.c10} is still running (pid {os.getpid()}); "
                                      "it has no results yet: wait for it to end, then run this again")


# ---------------------------------------------------------------- output files


def test_plot_errors_never_overwrites_a_users_png(cli, saved):
    """--out onto a photo of the user's (any PNG passed) replaced it with the grid, without a word."""
    Image.fromarray(_digit_picture().astype(np.uint8)).save("holiday.png")
    before = Path("holiday.png").read_bytes()
    result = cli("plot-errors", saved.lbfgs, "--out", "holiday.png")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: holiday.png exists and is not a PNG digitclf wrote; choose another "
                                      "--out or move it away")
    assert Path("holiday.png").read_bytes() == before
    # its own grid, drawn earlier, is still replaced
    assert cli("plot-errors", saved.lbfgs, "--out", "grid.png").exit_code == 0
    first = Path("grid.png").read_bytes()
    assert cli("plot-errors", saved.lbfgs, "--out", "grid.png", "--n", "3").exit_code == 0
    assert Path("grid.png").read_bytes() != first


def test_dash_file_name_error_says_how_to_name_it(cli, saved):
    """'predict -7.png' was 'No such option: -7' and nothing more; the file is named, and how to pass it."""
    Image.fromarray(_digit_picture().astype(np.uint8)).save("-7.png")
    result = cli("predict", saved.lbfgs, "-7.png", prog_name="digitclf")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: No such option: -7 (see 'digitclf predict --help'); '-7.png' is a "
                                      "file: put file names that start with '-' after '--', or write ./-7.png")
    for way in (("--", "-7.png"), ("./-7.png",)):
        answered = cli("predict", "--json", saved.lbfgs, *way)
        assert answered.exit_code == 0, answered.stderr
        assert json.loads(answered.stdout)["predictions"][0]["file"].endswith("-7.png")


# ---------------------------------------------------------------- predict --explain


def test_explain_never_overwrites_a_users_file(cli, saved):
    """--explain seen/ replaced seen/<image>.explain.png whatever it was; now only a picture digitclf drew."""
    Image.fromarray(_digit_picture().astype(np.uint8)).save("seven.png")
    Path("seen").mkdir()
    Path("seen/seven.explain.png").write_bytes(b"my notes")
    result = cli("predict", saved.lbfgs, "seven.png", "--explain", "seen")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: --explain: seen/seven.explain.png is another file, not a picture "
                                      "digitclf drew; move it away or give another --explain folder")
    assert Path("seen/seven.explain.png").read_bytes() == b"my notes"
    Path("seen/seven.explain.png").unlink()
    for _ in range(2):  # its own picture is replaced by the next run
        assert cli("predict", saved.lbfgs, "seven.png", "--explain", "seen").exit_code == 0
        with Image.open("seen/seven.explain.png") as picture:
            assert picture.format == "PNG" and picture.info["Software"] == "digitclf"


def test_explain_not_into_a_run_folder(cli, saved):
    """--explain inside a run folder added files beside what train saved (checked by sha256)."""
    Image.fromarray(_digit_picture().astype(np.uint8)).save("seven.png")
    run = run_path(saved, saved.lbfgs)
    before = sorted(p.name for p in run.iterdir())
    result = cli("predict", saved.lbfgs, "seven.png", "--explain", str(run / "seen"))
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: --explain {str(run / 'seen')!r} is inside the run folder "
                                      f"{run.resolve()}, which holds only what the run saved; give a folder "
                                      "somewhere else")
    assert sorted(p.name for p in run.iterdir()) == before


# ---------------------------------------------------------------- run.json that does not fit its own model


def _edit_dataset(run: Path, **changes) -> None:
    record = json.loads((run / "run.json").read_text())
    record["dataset"].update(changes)
    (run / "run.json").write_text(json.dumps(record))


@pytest.mark.parametrize("changes,why", [
    ({"image_shape": [28, 28]}, "dataset.image_shape 28x28 and pixel_max 16 do not describe images of 64 pixels"),
    ({"image_shape": [100000, 100000]},
     "dataset.image_shape 100000x100000 and pixel_max 16 do not describe images of 64 pixels"),
    ({"pixel_max": 0}, "dataset.image_shape 8x8 and pixel_max 0 do not describe images of 64 pixels"),
    ({"image_shape": [28, 28], "n_features": 784}, "its images are 28x28 but the model takes 64 pixels"),
], ids=["shape", "huge-shape", "pixel-max", "shape-and-features"])
def test_predict_refuses_a_record_that_does_not_fit_the_model(cli, saved, changes, why):
    """run.json's image shape is not signed: edited, predict crashed with 'unexpected ValueError: X has 784
    features' (or built 10^10-pixel frames, or fed all-zero pixels for pixel_max 0)."""
    Image.fromarray(_digit_picture().astype(np.uint8)).save("seven.png")
    run = run_path(saved, saved.lbfgs)
    _edit_dataset(run, **changes)
    result = cli("predict", saved.lbfgs, "seven.png")
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: {run}/run.json: {why}; the run is damaged, train it again"


def test_evaluate_refuses_a_pixel_range_of_zero(cli, saved):
    """pixel_max 0 made evaluate scale every test image to zeros and report that accuracy (exit 0)."""
    run = run_path(saved, saved.lbfgs)
    _edit_dataset(run, pixel_max=0)
    result = cli("evaluate", saved.lbfgs)
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: {run}/run.json: dataset.pixel_max is 0, not a pixel range; the run "
                                      "is damaged, train it again")
    assert not (run / "evaluation.json").exists()


# ---------------------------------------------------------------- evaluate --dataset


def _keras_npz(path: Path, offset: int = 0) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.images.astype(np.uint8), digits.target + offset
    np.savez(path, x_train=X[:1000], y_train=y[:1000], x_test=X[1000:], y_test=y[1000:])


def test_two_npz_sets_keep_their_own_evaluations(cli, saved):
    """Every .npz set is named 'npz': evaluating b.npz replaced a.npz's evaluation-npz-test.json and its plot."""
    from digitclf.datasets import dataset_config, load_dataset

    _keras_npz(Path("a.npz"))
    _keras_npz(Path("b.npz"), offset=10)
    results = [json.loads(cli("evaluate", saved.lbfgs, "--dataset", name, "--json").stdout) for name in ("a.npz", "b.npz")]
    run = run_path(saved, saved.lbfgs)
    for name, result in zip(("a.npz", "b.npz"), results):
        fingerprint = load_dataset(dataset_config(name)).fingerprint.removeprefix("sha256:")
        assert result["files"] == [f"evaluation-npz-{fingerprint[:8]}-test.json",
                                   f"confusion_matrix-npz-{fingerprint[:8]}-test.png"]
        assert json.loads((run / result["files"][0]).read_text())["accuracy"] == result["accuracy"]
    assert results[0]["files"] != results[1]["files"]


def test_labels_the_model_never_saw_are_noted(cli, saved):
    """A set whose classes are coded 10-19 scored 0.0000 without a word on why."""
    _keras_npz(Path("b.npz"), offset=10)
    result = cli("evaluate", saved.lbfgs, "--dataset", "b.npz", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    note = ("10 label(s) of the data set (10, 11, 12, 13, 14, ...) are not classes of this model, so it gets none "
            "of their images right")
    assert data["accuracy"] == 0.0 and note in data["notes"] and f"note: {note}" in result.stderr.splitlines()


# ---------------------------------------------------------------- the Python API behind the commands


def test_library_calls_check_their_options(saved):
    """The CLI checks its options; the same functions called from Python took anything: top=0 was an
    IndexError, a path as a str was read letter by letter, n=0 drew 'No misclassified images' for a run with
    mistakes, a misspelt normalize was drawn as 'normalized over bogus'."""
    from digitclf import report
    from digitclf.errors import ConfigError
    from digitclf.runs import resolve_run
    from digitclf.saved.evaluate import evaluate
    from digitclf.saved.grids import error_grid
    from digitclf.saved.predict import predict_images

    run = resolve_run(saved.lbfgs)
    Image.fromarray(_digit_picture().astype(np.uint8)).save("seven.png")
    assert predict_images(run, "seven.png")["predictions"][0]["file"] == "seven.png"
    cases = [
        (lambda: predict_images(run, ["seven.png"], top=0), "top: 0; give how many classes to rank, at least 1"),
        (lambda: predict_images(run, ["seven.png"], min_confidence=2),
         "--min-confidence: 2 is not a probability; give a number from 0 to 1"),
        (lambda: error_grid(run, n=0), "--n: 0 images; give a whole number of at least 1"),
        (lambda: error_grid(run, cols=0), "--cols: 0 images per row; give a whole number of at least 1"),
        (lambda: evaluate(run, normalize="bogus"), "--normalize: 'bogus' is not one of true, pred, all"),
        (lambda: evaluate(run, style="bogus"), "--style: 'bogus' is not one of seaborn, matplotlib"),
        (lambda: report.build([run], errors=-1), "--errors: -1; give how many mistakes to show per run, 0 or more"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError) as raised:
            call()
        assert str(raised.value) == message
    assert not (run_path(saved, saved.lbfgs) / "evaluation.json").exists()


def test_report_errors_zero_draws_no_grid(cli, saved):
    """--errors 0 drew a grid titled 'No misclassified images' for a run with mistakes; now no grid at all."""
    result = cli("report", saved.lbfgs, "--errors", "0", "--out", "r.html")
    assert result.exit_code == 0, result.stderr
    page = Path("r.html").read_text()
    assert "Misclassified test images" not in page and page.count("<figure>") == 2  # scatter and confusion matrix
    assert cli("report", saved.lbfgs, "--errors", "3", "--out", "r.html").exit_code == 0
    assert "Misclassified test images (up to 3" in Path("r.html").read_text()


def test_corrupt_exif_is_a_note_not_a_python_warning(cli, saved):
    """A JPEG whose EXIF block is damaged printed Pillow's two-line 'TiffImagePlugin.py:982: UserWarning: Corrupt
    EXIF data...' on stderr; it is one note naming the file (and still answered)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_digit_picture().astype(np.uint8)).convert("RGB").save("photo.jpg", exif=exif)
    data = Path("photo.jpg").read_bytes()
    at = data.find(b"Exif")
    Path("photo.jpg").write_bytes(data[:at + 10] + b"\xff" * 20 + data[at + 30:])
    result = cli("predict", saved.lbfgs, "photo.jpg", "--json")
    assert result.exit_code == 0, result.stderr
    notes = json.loads(result.stdout)["notes"]
    assert [n for n in notes if n.startswith("photo.jpg: Corrupt EXIF data")] == notes[:1]
    assert "Warning" not in result.stderr and f"note: {notes[0]}" in result.stderr.splitlines()


# ---------------------------------------------------------------- a model file that is not the run's model


def _replace_model(run: Path, content: bytes) -> None:
    import hashlib

    (run / "model.joblib").write_bytes(content)
    record = json.loads((run / "run.json").read_text())
    record["artifacts"]["model.joblib"] = hashlib.sha256(content).hexdigest()  # as whoever damaged it would
    (run / "run.json").write_text(json.dumps(record))


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_trusted_model_that_does_not_load(cli, saved, command):
    """With --trust, a truncated pickle was 'unexpected UnpicklingError: pickle exhausted before end of frame
    (rerun with --debug ...)' and a pickled dict 'unexpected AttributeError: 'dict' object has no attribute ...'."""
    import io

    import joblib

    run = run_path(saved, saved.lbfgs)
    Image.fromarray(_digit_picture().astype(np.uint8)).save("seven.png")
    args = (command, saved.lbfgs, *(["seven.png"] if command == "predict" else []), "--trust")
    _replace_model(run, (run / "model.joblib").read_bytes()[:500])
    result = cli(*args)
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: {run}/model.joblib cannot be loaded (UnpicklingError: pickle "
                                      "exhausted before end of frame); the run is damaged, train it again")
    buffer = io.BytesIO()
    joblib.dump({"a": 1}, buffer)
    _replace_model(run, buffer.getvalue())
    result = cli(*args)
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: {run}/model.joblib holds a dict, not a fitted classifier; the run is "
                                      "damaged, train it again")


def test_trusted_model_of_another_shape(cli, saved):
    """A 28x28 run's model put into an 8x8 run: 'unexpected ValueError: X has 64 features, but ... expecting 784'."""
    run, other = run_path(saved, saved.lbfgs), run_path(saved, saved.idx)
    _replace_model(run, (other / "model.joblib").read_bytes())
    result = cli("evaluate", saved.lbfgs, "--trust")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: {run}: its model takes 784 pixels but its images have 64; the run is "
                                      "damaged, train it again")


def test_a_pattern_that_matched_nothing(cli, saved):
    """'predict photos/*.png' with no such file reached digitclf as the literal pattern: 'image
    'photos/*.png' does not exist', as if a file had that name."""
    Path("photos").mkdir()
    result = cli("predict", saved.lbfgs, "photos/*.png")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: no file matches 'photos/*.png'; check the pattern, or give PNG/JPEG "
                                      "files or a folder of them")


def test_read_only_folder_names_the_file_asked_for(cli, saved, monkeypatch):
    """Writing into a read-only folder (simulated: tests run as root) named digitclf's temp file
    ('.x.png.4ued3nv2.tmp'), not the --out the user gave."""
    import errno
    import tempfile

    def read_only(prefix="", suffix="", dir=None):
        raise OSError(errno.EROFS, "Read-only file system", os.path.join(dir, f"{prefix}4ued3nv2{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    Path("ro").mkdir()
    for args, out in ((("plot-errors", saved.lbfgs, "--out", "ro/x.png"), "ro/x.png"),
                      (("report", saved.lbfgs, "--out", "ro/x.html"), "ro/x.html")):
        result = cli(*args)
        assert result.exit_code == 1
        assert one_error_line(result) == (f"Error: Read-only file system ({out}); check the path, permissions and "
                                          "free disk space")
    assert list(Path("ro").iterdir()) == []


# ---------------------------------------------------------------- concurrent evaluate of one run


def _record_files(path: str, k: int, count: int) -> None:
    from digitclf.runs import RunDir

    run = RunDir(Path(path))
    for i in range(count):
        run.replace_artifact(f"confusion_matrix-set{k}-{i}.png", f"{k}-{i}".encode() * 100)
        run.replace_artifact("confusion_matrix.png", f"{k}-{i}".encode() * 1000)


def test_concurrent_evaluations_keep_every_record(saved):
    """Four evaluate processes of one run at once (real processes): each read run.json, added its file's sha256
    and wrote it back, so most records were lost (83 of 120 in a try by hand); the run folder is locked while recording."""
    import hashlib
    import multiprocessing

    run = run_path(saved, saved.lbfgs)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_files, args=(str(run), k, 15)) for k in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    artifacts = json.loads((run / "run.json").read_text())["artifacts"]
    for k in range(4):
        for i in range(15):
            name = f"confusion_matrix-set{k}-{i}.png"
            assert artifacts[name] == hashlib.sha256((run / name).read_bytes()).hexdigest()
    assert artifacts["confusion_matrix.png"] == hashlib.sha256((run / "confusion_matrix.png").read_bytes()).hexdigest()


def test_report_refuses_a_run_given_twice(cli, saved):
    """'report RUN RUN name/RUN' drew three sections of one run under one #run-<id> anchor (compare refuses it)."""
    result = cli("report", saved.lbfgs, f"digits_lbfgs/{saved.lbfgs}", "--out", "r.html")
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: run {saved.lbfgs} is given twice; name each run once"
    assert not Path("r.html").exists()


def test_stdin_dash_is_not_a_missing_file(cli, saved):
    """'cat digit.png | digitclf predict -' said "image '-' does not exist"."""
    result = cli("predict", saved.lbfgs, "-", input=b"\x89PNG\r\n\x1a\n")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: '-' (standard input) is not read: save the image to a file and give "
                                      "its name")


def test_explain_into_the_photos_folder_twice(cli, saved):
    """'predict photos/ --explain photos/' run twice answered its own a.explain.png as a photo (and drew
    a.explain.explain.png); a folder's scan leaves out the pictures --explain draws."""
    Path("photos").mkdir()
    Image.fromarray(_digit_picture().astype(np.uint8)).save("photos/a.png")
    answers = []
    for _ in range(2):
        result = cli("predict", saved.lbfgs, "photos", "--explain", "photos", "--json")
        assert result.exit_code == 0, result.stderr
        answers.append([row["file"] for row in json.loads(result.stdout)["predictions"]])
    assert answers == [["photos/a.png"], ["photos/a.png"]]
    assert sorted(p.name for p in Path("photos").iterdir()) == ["a.explain.png", "a.png"]


# ---------------------------------------------------------------- compare --json


def test_compare_json_is_strict_json_when_t_is_infinite(cli, isolated, monkeypatch):
    """Two cross-validated runs whose fold accuracies differ by one value in every fold have t = inf; --json
    printed 'Infinity', which JSON does not have (JSON.parse, jq and strict parsers refuse the whole answer)."""
    from helpers import train

    runs = [train(Path("outputs"), "split.kind=kfold", "split.n_splits=3", f"model.params.C={c}",
                  "output.plots=false").run.id for c in (0.01, 1.0)]
    import digitclf.cv

    monkeypatch.setattr(digitclf.cv, "corrected_variance", lambda *args: 0.0)  # every fold differs by the same
    result = cli("compare", *runs, "--json")
    assert result.exit_code == 0, result.stderr

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    test = json.loads(result.stdout, parse_constant=refuse)["tests"][0]
    assert test["t"] is None and test["p_value"] == 0.0 and test["folds"] == 3


def test_latest_whose_run_was_deleted(cli, saved):
    """With outputs/latest left pointing at a run folder deleted by hand, every command without a RUN said
    'no complete run in outputs/; train one first' although complete runs were there."""
    from digitclf.runs import LATEST

    link = Path("outputs") / LATEST
    target = os.readlink(link)
    shutil.rmtree(link.parent / target)
    newest = sorted(p.parent.name for p in Path("outputs").glob("*/*/metrics.json"))[-1]
    for args in (("evaluate",), ("plot-errors", "--out", "e.png")):
        result = cli(*args)
        assert result.exit_code == 2
        assert one_error_line(result) == (f"Error: outputs/latest points to {target}, which no longer exists; give a "
                                          f"run (newest complete: {newest}; see 'digitclf runs')")


def test_run_after_the_images(cli, saved):
    """'predict digit.png RUN' said "image 'RUN' does not exist" and nothing about the order."""
    Image.fromarray(_digit_picture().astype(np.uint8)).save("seven.png")
    result = cli("predict", "seven.png", saved.c10)
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: '{saved.c10}' is a run, not an image; the run goes first: digitclf "
                                      f"predict {saved.c10} IMAGE...")
    missing = cli("predict", "seven.png", "nothere")
    assert one_error_line(missing) == ("Error: image 'nothere' does not exist; give PNG/JPEG files or a folder of "
                                       "them")


# ---------------------------------------------------------------- evaluate a cross-validated run


def test_evaluate_of_a_cross_validated_run(cli, isolated):
    """A kfold run's saved model is refit on every image: evaluate scored it on its own training images as
    'the test split saved with the run' (1.0000, 'DIFFERENT from train time'), and --split train, empty,
    was 'unexpected ValueError: Found array with 0 sample(s)'."""
    from helpers import train

    run = train(Path("outputs"), "split.kind=kfold", "split.n_splits=3", "output.plots=false").run
    cv_accuracy = json.loads(run.file("metrics.json").read_text())["accuracy"]
    result = cli("evaluate", run.id)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"Error: run {run.id} is cross-validated: its saved model was refit on all 1,797 images of digits, so "
        f"none is left to test it on (its cross-validated accuracy, {cv_accuracy:.4f}, is in metrics.json); score "
        "it on another data set with --dataset, or use --split all for its accuracy on the images it was fitted on")
    train_rows = cli("evaluate", run.id, "--split", "train")
    assert train_rows.exit_code == 2
    assert one_error_line(train_rows) == ("Error: --split train: this run leaves no train rows of digits (1,797 "
                                          "images); use --split all")
    assert not run.file("evaluation.json").exists()
    everything = cli("evaluate", run.id, "--split", "all", "--json")
    assert everything.exit_code == 0 and json.loads(everything.stdout)["n_test"] == 1797


def test_report_with_a_non_utf8_outputs_folder(cli, saved):
    """An outputs folder whose name is not UTF-8 (b'out\\xe9') made report fail with 'unexpected
    UnicodeEncodeError: ... surrogates not allowed'; the page shows the name with U+FFFD."""
    folder = os.fsdecode(b"out\xe9")
    shutil.copytree("outputs", folder, symlinks=True)
    result = cli("report", saved.lbfgs, "-o", folder, "--out", "r.html")
    assert result.exit_code == 0, result.stderr
    page = Path("r.html").read_bytes().decode("utf-8")  # valid UTF-8 throughout
    assert f"out\ufffd/digits_lbfgs/{saved.lbfgs}" in page


def test_evaluate_when_the_training_file_is_gone(cli, isolated):
    """A run trained on an .npz that was since deleted: "dataset.path: '...' does not exist; point it at a folder
    of IDX files or an .npz" - evaluate has no dataset.path option; the run's own data is missing."""
    from helpers import train

    _keras_npz(Path("mine.npz"))
    run = train(Path("outputs"), "dataset.name=npz", f"dataset.path={Path('mine.npz').resolve()}",
                "split.kind=predefined", "output.plots=false").run
    Path("mine.npz").unlink()
    result = cli("evaluate", run.id)
    assert result.exit_code == 1
    assert one_error_line(result) == (f"Error: run {run.id} was trained on {Path('mine.npz').resolve()}, which no "
                                      "longer exists; put the data back there, or score the run on another data "
                                      "set with --dataset")


@pytest.mark.parametrize("level", [0, 128, 255])
def test_blank_image_at_training_size_is_refused(cli, saved, level):
    """A blank 8x8 file (already the training size, so read pixel for pixel) was answered '4 (0.106)';
    the README promises one Error line for an image with no ink."""
    Image.new("L", (8, 8), level).save("blank.png")
    result = cli("predict", saved.lbfgs, "blank.png")
    assert result.exit_code == 2
    assert one_error_line(result) == "Error: blank.png: no digit found, the image is blank or has almost no contrast"
