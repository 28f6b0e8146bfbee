"""The seed tutorial's plain script, the baseline digitclf is measured against.

A faithful copy of what the tutorial does: load the data, split it,
``LogisticRegression(solver='lbfgs')`` with every other parameter at its default,
fit, predict the test set, score, print the accuracy.  No plots, no saved model,
no recorded metrics: only the work the tutorial's own timing covered.

MNIST-format data is read the way a plain script would: each gzipped IDX file
decompressed with ``gzip`` and decoded with numpy, pixels as raw 0-255 float64.

    python benchmarks/seed_script.py --dataset digits
    python benchmarks/seed_script.py --dataset idx --path /usr/share/datasets/fashion-mnist
    python benchmarks/seed_script.py --dataset idx --path DIR --split random --test-size 1/7

It deliberately imports nothing from digitclf.
"""

import argparse
import gzip
from fractions import Fraction

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def read_idx_gz(path):
    """One gzipped IDX file -> an array (uint8 images or labels)."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_idx(folder, prefix):
    """One part ("train" or "t10k"): images flattened to rows of raw 0-255 pixels, integer labels."""
    images = read_idx_gz(f"{folder}/{prefix}-images-idx3-ubyte.gz")
    labels = read_idx_gz(f"{folder}/{prefix}-labels-idx1-ubyte.gz")
    return images.reshape(len(images), -1), labels.astype(np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "idx"), default="digits")
    parser.add_argument("--path", help="folder with the four gzipped IDX files (--dataset idx)")
    parser.add_argument("--split", choices=("predefined", "random"), default=None,
                        help="idx: the canonical 60k/10k split (default) or a seeded random split")
    parser.add_argument("--test-size", default="0.25", help="random split: a fraction such as 0.25 or 1/7")
    args = parser.parse_args()
    test_size = float(Fraction(args.test_size))

    if args.dataset == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(
            digits.data, digits.target, test_size=test_size, random_state=0)
    elif args.split == "random":  # the seed's MNIST code: all 70k images in one float64 array, then split
        (x_a, y_a), (x_b, y_b) = load_idx(args.path, "train"), load_idx(args.path, "t10k")
        data, target = np.concatenate([x_a, x_b]).astype(np.float64), np.concatenate([y_a, y_b])
        x_train, x_test, y_train, y_test = train_test_split(data, target, test_size=test_size, random_state=0)
    else:
        (x_train, y_train), (x_test, y_test) = load_idx(args.path, "train"), load_idx(args.path, "t10k")
        x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)

    # all parameters not specified are set to their defaults
    logisticRegr = LogisticRegression(solver="lbfgs")
    logisticRegr.fit(x_train, y_train)
    predictions = logisticRegr.predict(x_test)  # noqa: F841 - the tutorial predicts, then scores
    score = logisticRegr.score(x_test, y_test)
    print(score)


if __name__ == "__main__":
    main()
