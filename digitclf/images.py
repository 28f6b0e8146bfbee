"""Image files -> model input: what ``digitclf predict`` does to a PNG or JPEG before the saved model sees it.

The steps, for a photo or a drawing of one digit:
grayscale -> light background inverted (the training images are light strokes on black) ->
background level subtracted and contrast stretched -> cropped to the digit's bounding box ->
resized to fit the training frame, aspect ratio kept -> padded and centred -> scaled to the
training pixel range (0-16 for scikit-learn's digits, 0-255 for MNIST-style sets).

The frame follows each data set's own convention: MNIST-style images (16 px and more) fit the
digit in a 20/28 box, the 8x8 digits fill the frame's height; both are placed with the digit's
centre of mass on the frame's centre.
A file already at the training size (an exported test image) is only inverted if needed and
scaled: it reaches the model as the data set's own image would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from digitclf.errors import InputError

SUFFIXES = (".png", ".jpg", ".jpeg")
MNIST_BOX = 20 / 28  # MNIST digits fit a 20x20 box inside the 28x28 frame
MAX_PIXELS = 50_000_000  # larger images are refused (a JPEG is first decoded at a quarter of its size)
INK = 0.25  # a pixel is part of the digit when it is this bright, relative to the brightest one


def collect(paths: Sequence[str | Path]) -> list[Path]:
    """Image files from files and folders (a folder's PNG/JPEG files, sorted by name)."""
    from digitclf.paths import article, kind

    files: list[Path] = []
    for given in paths:
        if not str(given).strip():
            raise InputError("an empty image path names no file; give PNG/JPEG files or a folder of them")
        path = Path(given).expanduser()
        found = kind(path)
        if found not in ("file", "folder", "missing"):
            raise InputError(f"image {str(given)!r} is {article(found)}, not a file; give PNG/JPEG files")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise InputError(f"{path} has no PNG or JPEG files; give image files or a folder of them")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"image {str(given)!r} does not exist; give PNG/JPEG files or a folder of them")
    if not files:
        raise InputError("no images given; e.g. digitclf predict digit.png")
    return files


def read_gray(path: str | Path) -> np.ndarray:
    """A PNG/JPEG as float grayscale 0-255 (EXIF rotation applied, transparency flattened onto white)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the bound below says it in one line
            image = Image.open(path)
        with image:
            if image.width * image.height > MAX_PIXELS and image.format == "JPEG":
                image.draft("L", (image.width // 4, image.height // 4))  # decode reduced: far less work
            if image.width * image.height > MAX_PIXELS:
                raise InputError(f"{path} is {image.width}x{image.height} pixels, more than digitclf reads "
                                 f"({MAX_PIXELS:,}); scale it down or crop it to the digit")
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                flat.alpha_composite(rgba)
                image = flat
            gray = np.asarray(image.convert("L"), dtype=np.float64)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {path} as an image ({reason}); give a PNG or JPEG file") from None
    if gray.size == 0:
        raise InputError(f"{path} is an empty image")
    return gray


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def light_background(gray: np.ndarray) -> bool:
    """True when the picture's border (its background) is lighter than mid-gray."""
    return float(np.median(_border(gray))) > 127.5


def load_input(path: str | Path, image_shape: Sequence[int], pixel_max: float) -> np.ndarray:
    """An image file as one row of model input (see ``to_model_input``)."""
    return to_model_input(read_gray(path), image_shape, pixel_max, source=str(path))


def to_model_input(gray: np.ndarray, image_shape: Sequence[int], pixel_max: float, source: str = "image") -> np.ndarray:
    """One grayscale picture (0-255) -> a flat row of ``h*w`` pixels in 0..pixel_max, light digit on black."""
    shape = (int(image_shape[0]), int(image_shape[1]))
    if light_background(gray):
        gray = 255.0 - gray
    if gray.shape == shape:  # already a training-size image: keep every pixel where it is
        return (np.clip(gray, 0, 255) * (pixel_max / 255.0)).ravel()
    background = float(np.median(_border(gray)))
    ink = np.clip(gray - background, 0, None)
    if ink.max() <= 8.0:  # nothing stands out from the background by more than a few gray levels
        raise InputError(f"{source}: no digit found, the image is blank or has almost no contrast")
    ink /= ink.max()
    rows, cols = np.nonzero(ink >= INK)
    ink = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    return (_fit_frame(ink, shape) * pixel_max).ravel()


def _fit_frame(ink: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize the cropped digit (0-1) into the training frame, aspect kept, centred; values 0-1."""
    from PIL import Image

    height, width = shape
    mnist_style = min(shape) >= 16
    box = (height * MNIST_BOX, width * MNIST_BOX) if mnist_style else (height, width)
    scale = min(box[0] / ink.shape[0], box[1] / ink.shape[1])
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))  # PIL: (w, h)
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR  # BOX = area average, like digits
    small = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, resample), dtype=np.float64)
    small = np.clip(small, 0, None)
    small /= small.max()  # the crop holds ink, so the maximum is positive
    # centre of mass on the frame's centre: how MNIST was made, and it also puts the 8x8 digits where
    # scikit-learn's have theirs (centring the box instead lost 23 points on the digits test set as PNGs)
    rows, cols = np.indices(small.shape)
    mass = small.sum()
    top = int(np.clip(round((height - 1) / 2 - (rows * small).sum() / mass), 0, height - small.shape[0]))
    left = int(np.clip(round((width - 1) / 2 - (cols * small).sum() / mass), 0, width - small.shape[1]))
    frame = np.zeros(shape)
    frame[top: top + small.shape[0], left: left + small.shape[1]] = small
    return frame
