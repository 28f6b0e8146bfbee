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
    return SimpleNamespace(outputs=outputs, digits=digits.run.id, fashion=fashion.run.id)


def digits_test_rows(run_id: str):
    """The run's test images as 8x8 arrays (0-16), its labels and its predictions."""
    from sklearn.datasets import load_digits

    split = load_split(resolve_run(run_id, Path("outputs")))
    return load_digits().images[split.test_index], split.y_test, split.y_pred


def as_photo(image16: np.ndarray, dark_on_light: bool) -> Image.Image:
    """An 8x8 digit drawn large (8x8 px per pixel) with a 16 px margin, either polarity."""
    big = np.pad(np.kron(np.round(image16 * 255 / 16), np.ones((8, 8))), 16).astype(np.uint8)
    return Image.fromarray(255 - big if dark_on_light else big)


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
