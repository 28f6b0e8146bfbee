"""images: a photo or drawing becomes the model's input (size, centring, polarity, range)."""

from __future__ import annotations

import numpy as np
import pytest

from digitclf import images


def test_model_input_geometry_and_range():
    gray = np.zeros((100, 60))
    gray[10:50, 40:50] = 255  # a bar 40 tall, 10 wide, off centre
    mnist = images.to_model_input(gray, (28, 28), 255.0).reshape(28, 28)
    rows, cols = np.nonzero(mnist > 0)
    assert rows.max() - rows.min() + 1 == 20  # the longer side fits MNIST's 20-pixel box
    assert mnist.max() == pytest.approx(255.0)
    r, c = np.indices(mnist.shape)
    assert abs((r * mnist).sum() / mnist.sum() - 13.5) <= 0.5 and abs((c * mnist).sum() / mnist.sum() - 13.5) <= 0.5
    small = images.to_model_input(gray, (8, 8), 16.0).reshape(8, 8)
    rows, _ = np.nonzero(small > 0)
    assert (rows.min(), rows.max()) == (0, 7) and small.max() == pytest.approx(16.0)  # digits fill the height


def test_light_paper_with_noise_becomes_a_clean_black_background():
    rng = np.random.default_rng(0)
    paper = 200 + rng.normal(0, 4, (80, 80))
    paper[20:60, 35:45] = 40  # dark ink
    out = images.to_model_input(np.clip(paper, 0, 255), (28, 28), 255.0).reshape(28, 28)
    assert images.light_background(paper)
    assert out[:3].max() < 5 and out.max() == pytest.approx(255.0)
