"""Image files for ``digitclf predict``: which files, and each one decoded as grayscale.

A large photo is decoded reduced (a JPEG by its decoder's own DCT scaling, Pillow's ``draft``; other
formats by box averaging) to about ``WORK`` pixels on its long side: a 12-megapixel phone photo is
read at 1/4 size in a fraction of the time, and a digit that fills any fair part of it keeps plenty
of pixels. What happens next, finding the digit(s), is ``digitclf.extract``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from digitclf.errors import InputError

SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_PIXELS = 50_000_000  # larger images are refused (a JPEG is first decoded reduced)
ANIMATED = ("GIF", "PNG", "WEBP")  # formats whose extra frames are an animation (refused: which frame?)
WORK = 1000  # a picture is read at about this many pixels on its long side, when it is at least twice that


def collect(paths: Sequence[str | Path], skip: tuple[str, ...] = ()) -> list[Path]:
    """Image files from files and folders (a folder's PNG/JPEG files, sorted by name, but for names ending
    with one of ``skip``: what digitclf drew there itself)."""
    from digitclf.paths import article, kind

    files: list[Path] = []
    for given in paths:
        if not str(given).strip():
            raise InputError("an empty image path names no file; give PNG/JPEG files or a folder of them")
        if str(given) == "-" and not Path("-").exists():
            raise InputError("'-' (standard input) is not read: save the image to a file and give its name")
        path = Path(given).expanduser()
        found = kind(path)
        if found not in ("file", "folder", "missing"):
            raise InputError(f"image {str(given)!r} is {article(found)}, not a file; give PNG/JPEG files")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
                           and not p.name.lower().endswith(skip))
            if not found:
                raise InputError(f"{path} has no PNG or JPEG files; give image files or a folder of them")
            files += found
        elif path.is_file():
            files.append(path)
        elif any(c in str(given) for c in "*?["):  # the shell passes a pattern that matched nothing as it is
            raise InputError(f"no file matches {str(given)!r}; check the pattern, or give PNG/JPEG files or a "
                             "folder of them")
        else:
            raise InputError(f"image {str(given)!r} does not exist; give PNG/JPEG files or a folder of them")
    if not files:
        raise InputError("no images given; e.g. digitclf predict digit.png")
    return files


def read_gray(path: str | Path, work: int = WORK, notes: list[str] | None = None) -> np.ndarray:
    """A PNG/JPEG as float grayscale 0-255 (EXIF rotation applied, transparency flattened onto white),
    reduced to about ``work`` pixels on its long side when it is at least twice that.

    What Pillow warns about while reading (corrupt EXIF data: the rotation may be wrong) is appended to
    ``notes`` as one line naming the file, never printed as a Python warning."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _read_gray(path, work)
        finally:  # the size bound says its own line; deprecations are digitclf's business, not the user's
            quiet = (DeprecationWarning, Image.DecompressionBombWarning)
            said = {f"{path}: {' '.join(str(w.message).split())}" for w in caught if not issubclass(w.category, quiet)}
            if notes is not None:
                notes += sorted(said - set(notes))


def _read_gray(path: str | Path, work: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(path)  # over Pillow's bomb bound: DecompressionBombError below; over half of it, a warning
        with image:
            frames = getattr(image, "n_frames", 1)
            if frames > 1 and image.format in ANIMATED:  # which frame holds the digit? (a phone's MPO JPEG: the first)
                raise InputError(f"{path} is an animation of {frames} frames; save the frame with the digit as "
                                 "a PNG or JPEG file")
            long_side = max(image.width, image.height)
            if image.format == "JPEG" and long_side >= 2 * work:  # decode reduced by 1/2, 1/4 or 1/8: far less work
                image.draft("L", (image.width * work // long_side, image.height * work // long_side))
            if image.width * image.height > MAX_PIXELS:
                raise InputError(f"{path} is {image.width}x{image.height} pixels, more than digitclf reads "
                                 f"({MAX_PIXELS:,}); scale it down or crop it to the digit")
            image = ImageOps.exif_transpose(image)
            sixteen = image.mode.startswith("I;16")
            deep = sixteen or image.mode in ("I", "F")
            if deep:  # 16-bit (or 32-bit) gray: Pillow's convert("L") clips at 255, turning gray ink white
                image = image.convert("F")
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                flat.alpha_composite(rgba)
                image = flat
            image = image.convert("F" if deep else "L")
            factor = max(image.width, image.height) // work
            if factor >= 2:  # box averaging (Pillow's reduce) keeps thin strokes as gray
                image = image.reduce(factor)
            gray = np.asarray(image, dtype=np.float64)
            if sixteen or (deep and gray.max() > 255):
                gray = np.clip(gray / 257, 0, 255)  # 0-65535 -> 0-255
    except Image.DecompressionBombError:
        bound = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise InputError(f"{path} has more than {bound:,} pixels (Pillow's bound against decompression bombs), "
                         f"more than digitclf reads ({MAX_PIXELS:,}); scale it down or crop it to the digit") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {path} as an image ({reason}); give a PNG or JPEG file") from None
    if gray.size == 0:
        raise InputError(f"{path} is an empty image")
    return gray
