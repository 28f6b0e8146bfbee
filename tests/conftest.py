"""Shared fixtures: every test runs in its own folder with its own outputs/ and data cache."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import os

import numpy as np
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from digitclf.cli import app

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# CI replays the same examples every run (no flaky failures); locally hypothesis explores anew each time
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """cwd = a fresh folder (so outputs/ is private); DIGITCLF_DATA and SCIKIT_LEARN_DATA point inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGITCLF_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn_data"))
    monkeypatch.delenv("DIGITCLF_DEBUG", raising=False)
    configs = Path(__file__).resolve().parent.parent / "configs"
    (tmp_path / "configs").symlink_to(configs)
    return tmp_path


@pytest.fixture
def cli():
    """Invoke the CLI in-process: cli("train", "--json") -> click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(app, list(args), **kwargs)

    return invoke


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write an array in the IDX format (uint8 data), gzipped if asked."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def tiny_images(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n learnable images: class k has a bright horizontal bar at row 2k (plus noise)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    X = rng.integers(0, 40, size=(n, side, side), dtype=np.uint8)
    for i, label in enumerate(y):
        X[i, 2 * label: 2 * label + 2, 4: side - 4] = 250
    return X, y.astype(np.uint8)


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    """A small MNIST-format folder (gzipped IDX): 200 train, 50 test images of 28x28."""
    folder = tmp_path / "idxdata"
    x_train, y_train = tiny_images(200, seed=1)
    x_test, y_test = tiny_images(50, seed=2)
    write_idx(folder / "train-images-idx3-ubyte", x_train, gz=True)
    write_idx(folder / "train-labels-idx1-ubyte", y_train, gz=True)
    write_idx(folder / "t10k-images-idx3-ubyte", x_test, gz=True)
    write_idx(folder / "t10k-labels-idx1-ubyte", y_test, gz=True)
    return folder
