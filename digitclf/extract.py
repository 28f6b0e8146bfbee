"""Digit extraction: a grayscale photo or scan -> the digit(s) in it, each in the training frame.

The steps (Pillow and scipy.ndimage do the image work):

1. **Illumination**: a quadratic surface is fitted to the picture at low resolution, first to its
   border, then to every pixel near the fit (the ink, far from it, is left out; repeated), and
   subtracted: a lighting gradient or vignette becomes a flat background.
2. **Polarity**: the ink is whatever departs most from the background, darker or lighter
   (blue ink on paper, chalk on a board).
3. **Threshold**: Otsu's threshold over the pixels that stand above the noise, never below a margin
   of 5 noise deviations (the noise level is measured from the picture itself), with hysteresis:
   pixels above the margin that touch one above Otsu's cut are ink too (faint stroke ends).
4. **Specks and candidates**: connected ink components (8-connected); those with under 5% of the
   largest one's ink are specks. Components that overlap left-right belong to one digit (the bar of a 5,
   a broken stroke); groups much smaller than the tallest are dropped as marks that are no digit.
5. **Frame**, as the data set's images were made: each digit's strokes (its ink at 30% of its level
   and more) as a 0/1 mask (gray ink for a digit under 40 px tall), cropped to their own box, fitted into the training frame with the aspect
   kept by area averaging and placed by centre of mass: MNIST-style frames (16 px and more) fit the
   digit into 20x20 with the centre of mass at pixel (14, 14) of 28x28; the 8x8 digits fill the
   frame's height.

Deskewing by image moments (the MNIST literature's trick) is available (``extract(..., skew=True)``, ``predict --deskew``) but off by
default: models trained on plain MNIST learnt slanted digits as they are, and deskewing only the
photos gained the benchmark models nothing on the photo renders (benchmarks/PHOTOS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from digitclf.errors import InputError

MNIST_BOX = 20 / 28  # MNIST digits fit a 20x20 box inside the 28x28 frame
MNIST_CENTRE = 14.0  # ... with the centre of mass at pixel (14, 14): measured on the npm digits, not 13.5
NOISE_MARGIN = 5.0  # ink stands at least this many noise deviations above the background
SPECK = 0.05  # a component with less ink than this share of the largest one is a speck
DIGIT_HEIGHT = 0.5  # a candidate digit is at least this share of the tallest one's height
DIGIT_HEIGHT_MULTI = 0.35  # ... when reading a number (a flat 0 or a small 7 next to a tall 4)
STROKE = 0.3  # a pixel is stroke when its ink reaches this share of the strokes' level (their 90th percentile)
GRAY_BELOW = 40  # a digit fewer pixels tall keeps its gray ink: a 0/1 mask of so few pixels loses its shape
TINY = 12  # a digit fewer pixels tall than this is flagged "tiny"
FAINT = 40.0  # ... one whose strokes stand fewer gray levels from the paper than this, "faint"


@dataclass(frozen=True)
class Digit:
    """One digit found in a picture: its frame (0-1, as the model sees it), its box, its flags."""

    frame: np.ndarray
    box: tuple[int, int, int, int]  # top, left, bottom, right (exclusive), in the picture's pixels
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Extraction:
    """What extraction found in one picture: the ink map (0-1) and the digits, left to right."""

    ink: np.ndarray
    digits: list[Digit]
    dark_ink: bool


# ---------------------------------------------------------------- background and ink


def background(gray: np.ndarray, rounds: int = 4) -> np.ndarray:
    """The picture's illumination: a quadratic surface fitted at low resolution, first to the border,
    then to every pixel near the fit (the ink, far from it, is left out)."""
    from PIL import Image

    h, w = gray.shape
    scale = min(1.0, 64 / max(h, w))
    small_size = (max(2, round(w * scale)), max(2, round(h * scale)))
    small = np.asarray(Image.fromarray(gray.astype(np.float32)).resize(small_size, Image.Resampling.BOX),
                       dtype=np.float64)

    def terms(rows: np.ndarray, cols: np.ndarray) -> list[np.ndarray]:
        return [np.ones_like(rows * cols), rows, cols, rows * rows, rows * cols, cols * cols]

    sr, sc = np.mgrid[0:small.shape[0], 0:small.shape[1]]
    A = np.stack([t.ravel() for t in terms(sr / small.shape[0], sc / small.shape[1])], axis=1)
    b = small.ravel()
    ring = max(1, round(0.05 * min(small.shape)))
    border = np.zeros(small.shape, bool)
    border[:ring], border[-ring:], border[:, :ring], border[:, -ring:] = True, True, True, True
    keep = border.ravel()  # the first fit sees only the border (paper, whatever the digit's size), then refines
    for _ in range(rounds):
        Ak = A[keep]
        coef = np.linalg.solve(Ak.T @ Ak + 1e-9 * np.eye(6), Ak.T @ b[keep])
        residual = b - A @ coef
        spread = 1.4826 * np.median(np.abs(residual[keep] - np.median(residual[keep]))) + 1e-6
        keep = np.abs(residual) <= 2.5 * spread + 2.0
        if keep.sum() < 6:
            break
    rows = ((np.arange(h) + 0.5) * (small.shape[0] / h) - 0.5)[:, None] / small.shape[0]
    cols = ((np.arange(w) + 0.5) * (small.shape[1] / w) - 0.5)[None, :] / small.shape[1]
    return sum(c * t for c, t in zip(coef, terms(rows, cols)))


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (1979) of a set of values: the cut maximising the between-class variance."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mean = np.cumsum(counts * centres)
    total, grand = weight[-1], mean[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (grand * weight - total * mean) ** 2 / (weight * (total - weight))
    return float(centres[np.nanargmax(between[:-1])])


def ink_map(gray: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Ink above the background in gray levels (>= 0), the noise deviation, and whether the ink is dark."""
    from scipy import ndimage

    residual = gray - background(gray)
    smooth = ndimage.gaussian_filter(residual, 1.0)
    dark = -smooth.min() >= smooth.max()
    ink = np.clip(-smooth if dark else smooth, 0, None)
    sample = smooth[::3, ::3]  # a ninth of the pixels gives the noise level just as well
    noise = 1.4826 * float(np.median(np.abs(sample - np.median(sample)))) + 0.5
    if ink.max() <= max(8.0, NOISE_MARGIN * noise):
        # the spread is the digit itself (ink filling the frame, as in an upscaled 8x8 digit): judge the noise
        # by what smoothing removes instead (white noise keeps about 0.3 of its spread through the filter)
        fine = (residual - smooth)[::3, ::3]
        noise = min(noise, 0.3 * 1.4826 * float(np.median(np.abs(fine - np.median(fine)))) + 0.5)
    return ink, noise, bool(dark)


# ---------------------------------------------------------------- candidates


def _hysteresis(ink: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above ``low`` that are connected to a pixel above ``high``: faint stroke ends stay with their
    stroke, noise that never reaches ``high`` goes."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > low, structure=np.ones((3, 3)))
    strong = np.zeros(count + 1, bool)
    strong[np.unique(labels[ink > high])] = True
    strong[0] = False
    return strong[labels]


def _groups(mask: np.ndarray, ink: np.ndarray, height: float) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """Connected ink components, specks removed, merged when they overlap left-right: (pixels, box) per
    candidate digit, left to right."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return []
    mass = np.asarray(ndimage.sum_labels(ink, labels, np.arange(1, count + 1)))
    parts = sorted((([k + 1], [s[0].start, s[1].start, s[0].stop, s[1].stop])
                    for k, s in enumerate(ndimage.find_objects(labels)) if mass[k] >= SPECK * mass.max()),
                   key=lambda part: part[1][1])
    groups: list[tuple[list[int], list[int]]] = []
    for members, box in parts:
        def overlaps(other: list[int]) -> bool:
            shared = min(other[3], box[3]) - max(other[1], box[1])
            return shared > 0.3 * min(box[3] - box[1], other[3] - other[1])

        into = next((g for g in groups if overlaps(g[1])), None)
        if into is None:
            groups.append((members, box))
        else:
            into[0].extend(members)
            into[1][:] = [min(into[1][0], box[0]), min(into[1][1], box[1]),
                          max(into[1][2], box[2]), max(into[1][3], box[3])]
    tallest = max(box[2] - box[0] for _, box in groups)
    kept = sorted((g for g in groups if g[1][2] - g[1][0] >= height * tallest), key=lambda g: g[1][1])
    return [(np.isin(labels, members), (box[0], box[1], box[2], box[3])) for members, box in kept]


# ---------------------------------------------------------------- frame


def deskew(image: np.ndarray) -> np.ndarray:
    """Shear the digit upright by its second moments (the MNIST literature's deskew)."""
    from scipy import ndimage

    rows, cols = np.indices(image.shape)
    mass = image.sum()
    r0, c0 = (rows * image).sum() / mass, (cols * image).sum() / mass
    mu11 = ((rows - r0) * (cols - c0) * image).sum() / mass
    mu02 = ((rows - r0) ** 2 * image).sum() / mass
    if mu02 < 1e-6:
        return image
    alpha = mu11 / mu02
    matrix = np.array([[1.0, 0.0], [alpha, 1.0]])
    offset = np.array([r0, c0]) - matrix @ np.array([r0, c0])
    return ndimage.affine_transform(image, matrix, offset=offset, order=1)


def fit_frame(ink: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a cropped digit (0-1) into the training frame, aspect kept, placed by centre of mass; 0-1."""
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
    centre = (MNIST_CENTRE * height / 28, MNIST_CENTRE * width / 28) if mnist_style else ((height - 1) / 2,
                                                                                          (width - 1) / 2)
    rows, cols = np.indices(small.shape)
    mass = small.sum()
    top = int(np.clip(round(centre[0] - (rows * small).sum() / mass), 0, height - small.shape[0]))
    left = int(np.clip(round(centre[1] - (cols * small).sum() / mass), 0, width - small.shape[1]))
    frame = np.zeros(shape)
    frame[top: top + small.shape[0], left: left + small.shape[1]] = small
    return frame


def _tight(image: np.ndarray) -> tuple[int, int, int, int]:
    """The box (top, left, bottom, right) of an image's nonzero pixels (all of it when there are none)."""
    rows, cols = np.nonzero(image)
    if rows.size == 0:
        return 0, 0, image.shape[0], image.shape[1]
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def _digit(ink: np.ndarray, own: np.ndarray, box: tuple[int, int, int, int], cut: float, shape: tuple[int, int],
           skew: bool) -> Digit:
    """One candidate's strokes cropped, flagged and put in the training frame."""
    from scipy import ndimage

    top, left, bottom, right = box
    pad = 2
    t, l = max(0, top - pad), max(0, left - pad)
    b, r = min(ink.shape[0], bottom + pad), min(ink.shape[1], right + pad)
    region = ndimage.binary_dilation(own[t:b, l:r], iterations=2)
    crop = np.where(region, ink[t:b, l:r], 0.0)
    inside = ink[top:bottom, left:right][own[top:bottom, left:right]]
    strokes = inside[inside > cut] if (inside > cut).any() else inside  # the level of the strong strokes
    level = float(np.percentile(strokes, 90))
    if bottom - top >= GRAY_BELOW:
        crop = (crop >= STROKE * level).astype(np.float64)
    else:
        crop = np.where(crop >= STROKE * level, np.clip(crop / level, 0, 1), 0.0)
    # the strokes' own box is what is reported and fitted (the mask's faint fringe is wider)
    y0, x0, y1, x1 = _tight(crop)
    crop = crop[y0:y1, x0:x1]
    top, left, bottom, right = t + y0, l + x0, t + y1, l + x1
    if skew:
        crop = deskew(crop)
        y0, x0, y1, x1 = _tight(crop)
        crop = crop[y0:y1, x0:x1]
    flags = []
    if bottom - top < TINY:
        flags.append("tiny")
    if level < FAINT:
        flags.append("faint")
    if top == 0 or left == 0 or bottom == ink.shape[0] or right == ink.shape[1]:
        flags.append("touches_border")
    return Digit(fit_frame(crop, shape), (top, left, bottom, right), tuple(flags))


def extract(gray: np.ndarray, shape: Sequence[int], *, multi: bool = False, skew: bool = False,
            source: str = "image") -> Extraction:
    """The digit (or, with ``multi``, the digits left to right) in a grayscale picture (0-255)."""
    shape = (int(shape[0]), int(shape[1]))
    if gray.shape == shape:  # already a training-size image: keep every pixel where it is
        if float(gray.max() - gray.min()) <= 8.0:  # one gray level all over: a blank frame got an answer
            raise InputError(f"{source}: no digit found, the image is blank or has almost no contrast")
        light = float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]]))) > 127.5
        frame = np.clip(255.0 - gray if light else gray, 0, 255) / 255.0
        return Extraction(frame, [Digit(frame, (0, 0) + shape)], light)
    ink, noise, dark = ink_map(gray)
    if ink.max() <= max(8.0, NOISE_MARGIN * noise):
        raise InputError(f"{source}: no digit found, the image is blank or has almost no contrast")
    above = ink[ink > 3 * noise]
    cut = max(NOISE_MARGIN * noise, otsu(above) if above.size > 1 else 0.0)
    groups = _groups(_hysteresis(ink, NOISE_MARGIN * noise, cut), ink, DIGIT_HEIGHT_MULTI if multi else DIGIT_HEIGHT)
    if not groups:
        raise InputError(f"{source}: no digit found, the image is blank or has almost no contrast")
    if len(groups) > 1 and not multi:
        raise InputError(f"{source}: {len(groups)} separate digit-size marks found; pass --multi to read them "
                         "left to right as a number, or crop the image to one digit")
    digits = [_digit(ink, own, box, cut, shape, skew) for own, box in groups]
    return Extraction(np.clip(ink / max(ink.max(), 1e-9), 0, 1), digits, dark)
