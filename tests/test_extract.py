"""extract: a photo's illumination, threshold, components and the training frame, on small synthetic pictures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from digitclf import extract
from digitclf.errors import InputError


def paper(shape=(120, 160), seed=0, noise=4.0, gradient=60.0):
    """Light paper lit from one side, with sensor noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return 190 + gradient * cols / shape[1] + rng.normal(0, noise, shape)


def near(box, expected) -> bool:
    """Boxes agree within a pixel (the ink is read lightly smoothed, so a sharp edge spreads by one)."""
    return np.abs(np.subtract(box, expected)).max() <= 1


def test_frame_geometry_mnist_and_8x8():
    gray = np.zeros((100, 60))
    gray[10:50, 40:50] = 255  # a bar 40 tall, 10 wide, off centre
    mnist = extract.extract(gray, (28, 28)).digits[0].frame
    rows, cols = np.nonzero(mnist > 0)
    assert rows.max() - rows.min() + 1 == 20  # the longer side fits MNIST's 20-pixel box
    assert mnist.max() == pytest.approx(1.0)
    assert np.allclose(ndimage.center_of_mass(mnist), (14.0, 14.0), atol=0.5)  # where MNIST has it
    small = extract.extract(gray, (8, 8)).digits[0].frame
    rows, _ = np.nonzero(small > 0)
    assert (rows.min(), rows.max()) == (0, 7)  # the 8x8 digits fill the height


def test_background_is_the_lighting_without_the_ink():
    rows, cols = np.mgrid[0:90, 0:120]
    light = 150 + 0.004 * (cols - 40) ** 2 + 0.3 * rows  # a quadratic lighting
    gray = light.copy()
    gray[30:60, 50:58] -= 120  # a dark stroke
    fitted = extract.background(gray)
    assert np.abs(fitted - light).max() < 1.5


def test_otsu_matches_an_exhaustive_search():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(40, 8, 700), rng.normal(150, 20, 300)])
    counts, edges = np.histogram(values, bins=256)
    centres = (edges[:-1] + edges[1:]) / 2

    def within(k):  # weighted within-class variance when the first k bins are one class
        lo, hi = np.repeat(centres[:k], counts[:k]), np.repeat(centres[k:], counts[k:])
        return lo.size * lo.var() + hi.size * hi.var()

    best = min(range(1, 256), key=within)
    assert extract.otsu(values) == pytest.approx(centres[best - 1])


def test_lit_noisy_dark_ink_and_chalk_give_the_same_clean_frame():
    gray = paper()
    gray[30:90, 70:82] -= 130  # a dark bar
    dark = extract.extract(gray, (28, 28))
    chalk = extract.extract(255 - gray, (28, 28))  # light strokes on a dark board
    assert dark.dark_ink and not chalk.dark_ink
    assert np.array_equal(dark.digits[0].frame, chalk.digits[0].frame)
    frame = dark.digits[0].frame
    assert frame[:, :6].max() == 0 and frame[:, -6:].max() == 0  # noise and lighting left no trace
    assert near(dark.digits[0].box, (30, 70, 90, 82))
    assert dark.digits[0].flags == ()


def test_specks_are_not_part_of_the_digit():
    clean = paper(noise=0)
    clean[30:90, 70:82] -= 130
    specked = clean.copy()
    for r, c in ((10, 10), (100, 140), (20, 130), (60, 20)):
        specked[r: r + 2, c: c + 2] -= 130  # dust: 4 pixels each
    assert np.array_equal(extract.extract(specked, (28, 28)).digits[0].frame,
                          extract.extract(clean, (28, 28)).digits[0].frame)


def test_a_broken_stroke_stays_one_digit():
    gray = paper(noise=0)
    gray[30:58, 70:82] -= 130
    gray[62:90, 72:84] -= 130  # the same bar with a gap: overlapping left-right, one digit
    found = extract.extract(gray, (28, 28))
    assert len(found.digits) == 1 and near(found.digits[0].box, (30, 70, 90, 84))


def test_several_digits_are_refused_without_multi_and_read_left_to_right_with_it():
    gray = paper(shape=(100, 300), noise=2)
    for left in (200, 40, 120):
        gray[20:80, left: left + 14] -= 120
    with pytest.raises(InputError) as caught:
        extract.extract(gray, (28, 28), source="n.png")
    assert str(caught.value) == ("n.png: 3 separate digit-size marks found; pass --multi to read them left to "
                                 "right as a number, or crop the image to one digit")
    found = extract.extract(gray, (28, 28), multi=True)
    boxes = [(20, 40, 80, 54), (20, 120, 80, 134), (20, 200, 80, 214)]
    assert len(found.digits) == 3 and all(near(d.box, box) for d, box in zip(found.digits, boxes))


def test_tiny_faint_and_border_digits_are_flagged():
    tiny = paper(noise=1)
    tiny[50:58, 70:73] -= 130
    faint = paper(noise=1)
    faint[30:90, 70:82] -= 25
    border = paper(noise=1)
    border[0:60, 70:82] -= 130
    assert extract.extract(tiny, (28, 28)).digits[0].flags == ("tiny",)
    assert extract.extract(faint, (28, 28)).digits[0].flags == ("faint",)
    assert extract.extract(border, (28, 28)).digits[0].flags == ("touches_border",)


def test_blank_and_noise_only_pictures_have_no_digit():
    for gray in (np.full((50, 50), 255.0), paper(noise=3)):
        with pytest.raises(InputError, match=r"^b.png: no digit found, the image is blank or has almost no contrast$"):
            extract.extract(gray, (28, 28), source="b.png")


def test_deskew_makes_a_slanted_stroke_upright():
    gray = np.zeros((80, 80))
    for r in range(10, 70):  # a stroke leaning right by 1 pixel in 3
        c = 30 + (70 - r) // 3
        gray[r, c: c + 6] = 255

    def slant(frame):
        r, c = np.indices(frame.shape)
        r0, c0 = ndimage.center_of_mass(frame)
        return ((r - r0) * (c - c0) * frame).sum() / ((r - r0) ** 2 * frame).sum()

    plain = extract.extract(gray, (28, 28)).digits[0].frame
    upright = extract.extract(gray, (28, 28), skew=True).digits[0].frame
    assert abs(slant(plain)) > 0.25 and abs(slant(upright)) < 0.05


def test_a_digit_filling_the_whole_picture_is_found_and_flagged():
    """An 8x8 digit upscaled edge to edge: its ink is half the picture, which once read as noise ("no digit")."""
    from sklearn.datasets import load_digits

    gray = 255.0 - np.kron(load_digits().images[0], np.ones((14, 14))) * 255 / 16
    digit = extract.extract(gray, (8, 8)).digits[0]
    assert "touches_border" in digit.flags
    assert digit.frame.max() > 0.5
