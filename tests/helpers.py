"""Plain helpers the test files share (fixtures live in conftest.py): tiny IDX data, run lookup, output checks."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


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


def make_idx(folder: Path, seed: int, mislabel: int = 0) -> Path:
    """A 28x28 IDX folder (200 train, 50 test); the first ``mislabel`` test labels are shifted by one."""
    x_train, y_train = tiny_images(200, seed=seed)
    x_test, y_test = tiny_images(50, seed=seed + 1)
    y_test[:mislabel] = (y_test[:mislabel] + 1) % 10
    for name, array in (("train-images-idx3-ubyte", x_train), ("train-labels-idx1-ubyte", y_train),
                        ("t10k-images-idx3-ubyte", x_test), ("t10k-labels-idx1-ubyte", y_test)):
        write_idx(folder / name, array, gz=True)
    return folder


def train(outputs: Path, *overrides: str):
    """runner.train on configs/digits_lbfgs.yaml with ``overrides``, into ``outputs``."""
    from digitclf import runner
    from digitclf.config import load_config

    cfg = load_config(REPO / "configs" / "digits_lbfgs.yaml", list(overrides))
    return runner.train(cfg, outputs=outputs)


def only_run(outputs: Path = Path("outputs")) -> Path:
    runs = [p.parent for p in outputs.glob("*/*/run.json")]
    assert len(runs) == 1, runs
    return runs[0]


def one_error_line(result) -> str:
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.rstrip("\n")


def png_size(path_or_bytes) -> tuple[int, int]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


# ---------------------------------------------------------------- an offline OpenML cache (see test_datasets_openml.py)

N_ROWS = 30
OFFLINE_REASON = "[Errno -3] Temporary failure in name resolution"


@dataclass
class OpenMLFixture:
    """What a builder wrote: the rows to expect back and where scikit-learn will look."""

    X: np.ndarray  # (n, 784) uint8, ARFF row order
    y: np.ndarray  # int64 labels
    arff: Path  # the cached ARFF file


def write_openml_fixture(data_home: Path, openml_name: str, data_id: int, file_id: int,
                         n: int = N_ROWS, seed: int = 0) -> OpenMLFixture:
    """Write the five files ``fetch_openml(openml_name, version=1)`` reads from its cache."""
    images, labels = tiny_images(n, seed=seed)
    X = images.reshape(n, -1)
    X[0, 0], X[1, -1] = 0, 255  # both ends of the pixel range survive the round trip
    y = labels.astype(np.int64)
    root = data_home / "openml" / "openml.org"

    def put(url_path: str, payload: bytes) -> Path:
        path = root / f"{url_path}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
        return path

    def put_json(url_path: str, document: dict) -> None:
        put(url_path, json.dumps(document).encode())

    lines = [f"@relation {openml_name}"]
    lines += [f"@attribute pixel{i} numeric" for i in range(1, X.shape[1] + 1)]
    lines += ["@attribute class {0,1,2,3,4,5,6,7,8,9}", "@data"]
    lines += [",".join(map(str, row)) + f",{label}" for row, label in zip(X, y)]
    arff = ("\n".join(lines) + "\n").encode()

    def feature(index: int, name: str, data_type: str, **extra: str) -> dict:
        return {"index": str(index), "name": name, "data_type": data_type, "is_target": "false",
                "is_ignore": "false", "is_row_identifier": "false", "number_of_missing_values": "0", **extra}

    features = [feature(i, f"pixel{i + 1}", "numeric") for i in range(X.shape[1])]
    features.append(feature(X.shape[1], "class", "nominal", is_target="true",
                            nominal_values=json.dumps([str(k) for k in range(10)])))

    # fetch_openml lower-cases the name before building the search URL
    put_json(f"api/v1/json/data/list/data_name/{openml_name.lower()}/limit/2/data_version/1",
             {"data": {"dataset": [{"did": data_id, "name": openml_name, "version": 1, "status": "active",
                                    "format": "ARFF", "file_id": file_id}]}})
    put_json(f"api/v1/json/data/{data_id}",
             {"data_set_description": {
                 "id": str(data_id), "name": openml_name, "version": "1", "format": "ARFF",
                 "description": "test fixture", "status": "active", "file_id": str(file_id),
                 "default_target_attribute": "class", "md5_checksum": hashlib.md5(arff).hexdigest(),
                 "url": f"https://api.openml.org/data/v1/download/{file_id}/{openml_name}.arff"}})
    put_json(f"api/v1/json/data/features/{data_id}", {"data_features": {"feature": features}})
    put_json(f"api/v1/json/data/qualities/{data_id}",
             {"data_qualities": {"quality": [{"name": "NumberOfInstances", "value": f"{n}.0"},
                                             {"name": "NumberOfFeatures", "value": f"{len(features)}.0"}]}})
    return OpenMLFixture(X, y, put(f"data/v1/download/{file_id}/{openml_name}.arff", arff))


def error_line(result) -> str:
    """The one Error: line on stderr (progress notes may precede it); no traceback."""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# ---------------------------------------------------------------- saved runs and the machine


def run_of(run_id: str):
    """The saved run ``run_id`` under ./outputs."""
    from digitclf.runs import resolve_run

    return resolve_run(run_id, Path("outputs"))


def make_unfinished(status: str):
    """A copy of a complete run marked with another status (a dead pid for 'running')."""
    import shutil
    import socket
    import subprocess
    import sys

    from digitclf.runs import RunDir, iter_runs

    source = iter_runs(Path("outputs"))[0]
    target = RunDir(source.path.parent / f"{source.id}-{status}")
    shutil.copytree(source.path, target.path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    target.update(id=target.id, status=status, pid=int(dead.stdout), host=socket.gethostname())
    return target


def blas_counts() -> list[int]:
    """num_threads of every loaded BLAS library, as threadpoolctl reports them."""
    import scipy.linalg  # noqa: F401 - loads scipy's own BLAS too, as scikit-learn's solvers do
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def resident_file_kb() -> int | None:
    """RssFile (+ RssShmem: a mapped file on tmpfs is counted there) from /proc/self/status, in kB."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "RssFile" not in fields:
        return None
    return sum(int(fields[key].split()[0]) for key in ("RssFile", "RssShmem") if key in fields)


# ---------------------------------------------------------------- the data cache


def flip_last_pixel(folder: Path) -> None:
    blob = bytearray((folder / "X.npy").read_bytes())
    blob[-1] ^= 0x01
    (folder / "X.npy").write_bytes(bytes(blob))


def checksum_error(folder: Path) -> str:
    return (f"cached mnist failed its checksum test (X.npy); run 'digitclf data fetch mnist --force' "
            f"or delete {folder}")
