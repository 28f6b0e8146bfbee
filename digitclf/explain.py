"""``predict --explain``: one PNG per image showing what the model saw and what it answered.

Layout (Pillow, fixed so a test or a script can find each panel): the picture as read, at most
``PICTURE`` pixels tall, with a box around each digit found; below it, for each digit left to
right, its frame exactly as fed to the model (each model pixel a ``PANEL // side`` square block,
gray levels 0-255 for 0..pixel_max) and under the frame the top-3 answers with bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

PICTURE = 240  # the picture's panel height
PANEL = 168  # a frame's panel side (28 * 6, 8 * 21)
GAP = 8
TEXT = 64  # the top-3 area under each frame
TITLE = 220  # the width kept for the title beside the picture
BOX = (230, 40, 40)


def frame_origin(k: int) -> tuple[int, int]:
    """(left, top) of the k-th digit's frame panel."""
    return GAP + k * (PANEL + GAP), GAP + PICTURE + GAP


def picture(gray: np.ndarray, frames: Sequence[np.ndarray], boxes: Sequence[tuple[int, int, int, int]],
            tops: Sequence[Sequence[tuple[str, float]]], title: str) -> Any:
    """The explain picture as a PIL image: ``frames`` 0-1, ``tops`` per digit a list of (label, score)."""
    from PIL import Image, ImageDraw

    scale = min(1.0, PICTURE / gray.shape[0], 4 * PANEL / gray.shape[1])
    shown = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).convert("RGB")
    shown = shown.resize((max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                         Image.Resampling.BOX)
    width = max(shown.width + 2 * GAP + TITLE, GAP + len(frames) * (PANEL + GAP))
    canvas = Image.new("RGB", (width, GAP + PICTURE + GAP + PANEL + TEXT + GAP), (255, 255, 255))
    canvas.paste(shown, (GAP, GAP))
    draw = ImageDraw.Draw(canvas)
    draw.text((GAP + shown.width + GAP, GAP), title, fill=(0, 0, 0))
    for top, left, bottom, right in boxes:
        draw.rectangle([GAP + left * scale - 1, GAP + top * scale - 1, GAP + right * scale, GAP + bottom * scale],
                       outline=BOX, width=2)
    for k, (frame, ranked) in enumerate(zip(frames, tops)):
        x, y = frame_origin(k)
        block = PANEL // frame.shape[0]
        pixels = np.kron(np.round(np.clip(frame, 0, 1) * 255), np.ones((block, block))).astype(np.uint8)
        canvas.paste(Image.fromarray(pixels).convert("RGB"), (x, y))
        longest = max(1.0, ranked[0][1]) if ranked else 1.0  # decision scores: bars relative to the top one
        for line, (label, score) in enumerate(ranked[:3]):
            ty = y + PANEL + 4 + 20 * line
            draw.rectangle([x + 60, ty + 2, x + 60 + round(100 * min(max(score / longest, 0.0), 1.0)), ty + 12],
                           fill=(70, 110, 200))
            draw.text((x, ty), f"{label}: {score:.2f}", fill=(0, 0, 0))
    return canvas


def save(image: Any, path: Path) -> Path:
    """Write the picture as PNG atomically, signed ``Software: digitclf`` (so a later run may replace it)."""
    from PIL.PngImagePlugin import PngInfo

    from digitclf.runs import atomic_write

    info = PngInfo()
    info.add_text("Software", "digitclf")
    atomic_write(path, lambda fh: image.save(fh, format="PNG", pnginfo=info))
    return path
