"""saved.predict: PNG files through a saved model give the model's own labels and ranked probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitclf.runs import load_model, load_split
from digitclf.saved.predict import predict_images
from helpers import run_of


def test_predict_images_ranks_what_the_model_itself_predicts(saved, tmp_path):
    from sklearn.datasets import load_digits

    run = run_of(saved.lbfgs)
    split = load_split(run)
    digits = load_digits().images[split.test_index[:8]]
    paths = []
    for k, image in enumerate(digits):  # exported at the training size: no resizing, 0-16 -> 0-255
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).save(paths[-1])
    result = predict_images(run, paths, top=3)
    assert result["run_id"] == run.id and result["image_shape"] == [8, 8] and result["ranked_by"] == "probability"
    assert [row["label"] for row in result["predictions"]] == list(split.y_pred[:8])
    proba = load_model(run).predict_proba(digits.reshape(8, -1))
    for row, expected in zip(result["predictions"], proba):
        assert [t["label"] for t in row["top"]] == list(np.argsort(-expected, kind="stable")[:3])
        assert row["top"][0]["probability"] == pytest.approx(expected.max(), abs=0.02)  # 0-16 -> 0-255 -> 0-16
        assert "class_name" not in row  # digits have no class names
