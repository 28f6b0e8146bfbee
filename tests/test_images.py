"""images: which files predict reads, and each decoded as grayscale, large photos reduced."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitclf import images


def test_small_pictures_are_read_at_full_size(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (60, 90), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    assert np.array_equal(images.read_gray(tmp_path / "a.png"), pixels)


def test_a_large_png_is_box_averaged_to_the_working_size(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (700, 1100), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.png")
    gray = images.read_gray(tmp_path / "big.png", work=500)  # 1100 // 500 = 2: half size
    expected = pixels[:, :1100].reshape(350, 2, 550, 2).mean(axis=(1, 3))
    assert gray.shape == (350, 550) and np.abs(gray - expected).max() <= 1


def test_a_large_jpeg_is_decoded_reduced(tmp_path):
    rows, cols = np.mgrid[0:1200, 0:1600]
    pixels = (128 + 100 * np.sin(rows / 90) * np.cos(cols / 70)).astype(np.uint8)  # smooth: JPEG keeps it
    Image.fromarray(pixels).convert("RGB").save(tmp_path / "big.jpg", quality=95)
    gray = images.read_gray(tmp_path / "big.jpg", work=400)  # the decoder's own 1/4 scaling
    assert gray.shape == (300, 400)
    expected = pixels.reshape(300, 4, 400, 4).mean(axis=(1, 3))
    assert np.abs(gray - expected).mean() < 2


def test_unreadable_files_are_one_input_error(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(images.InputError, match="^cannot read .*notes.png as an image .*; give a PNG or JPEG file$"):
        images.read_gray(tmp_path / "notes.png")
