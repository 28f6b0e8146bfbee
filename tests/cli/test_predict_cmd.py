"""`digitclf predict`: image files -> the model's input -> label and top-3 probabilities."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from digitclf.runs import load_model, load_split, resolve_run
from helpers import make_idx, train


# overrides conftest's template: conftest's ``saved`` copies these two runs instead
@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    outputs = root / "outputs"
    digits = train(outputs, "output.plots=false")
    # an MNIST-format folder read as Fashion-MNIST (its pinned fingerprint lifted), so predictions carry class names
    from dataclasses import replace

    from digitclf import datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(datasets.DATASETS, "fashion-mnist", replace(datasets.DATASETS["fashion-mnist"], fingerprints=()))
        fashion = train(outputs, "name=fashion_idx", "dataset.name=fashion-mnist",
                        f"dataset.path={make_idx(root / 'idx', 1)}", "split.kind=predefined", "preprocess=[scale]",
                        "output.plots=false")
    svc = train(outputs, "name=digits_svc", "model.estimator=linear_svc", "model.params={}", "output.plots=false")
    return SimpleNamespace(outputs=outputs, digits=digits.run.id, fashion=fashion.run.id, svc=svc.run.id)


def digits_test_rows(run_id: str):
    """The run's test images as 8x8 arrays (0-16), its labels and its predictions."""
    from sklearn.datasets import load_digits

    split = load_split(resolve_run(run_id, Path("outputs")))
    return load_digits().images[split.test_index], split.y_test, split.y_pred


def as_photo(image16: np.ndarray, dark_on_light: bool) -> Image.Image:
    """An 8x8 digit drawn large (8x8 px per pixel) with a 16 px margin, either polarity."""
    big = np.pad(np.kron(np.round(image16 * 255 / 16), np.ones((8, 8))), 16).astype(np.uint8)
    return Image.fromarray(255 - big if dark_on_light else big)


def as_number(images16: list[np.ndarray]) -> Image.Image:
    """Several 8x8 digits drawn large side by side, dark on light, 24 px apart (a written number)."""
    tiles = [np.kron(np.round(image * 255 / 16), np.ones((8, 8))) for image in images16]
    row = np.hstack([np.pad(t, ((0, 0), (0, 24))) for t in tiles])[:, :-24]
    return Image.fromarray(255 - np.pad(row, 16).astype(np.uint8))


def predict_json(cli, *args) -> dict:
    result = cli("predict", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_recovers_test_digits_drawn_dark_on_light_and_light_on_dark(saved, cli, tmp_path):
    digits, y_true, y_pred = digits_test_rows(saved.digits)
    chosen = np.flatnonzero(y_true == y_pred)[:40]  # digits the model itself gets right
    for k in chosen:
        as_photo(digits[k], dark_on_light=True).save(tmp_path / f"dark_{k:03d}.png")
        as_photo(digits[k], dark_on_light=False).save(tmp_path / f"light_{k:03d}.png")
    rows = predict_json(cli, saved.digits, str(tmp_path))["predictions"]
    assert len(rows) == 2 * len(chosen)
    dark = {int(Path(r["file"]).stem[5:]): r for r in rows if Path(r["file"]).name.startswith("dark_")}
    light = {int(Path(r["file"]).stem[6:]): r for r in rows if Path(r["file"]).name.startswith("light_")}
    recovered = np.mean([dark[k]["label"] == y_true[k] for k in chosen])
    assert recovered >= 0.9, recovered  # cropping and resizing cost a little; centring by mass keeps it high
    assert all(dark[k]["top"] == light[k]["top"] for k in chosen)  # inversion makes both the same input


def test_exported_training_size_images_predict_like_the_data_set(saved, cli, tmp_path):
    digits, _, y_pred = digits_test_rows(saved.digits)
    for k in range(30):
        Image.fromarray(np.round(digits[k] * 255 / 16).astype(np.uint8)).save(tmp_path / f"{k:02d}.png")
    result = predict_json(cli, saved.digits, *sorted(str(p) for p in tmp_path.glob("*.png")))
    assert [r["label"] for r in result["predictions"]] == list(y_pred[:30])
    proba = load_model(resolve_run(saved.digits, Path("outputs"))).predict_proba(digits[:30].reshape(30, -1))
    top = np.array([r["top"][0]["probability"] for r in result["predictions"]])
    assert np.allclose(top, proba.max(axis=1), atol=0.02)  # 0-16 -> 0-255 -> 0-16 rounds a little


def test_mnist_style_pngs_give_the_saved_predictions_and_class_names(saved, cli, tmp_path):
    from digitclf.datasets import read_idx_folder

    run = resolve_run(saved.fashion, Path("outputs"))
    record = json.loads(run.file("run.json").read_text())
    x_test = read_idx_folder(record["config"]["dataset"]["path"])["x_test"]
    split = load_split(run)
    for k in range(12):
        Image.fromarray(x_test[k]).save(tmp_path / f"{k:02d}.png")
    result = predict_json(cli, saved.fashion, str(tmp_path))
    assert [r["label"] for r in result["predictions"]] == list(split.y_pred[:12])
    expected = load_model(run).predict_proba(x_test[:12].reshape(12, -1))
    for row, probabilities in zip(result["predictions"], expected):
        assert [t["label"] for t in row["top"]] == list(np.argsort(-probabilities, kind="stable")[:3])
        assert row["top"][0]["probability"] == pytest.approx(probabilities.max(), abs=1e-9)
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert all(r["class_name"] == names[r["label"]] for r in result["predictions"])
    text = cli("predict", saved.fashion, str(tmp_path / "00.png"))
    label = result["predictions"][0]["label"]
    assert text.stdout.splitlines()[1].split()[1:3] == [str(label), str(label)]
    assert f"{label} {names[label]} (" in text.stdout


def test_transparent_png_and_jpeg_read_like_a_plain_drawing(saved, cli, tmp_path):
    digits, y_true, y_pred = digits_test_rows(saved.digits)
    k = int(np.flatnonzero(y_true == y_pred)[0])
    plain = as_photo(digits[k], dark_on_light=True)
    plain.save(tmp_path / "plain.png")
    plain.convert("RGB").save(tmp_path / "photo.jpg", quality=95)
    ink = 255 - np.asarray(plain)
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = ink  # black strokes on a transparent background, as drawing apps export them
    Image.fromarray(rgba, "RGBA").save(tmp_path / "drawn.png")
    rows = predict_json(cli, saved.digits[:-2], str(tmp_path))["predictions"]  # a unique id prefix works too
    assert {Path(r["file"]).name: r["label"] for r in rows} == {"drawn.png": y_true[k], "photo.jpg": y_true[k],
                                                                "plain.png": y_true[k]}


def test_unusable_images_are_one_error_line(saved, cli, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    (tmp_path / "empty").mkdir()
    cases = {
        str(tmp_path / "notes.png"): f"Error: cannot read {tmp_path / 'notes.png'} as an image (cannot identify "
                                     f"image file '{tmp_path / 'notes.png'}'); give a PNG or JPEG file",
        str(tmp_path / "blank.png"): f"Error: {tmp_path / 'blank.png'}: no digit found, the image is blank or has "
                                     "almost no contrast",
        str(tmp_path / "empty"): f"Error: {tmp_path / 'empty'} has no PNG or JPEG files; give image files or a "
                                 "folder of them",
        "missing.png": "Error: image 'missing.png' does not exist; give PNG/JPEG files or a folder of them",
    }
    for argument, line in cases.items():
        result = cli("predict", argument)
        assert result.exit_code == 2, result.output
        assert result.stdout == "" and result.stderr == line + "\n"
    for args in ((saved.digits,), ("photos",)):
        no_images = cli("predict", *args)
        assert no_images.exit_code == 2 and no_images.stderr == (
            f"Error: no images given, or {args[0]!r} does not exist; usage: digitclf predict [RUN] IMAGE...\n")
    latest = cli("predict", str(tmp_path / "blank.png"))  # no run given: the latest, here the 28x28 one
    assert latest.stderr.startswith("Error: ") and "no digit found" in latest.stderr


def test_multi_reads_a_number_left_to_right_like_its_digits_one_by_one(saved, cli, tmp_path):
    digits, y_true, y_pred = digits_test_rows(saved.digits)
    chosen = [int(k) for k in np.flatnonzero((y_true == y_pred) & (y_true != 1))[:4]]  # a 1 may touch nothing
    as_number([digits[k] for k in chosen]).save(tmp_path / "number.png")
    for k in chosen:
        as_photo(digits[k], dark_on_light=True).save(tmp_path / f"one_{k}.png")
    result = predict_json(cli, saved.digits, str(tmp_path / "number.png"), "--multi")
    row = result["predictions"][0]
    alone = [predict_json(cli, saved.digits, str(tmp_path / f"one_{k}.png"))["predictions"][0] for k in chosen]
    assert result["multi"] is True and row["label"] == "".join(str(a["label"]) for a in alone)
    lefts = [d["box"][1] for d in row["digits"]]
    assert len(row["digits"]) == 4 and lefts == sorted(lefts)
    refused = cli("predict", saved.digits, str(tmp_path / "number.png"))
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (f"Error: {tmp_path / 'number.png'}: 4 separate digit-size marks found; pass --multi "
                              "to read them left to right as a number, or crop the image to one digit\n")
    text = cli("predict", saved.digits, str(tmp_path / "number.png"), "--multi")
    assert text.stdout.splitlines()[1].split()[1] == row["label"]


def test_explain_pictures_show_the_frames_the_model_was_given(saved, cli, tmp_path):
    from digitclf import explain

    digits, y_true, y_pred = digits_test_rows(saved.digits)
    chosen = [int(k) for k in np.flatnonzero((y_true == y_pred) & (y_true != 1))[:3]]
    as_number([digits[k] for k in chosen]).save(tmp_path / "number.png")
    as_photo(digits[chosen[0]], dark_on_light=True).save(tmp_path / "one.png")
    shown = tmp_path / "shown"
    single = predict_json(cli, saved.digits, str(tmp_path / "one.png"), "--explain", str(shown))["predictions"][0]
    multi = predict_json(cli, saved.digits, str(tmp_path / "number.png"), "--multi", "--explain", str(shown))
    assert single["explain"] == str(shown / "one.explain.png")
    model = load_model(resolve_run(saved.digits, Path("outputs")))
    height = explain.GAP + explain.PICTURE + explain.GAP + explain.PANEL + explain.TEXT + explain.GAP
    for path, row, count in ((shown / "one.explain.png", single, 1),
                             (shown / "number.explain.png", multi["predictions"][0], 3)):
        with Image.open(path) as image:
            picture = np.asarray(image.convert("L"), dtype=np.float64)
        assert picture.shape[0] == height and picture.shape[1] >= explain.GAP + count * (explain.PANEL + explain.GAP)
        frames = []
        for k in range(count):  # each panel is the 8x8 frame as fed to the model, 21x21 px per model pixel
            left, top = explain.frame_origin(k)
            panel = picture[top: top + explain.PANEL, left: left + explain.PANEL].reshape(8, 21, 8, 21)
            assert np.ptp(panel, axis=(1, 3)).max() == 0  # flat blocks: nothing drawn over the frame
            frames.append(panel[:, 0, :, 0] * 16 / 255)
        proba = model.predict_proba(np.stack(frames).reshape(count, -1))
        digits_rows = row.get("digits", [row])
        for expected, answer in zip(proba, digits_rows):
            assert answer["top"][0]["label"] == int(np.argmax(expected))
            assert answer["top"][0]["probability"] == pytest.approx(expected.max(), abs=0.01)  # 255 levels
        after = explain.frame_origin(count)[0]
        assert picture[explain.frame_origin(0)[1]:, after:].size == 0 or \
            picture[explain.frame_origin(0)[1]:, after:].min() == 255  # no panel beyond the digits found
    refused = cli("predict", saved.digits, str(tmp_path / "one.png"), "--explain", str(tmp_path / "one.png"))
    assert refused.exit_code == 2 and refused.stderr == (
        f"Error: --explain {str(tmp_path / 'one.png')!r} is a file; give a folder for the pictures\n")


def test_low_confidence_is_flagged_and_min_confidence_answers_unsure(saved, cli, tmp_path):
    digits, _, _ = digits_test_rows(saved.digits)
    for k in range(12):
        as_photo(digits[k], dark_on_light=True).save(tmp_path / f"{k:02d}.png")
    plain = predict_json(cli, saved.digits, str(tmp_path))["predictions"]
    cut = float(np.median([r["top"][0]["probability"] for r in plain]))
    gated = predict_json(cli, saved.digits, str(tmp_path), "--min-confidence", str(cut))["predictions"]
    for before, after in zip(plain, gated):
        p = before["top"][0]["probability"]
        assert ("low_confidence" in before["flags"]) == (p < 0.5)
        assert after["label"] == ("unsure" if p < cut else before["label"]) and after["top"] == before["top"]
    assert sum(r["label"] == "unsure" for r in gated) >= 1
    text = cli("predict", saved.digits, str(tmp_path / "00.png"), "--min-confidence", "1")
    assert text.stdout.splitlines()[1].split()[1] == "unsure"
    scores = cli("predict", saved.svc, str(tmp_path / "00.png"), "--min-confidence", "0.5")
    assert scores.exit_code == 2 and scores.stderr == (
        "Error: --min-confidence needs probabilities, and this run's model (LinearSVC) has no predict_proba; "
        "leave the option out\n")
    out_of_range = cli("predict", saved.digits, str(tmp_path / "00.png"), "--min-confidence", "1.5")
    assert out_of_range.exit_code == 2 and out_of_range.stderr.startswith(
        "Error: Invalid value for '--min-confidence': Input should be less than or equal to 1 (see ")


def test_a_run_whose_classes_are_not_digits_warns_and_flags_every_answer(saved, cli, tmp_path):
    digits, _, _ = digits_test_rows(saved.digits)
    as_photo(digits[0], dark_on_light=True).save(tmp_path / "three.png")
    result = cli("predict", saved.fashion, str(tmp_path / "three.png"), "--json")
    assert result.exit_code == 0
    warning = ("this run's classes are not digits (fashion-mnist: T-shirt/top, Trouser, Pullover, Dress, ...); "
               "its answer for a photo of a digit means nothing")
    assert result.stderr == f"warning: {warning}\n"
    parsed = json.loads(result.stdout)
    assert parsed["warnings"] == [warning] and "not_digits" in parsed["predictions"][0]["flags"]


def test_tiny_and_border_digits_are_flagged_in_json_and_text(saved, cli, tmp_path):
    page = np.full((200, 200), 235, np.uint8)
    page[90:98, 100:103] = 20  # 8 px tall
    Image.fromarray(page).save(tmp_path / "tiny.png")
    page = np.full((200, 200), 235, np.uint8)
    page[0:120, 100:112] = 20  # runs off the top
    Image.fromarray(page).save(tmp_path / "cut.png")
    rows = predict_json(cli, saved.digits, str(tmp_path))["predictions"]
    assert {Path(r["file"]).name: r["flags"] for r in rows} == {"cut.png": ["touches_border"], "tiny.png": ["tiny"]}
    text = cli("predict", saved.digits, str(tmp_path / "tiny.png"))
    assert text.stdout.splitlines()[1].endswith("[tiny]")


def test_in_a_batch_a_refused_file_is_a_flagged_answer_and_the_others_are_answered(saved, cli, tmp_path):
    digits, _, _ = digits_test_rows(saved.digits)
    as_photo(digits[0], dark_on_light=True).save(tmp_path / "a.png")
    Image.new("L", (40, 40), 255).save(tmp_path / "b.png")
    alone = predict_json(cli, saved.digits, str(tmp_path / "a.png"))["predictions"][0]
    rows = predict_json(cli, saved.digits, str(tmp_path))["predictions"]
    assert rows[0] == alone
    assert rows[1] == {"file": str(tmp_path / "b.png"), "label": None, "flags": ["refused"],
                       "error": f"{tmp_path / 'b.png'}: no digit found, the image is blank or has almost no contrast"}
    text = cli("predict", saved.digits, str(tmp_path))
    assert text.exit_code == 0 and text.stdout.splitlines()[2].split()[1:3] == ["-", "Error:"]
