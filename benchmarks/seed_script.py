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
    python benchmarks/seed_script.py --dataset digits --whole --out DIR   # the tutorial's whole digits part
    python benchmarks/seed_script.py --dataset idx --path DIR --sklearnex  # scikit-learn-intelex patched

``--whole`` adds what the tutorial's digits part does after scoring: the seaborn confusion
matrix (``sns.heatmap``, its exact arguments) and the grid of misclassified images, both
saved as PNGs into ``--out`` (the tutorial shows them in a notebook; a script saves them).
``--sklearnex`` calls ``sklearnex.patch_sklearn()`` before importing the estimator, as
scikit-learn-intelex's documentation says to.

It deliberately imports nothing from digitclf.
"""

import argparse
import gzip
from fractions import Fraction

import numpy as np


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
    parser.add_argument("--whole", action="store_true",
                        help="also draw and save the seaborn confusion matrix and the misclassified grid")
    parser.add_argument("--out", default=".", help="--whole: the folder the PNGs are saved into")
    parser.add_argument("--sklearnex", action="store_true", help="patch scikit-learn with scikit-learn-intelex")
    args = parser.parse_args()
    test_size = float(Fraction(args.test_size))
    if args.sklearnex:
        from sklearnex import patch_sklearn

        patch_sklearn()
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

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
    if args.whole:
        save_figures(x_test, y_test, predictions, score, args.out)
    print(score)


def save_figures(x_test, y_test, predictions, score, out):
    """The tutorial's confusion matrix (seaborn, method 1) and misclassified images, saved as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn import metrics

    cm = metrics.confusion_matrix(y_test, predictions)
    plt.figure(figsize=(9, 9))
    sns.heatmap(cm, annot=True, fmt=".3f", linewidths=.5, square=True, cmap="Blues_r")
    plt.ylabel("Actual label")
    plt.xlabel("Predicted label")
    all_sample_title = "Accuracy Score: {0}".format(score)
    plt.title(all_sample_title, size=15)
    plt.savefig(f"{out}/confusion_matrix.png")
    plt.close()

    side = int(round(np.sqrt(x_test.shape[1])))
    misclassifiedIndexes = [index for index, (label, predict) in enumerate(zip(y_test, predictions))
                            if label != predict]
    plt.figure(figsize=(20, 4))
    for plotIndex, badIndex in enumerate(misclassifiedIndexes[0:5]):
        plt.subplot(1, 5, plotIndex + 1)
        plt.imshow(np.reshape(x_test[badIndex], (side, side)), cmap=plt.cm.gray)
        plt.title("Predicted: {}, Actual: {}".format(predictions[badIndex], y_test[badIndex]), fontsize=15)
    plt.savefig(f"{out}/misclassified.png")
    plt.close()


if __name__ == "__main__":
    main()
