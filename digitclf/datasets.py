"""Named data sets, the IDX and npz readers, the OpenML fetch and the local cache.

Every data set is returned as a ``Dataset``: all images flattened into one
``(n, height*width)`` array (the canonical training part first when there is
one), labels, the image shape and a fingerprint of the content.

A named MNIST-style set is resolved in this order: an explicit ``path:`` (parsed once, then
memory-mapped from the cache while its files' XXH3-128 is unchanged) -> the
digitclf cache (memory-mapped uint8 ``.npy`` files, checked on every load
against the checksums recorded when they were written) -> a system folder (Debian's ``dataset-fashion-mnist``) -> OpenML
through ``sklearn.datasets.fetch_openml``, converted once into the cache.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitclf.arrays import release_pages
from digitclf.errors import ConfigError, DatasetError, suggest
from digitclf.paths import article, kind as path_kind
from digitclf.records import ArrayEntry, CacheManifest, now, read

if TYPE_CHECKING:
    from digitclf.config import DatasetConfig, SplitConfig


@dataclass(frozen=True)
class DatasetSpec:
    """What the registry knows about a named data set (no data is read)."""

    description: str
    openml: str | None = None  # OpenML name for fetch_openml
    openml_version: int = 1
    openml_target_column: int = 784  # position of the class column in the ARFF
    n_train: int | None = None  # canonical training rows, first in OpenML order
    system_dirs: tuple[str, ...] = ()
    needs_path: bool = False
    predefined_split: bool = True
    class_names: tuple[str, ...] | None = None
    # fingerprints of the canonical data (any source but OpenML, whose copy could not be checked here):
    # a copy with another fingerprint under this name is refused
    fingerprints: tuple[str, ...] = ()


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec("scikit-learn's embedded 8x8 digits (1,797 images, offline)", predefined_split=False,
                          fingerprints=("sha256:dc74e1ed55181898",)),
    "mnist": DatasetSpec("MNIST handwritten digits, 28x28, 60k/10k (OpenML mnist_784)",
                         openml="mnist_784", n_train=60000),
    "fashion-mnist": DatasetSpec("Zalando Fashion-MNIST, 28x28, 60k/10k (OpenML Fashion-MNIST)",
                                 openml="Fashion-MNIST", n_train=60000,
                                 system_dirs=("/usr/share/datasets/fashion-mnist",),
                                 class_names=FASHION_CLASSES,
                                 fingerprints=("sha256:8d92f3aae4a93603",)),  # Zalando's IDX files (Debian's package)
    "idx": DatasetSpec("any MNIST-format folder of IDX files given by path: (EMNIST, KMNIST, ...)", needs_path=True),
    "npz": DatasetSpec("a Keras-style .npz with x_train/y_train/x_test/y_test given by path:", needs_path=True),
}


@dataclass
class Dataset:
    """Images flattened to rows, labels, and what is needed to trust and redraw them."""

    name: str
    X: np.ndarray
    y: np.ndarray
    image_shape: tuple[int, int]
    n_train: int | None  # rows [0, n_train) are the canonical training set
    source: str
    fingerprint: str
    pixel_max: float = 255.0
    class_names: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> np.ndarray:
        return np.unique(self.y)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "fingerprint": self.fingerprint,
                "n_samples": int(self.X.shape[0]), "n_features": int(self.X.shape[1]),
                "image_shape": list(self.image_shape), "n_train_canonical": self.n_train,
                "pixel_max": self.pixel_max, "dtype": str(self.X.dtype)}


def class_names(name: str) -> tuple[str, ...] | None:
    """Names of a registry set's classes (Fashion-MNIST), or None when labels are their own names."""
    spec = DATASETS.get(name)
    return spec.class_names if spec else None


def dataset_config(ref: str) -> "DatasetConfig":
    """A ``--dataset`` value: a registry name (mnist), or a path to an IDX folder or a Keras-style .npz."""
    from digitclf.config import DatasetConfig

    if not ref.strip():
        raise ConfigError(f"--dataset is empty; give a data set name ({', '.join(DATASETS)}) or a path")
    if ref in DATASETS:
        return DatasetConfig(name=ref)
    path = Path(ref).expanduser()
    if path.exists():
        return DatasetConfig(name="npz" if path.suffix == ".npz" else "idx", path=path)
    raise ConfigError(f"--dataset: {ref!r} is neither a known data set{suggest(ref, DATASETS)} "
                      f"({', '.join(DATASETS)}) nor an existing IDX folder or .npz file")


# ---------------------------------------------------------------- checks before loading


def check_spec(cfg: "DatasetConfig", split: "SplitConfig | None" = None) -> DatasetSpec:
    """Reject an unknown name, a missing path or an impossible split without reading data."""
    spec = DATASETS.get(cfg.name)
    if spec is None:
        raise ConfigError(f"dataset.name: unknown data set {cfg.name!r}{suggest(cfg.name, DATASETS)}; "
                          f"known: {', '.join(DATASETS)}")
    if spec.needs_path and cfg.path is None:
        raise ConfigError(f"dataset.name: {cfg.name!r} needs dataset.path (a folder of IDX files or an .npz file)")
    if cfg.path is not None:
        found = path_kind(Path(cfg.path).expanduser()) if _lookable(cfg.path) else "missing"
        if found == "missing":
            raise ConfigError(f"dataset.path: {str(cfg.path)!r} does not exist; point it at a folder of IDX files "
                              "or an .npz")
        if found not in ("file", "folder"):
            raise ConfigError(f"dataset.path: {str(cfg.path)!r} is {article(found)}; point it at a folder of IDX "
                              "files or an .npz file")
        if found == "file" and Path(cfg.path).suffix != ".npz":
            raise ConfigError(f"dataset.path: {str(cfg.path)!r} is neither a folder of IDX files nor an .npz "
                              "file; point it at one of those")
        if found == "folder":
            try:
                files = _source_files(Path(cfg.path).expanduser())  # the four files are there (read when loading)
            except DatasetError as exc:
                raise ConfigError(f"dataset.path: {exc}") from None
            for file in files:
                if path_kind(file) != "file":
                    raise ConfigError(f"dataset.path: {file} is {article(path_kind(file))}, not a file; put the "
                                      "IDX file itself there")
    if split is not None and split.kind == "predefined" and not spec.predefined_split and cfg.path is None:
        raise ConfigError(f"split.kind: {cfg.name!r} has no predefined train/test split; use kind: random")
    return spec


def _lookable(path: str | Path) -> bool:
    """False for paths the OS cannot even look up (~unknownuser, names too long)."""
    try:
        Path(path).expanduser().exists()
        return True
    except (RuntimeError, OSError):
        return False


# ---------------------------------------------------------------- readers

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path: Path) -> bytes:
    found = path_kind(path)
    if found != "file":
        raise DatasetError(f"cannot read {path}: it is {article(found)}, not a file; give the IDX file itself")
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read {path}: {exc}; re-download or re-export the file") from None


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes (the MNIST format: magic 0x0000 + dtype + ndim, big-endian sizes)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise DatasetError(f"{source} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}); "
                           "expected the MNIST format, e.g. train-images-idx3-ubyte")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{source} is truncated inside its header; re-download it")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a forged header cannot overflow
    if len(data) - header != expected:
        raise DatasetError(f"{source} has {len(data) - header} data bytes but its header {shape} says {expected}; "
                           "the file is truncated or corrupt, re-download it")
    try:
        array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    except ValueError:  # e.g. a zero dimension beside sizes no array can have
        raise DatasetError(f"{source} has impossible sizes in its header {shape}; the file is corrupt") from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | Path) -> np.ndarray:
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


_IDX_PARTS = {"x_train": ("train", "images", "idx3"), "y_train": ("train", "labels", "idx1"),
              "x_test": ("t10k", "images", "idx3"), "y_test": ("t10k", "labels", "idx1")}


def _find_idx(folder: Path, part: str) -> Path:
    prefix, kind, dims = _IDX_PARTS[part]
    names = [f"{prefix}-{kind}-{dims}-ubyte", f"{prefix}-{kind}.{dims}-ubyte"]
    if prefix == "t10k":
        names += [f"test-{kind}-{dims}-ubyte", f"test-{kind}.{dims}-ubyte"]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if path_kind(candidate) != "missing":
                return candidate  # a FIFO or a folder under that name is refused when it is read
    raise DatasetError(f"{folder} has no {prefix}-{kind}-{dims}-ubyte[.gz]; an IDX folder needs the four "
                       "standard files (train/t10k images and labels)")


def read_idx_folder(folder: str | Path) -> dict[str, np.ndarray]:
    folder = Path(folder)
    return {part: read_idx(_find_idx(folder, part)) for part in _IDX_PARTS}


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    found = path_kind(path)
    if found != "file":
        raise DatasetError(f"cannot read {path}: it is {article(found)}, not an .npz file")
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path} is not an .npz file (not a zip archive); save one with "
                           "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _IDX_PARTS if k not in npz.files]
            if missing:
                raise DatasetError(f"{path} lacks {', '.join(missing)}; a Keras-style .npz holds "
                                   "x_train, y_train, x_test and y_test")
            parts = {k: npz[k] for k in _IDX_PARTS}
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot read {path} as .npz: {' '.join(str(exc).split())[:200]}") from None
    for key, array in parts.items():
        if array.dtype.kind not in "biuf":  # structured, complex, text or object arrays are not pixels or labels
            raise DatasetError(f"{path}: {key} holds {array.dtype} values; pixels and labels must be plain "
                               "integers or floats")
    return parts


def _combine(parts: dict[str, np.ndarray], source: str) -> tuple[np.ndarray, np.ndarray, int, tuple[int, int]]:
    """Stack train then test into one (n, h*w) array; check shapes and counts agree."""
    x_train, y_train, x_test, y_test = (parts[k] for k in _IDX_PARTS)
    for xs, ys, which in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if xs.ndim != 3:
            raise DatasetError(f"{source}: {which} images have shape {xs.shape}; expected (n, height, width)")
        if ys.ndim != 1:
            raise DatasetError(f"{source}: {which} labels have shape {ys.shape}; expected one label per image "
                               "(an idx1-ubyte file)")
        if len(ys) != len(xs):
            raise DatasetError(f"{source}: {len(xs)} {which} images but {len(ys)} labels; "
                               "the image and label files must match")
        if len(xs) == 0 or 0 in xs.shape[1:]:
            raise DatasetError(f"{source}: the {which} part holds no images (shape {xs.shape}); "
                               "every part needs at least one image")
        if xs.dtype.kind == "f" and not np.all(np.isfinite(xs)):
            raise DatasetError(f"{source}: {which} images hold NaN or infinite pixels; every pixel must be a number")
        if ys.dtype.kind == "f" and not np.all(np.isfinite(ys) & (ys == np.round(ys))):
            raise DatasetError(f"{source}: {which} labels are not whole numbers; labels are class numbers 0, 1, ...")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(f"{source}: train images are {x_train.shape[1:]} but test images {x_test.shape[1:]}")
    shape = (int(x_train.shape[1]), int(x_train.shape[2]))
    X = np.concatenate([x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)])
    y = np.concatenate([y_train, y_test]).astype(np.int64)
    return X, y, len(x_train), shape


# ---------------------------------------------------------------- fingerprints and the cache


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


def _xxh3(array: np.ndarray) -> str:
    """XXH3-128 of the array's bytes: the cache's per-load check (many times faster than sha256;
    benchmarks/RESULTS.md has the figures)."""
    import xxhash

    return xxhash.xxh3_128_hexdigest(memoryview(np.ascontiguousarray(array)).cast("B"))


def _intact(array: np.ndarray, entry: ArrayEntry, full: bool) -> bool:
    """Check every byte against the XXH3-128, or (``full``) against the sha256 that makes the fingerprint;
    a full check also records the XXH3-128 (the caller saves the manifest)."""
    if not full:
        return entry.xxh3_128 is not None and _xxh3(array) == entry.xxh3_128
    if _sha256(array) != entry.sha256:
        return False
    fast = _xxh3(array)
    if entry.xxh3_128 is not None and fast != entry.xxh3_128:
        return False
    entry.xxh3_128 = fast
    return True


def check_canonical(name: str, fingerprint: str, what: str, fix: str | None = None) -> None:
    """Refuse a copy of a named set whose content is not the canonical one the registry pins."""
    spec = DATASETS.get(name)
    if spec is not None and spec.fingerprints and fingerprint not in spec.fingerprints:
        raise DatasetError(f"{what} has fingerprint {fingerprint}, but {name} is {', '.join(spec.fingerprints)}: "
                           f"it is not the canonical {name} (altered, or another data set); "
                           f"{fix or 'for other data use dataset.name: idx (or npz) with the same path'}")


def fingerprint(X: np.ndarray, y: np.ndarray, n_train: int | None) -> str:
    return _fingerprint(_sha256(X), _sha256(y), n_train, X.shape)


def _fingerprint(x_sha: str, y_sha: str, n_train: int | None, shape: tuple[int, ...]) -> str:
    text = json.dumps([x_sha, y_sha, n_train, list(shape)])
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """``$DIGITCLF_DATA``, else ``$XDG_CACHE_HOME/digitclf``, else ``~/.cache/digitclf``."""
    if os.environ.get("DIGITCLF_DATA"):
        return Path(os.environ["DIGITCLF_DATA"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "digitclf"


def cache_manifest(name: str) -> CacheManifest | None:
    """The cache entry's manifest; None when ``name`` is not cached, a DatasetError when it is damaged."""
    path = cache_dir() / name / "manifest.json"
    if not path.exists():
        return None
    try:
        return read(CacheManifest, path, DatasetError, owner=f"cached {name}")
    except DatasetError as exc:
        raise DatasetError(f"{exc}; {_repair_hint(name)}") from None


def _repair_hint(name: str) -> str:
    return f"run 'digitclf data fetch {name} --force' or delete {cache_dir() / name}"


def cache_load(name: str, *, verify: bool = True) -> Dataset | None:
    """The cached arrays memory-mapped, after their checksum check; None when not cached.

    Each load hashes every byte with XXH3-128;
    the sha256 in the manifest makes the data set's fingerprint.
    """
    from digitclf import signing

    folder = cache_dir() / name
    manifest = cache_manifest(name)
    if manifest is None:
        return None
    arrays = {}
    entries = {"X": manifest.arrays.X, "y": manifest.arrays.y}
    # a manifest signed with this user's key and holding XXH3 checksums takes the fast check; any other
    # (older, another user's, or edited) has every byte checked against its sha256 and is signed anew
    full = verify and (not signing.verifies(manifest.signature, *manifest.signed_parts(name))
                       or any(entry.xxh3_128 is None for entry in entries.values()))
    for key, entry in entries.items():
        try:
            arrays[key] = np.load(folder / entry.file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cached {name} is damaged ({entry.file}: {exc}); {_repair_hint(name)}") from None
        if verify and not _intact(arrays[key], entry, full):
            raise DatasetError(f"cached {name} failed its checksum test ({entry.file}); {_repair_hint(name)}")
        release_pages(arrays[key])  # the check read every page; the run maps back only what it uses
    if arrays["X"].shape != tuple(manifest.shape) or arrays["y"].shape != (manifest.shape[0],):
        raise DatasetError(f"cached {name} is damaged (its arrays are {arrays['X'].shape} and {arrays['y'].shape}, "
                           f"its manifest says {tuple(manifest.shape)}); {_repair_hint(name)}")
    if full:
        derived = _fingerprint(entries["X"].sha256, entries["y"].sha256, manifest.n_train, tuple(manifest.shape))
        if derived != manifest.fingerprint:
            raise DatasetError(f"cached {name} is damaged: its manifest gives fingerprint {manifest.fingerprint} but "
                               f"its data has {derived}; {_repair_hint(name)}")
    if not manifest.source.startswith("openml:"):
        check_canonical(name, manifest.fingerprint, f"cached {name} ({manifest.source})", _repair_hint(name))
    if full:  # every byte checked just now: sign it so later loads take the fast check
        manifest.signature = signing.sign(*manifest.signed_parts(name))
        _write_manifest(folder, manifest)
    spec = DATASETS.get(name)
    return Dataset(name=name, X=arrays["X"], y=arrays["y"], image_shape=tuple(manifest.image_shape),
                   n_train=manifest.n_train, source=f"cache:{folder}", fingerprint=manifest.fingerprint,
                   class_names=spec.class_names if spec else None)


def clear_leftovers(root: Path) -> list[Path]:
    """Remove the temp folders of cache writes whose process is gone (a killed ``data import``)."""
    import re

    from digitclf.runs import process_alive

    removed = []
    for folder in root.glob(".*-*"):
        match = re.fullmatch(r"\..+-(?:tmp|old)-(\d+)(?:-.*)?", folder.name)
        if match and folder.is_dir() and not folder.is_symlink() and not process_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _write_manifest(folder: Path, manifest: CacheManifest) -> None:
    """Replace manifest.json atomically; best effort (a read-only cache keeps the old one)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=folder)
    except OSError:
        return
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest.to_json(), fh, indent=2)
        os.replace(tmp, folder / "manifest.json")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def cache_store(name: str, X: np.ndarray, y: np.ndarray, n_train: int | None,
                image_shape: tuple[int, int], source: str) -> Path:
    """Write arrays into the cache atomically: a private temp folder renamed into place."""
    final = cache_dir() / name
    root = final.parent  # the cache itself, or its by-path/ folder
    try:
        return _store(final, root, name, X, y, n_train, image_shape, source)
    except OSError as exc:
        in_way = next((p for p in (root, *root.parents) if path_kind(p) != "missing"), root)
        what = path_kind(in_way)
        why = (f"{in_way} is {article(what)}" if what != "folder"
               else f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else ""))
        raise DatasetError(f"cannot write {name} into the data cache {cache_dir()}: {why}; set DIGITCLF_DATA to a "
                           "folder you can write (it is created if missing), or free disk space") from None


def _store(final: Path, root: Path, name: str, X: np.ndarray, y: np.ndarray, n_train: int | None,
           image_shape: tuple[int, int], source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    clear_leftovers(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-tmp-{os.getpid()}-", dir=root))
    try:
        X = np.ascontiguousarray(X, dtype=np.uint8)
        y = np.ascontiguousarray(y, dtype=np.int64)
        np.save(tmp / "X.npy", X)
        np.save(tmp / "y.npy", y)
        x_sha, y_sha = _sha256(X), _sha256(y)
        from digitclf import signing

        manifest = CacheManifest.model_validate({
            "name": name, "source": source, "created": now(), "image_shape": list(image_shape),
            "n_train": n_train, "shape": list(X.shape), "fingerprint": _fingerprint(x_sha, y_sha, n_train, X.shape),
            "arrays": {"X": {"file": "X.npy", "sha256": x_sha, "xxh3_128": _xxh3(X)},
                       "y": {"file": "y.npy", "sha256": y_sha, "xxh3_128": _xxh3(y)}}})
        manifest.signature = signing.sign(*manifest.signed_parts(name))
        (tmp / "manifest.json").write_text(json.dumps(manifest.to_json(), indent=2))
        if final.exists():  # replacing (--force) or a damaged entry: move the old one aside first
            old = root / f".{final.name}-old-{os.getpid()}"
            try:
                os.replace(final, old)
            except FileNotFoundError:  # another process moved it meanwhile
                pass
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "manifest.json").is_file():  # another process won the race with a valid entry otherwise
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# ---------------------------------------------------------------- sources


def fetch_openml_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Download (or read from scikit-learn's own cache) an OpenML set as uint8 pixels and int labels.

    With pandas >= 3.1 scikit-learn's pandas parser cannot read mnist_784's class
    column; we fall back to the liac-arff parser.  The pandas parser returns int64
    pixels: both become uint8 here.
    """
    spec = DATASETS[name]
    from sklearn.datasets import fetch_openml

    errors = []
    for parser in ("pandas", "liac-arff"):
        try:
            # pandas >= 3.1 reads the bare-digit class column as integer categories, which
            # scikit-learn's pandas parser rejects (and then deletes its cached ARFF): read it as text
            read_csv = {"dtype": {spec.openml_target_column: "str"}} if parser == "pandas" else None
            with warnings.catch_warnings():  # scikit-learn warns (multi-line) on each retry; we report once
                warnings.simplefilter("ignore")
                bunch = fetch_openml(spec.openml, version=spec.openml_version, as_frame=False, parser=parser,
                                     read_csv_kwargs=read_csv)
            break
        except ImportError as exc:  # pandas missing: the liac-arff parser needs nothing
            errors.append(f"{parser}: {exc}")
        except (OSError, ConnectionError) as exc:
            raise DatasetError(f"cannot fetch {name} from OpenML ({_reason(exc)}); with no network, point "
                               f"dataset.path at a folder of IDX files or run 'digitclf data import {name} PATH'") from None
        except Exception as exc:  # noqa: BLE001 - parser failures vary by pandas/scikit-learn version
            errors.append(f"{parser}: {type(exc).__name__}: {exc}")
    else:
        raise DatasetError(f"cannot parse OpenML {spec.openml}: {'; '.join(errors)}")
    X, target = np.asarray(bunch.data), np.asarray(bunch.target)
    fix = (f"if scikit-learn's OpenML cache ({os.environ.get('SCIKIT_LEARN_DATA') or '~/scikit_learn_data'}) "
           f"was altered, delete its openml folder and fetch again")
    side = math.isqrt(X.shape[1]) if X.ndim == 2 else 0
    if X.ndim != 2 or not len(X) or side * side != X.shape[1] or len(target) != len(X):
        raise DatasetError(f"OpenML {spec.openml} came as {X.shape} pixels and {len(target)} labels, not square "
                           f"images with one label each; {fix}")
    if X.dtype.kind not in "iuf" or not np.isfinite(X).all() or X.min() < 0 or X.max() > 255 \
            or (X.dtype.kind == "f" and (X != np.round(X)).any()):
        raise DatasetError(f"OpenML {spec.openml} has pixel values that are not whole numbers in 0-255; not an "
                           f"MNIST-style set; {fix}")
    try:
        y = target.astype(np.int64)
    except (TypeError, ValueError):
        raise DatasetError(f"OpenML {spec.openml} has labels that are not whole numbers (e.g. "
                           f"{next((v for v in target if not str(v).strip().isdigit()), '?')!r}); {fix}") from None
    return X.astype(np.uint8), y


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc).splitlines()[0][:120]


def import_to_cache(name: str, path: str | Path) -> Path:
    """Read an IDX folder or .npz and store it in the cache under ``name``."""
    importable = [key for key, spec in DATASETS.items() if spec.openml]  # the sets a run reads from the cache
    if name not in importable:
        raise ConfigError(f"cannot import into {name!r}: only {', '.join(importable)} are read from the cache; "
                          "use other IDX or .npz data where it is, with dataset: {name: idx, path: PATH} "
                          "(or npz) in the config (it is cached on its first run)")
    X, y, n_train, shape = _combine(_read_path(Path(path)), str(path))
    _check_labels(y, str(path), class_names(name))
    check_canonical(name, fingerprint(X, y, n_train), str(path),  # before anything is written
                    f"for other data use dataset: {{name: idx, path: {path}}} (or npz) in the config")
    return cache_store(name, X, y, n_train, shape, source=f"import:{Path(path).resolve()}")


def fetch_to_cache(name: str, progress: Any = None) -> Path:
    spec = DATASETS.get(name)
    if spec is None or spec.openml is None:
        fetchable = [k for k, s in DATASETS.items() if s.openml]
        raise ConfigError(f"{name!r} cannot be fetched{suggest(name, fetchable)}; fetchable: {', '.join(fetchable)}")
    if progress is not None:
        progress(f"fetching {name} from OpenML ({spec.openml}); this happens once, then it is cached")
    X, y = fetch_openml_arrays(name)
    side = math.isqrt(X.shape[1])
    return cache_store(name, X, y, spec.n_train, (side, side), source=f"openml:{spec.openml}")


def _read_path(path: Path) -> dict[str, np.ndarray]:
    path = path.expanduser()
    if path.is_dir():
        return read_idx_folder(path)
    if path.suffix == ".npz":
        return read_npz(path)
    if not path.exists():
        raise DatasetError(f"{path} does not exist; give a folder of IDX files or an .npz file")
    raise DatasetError(f"{path} is neither a folder of IDX files nor an .npz file")


def _check_labels(y: np.ndarray, source: str, class_names: tuple[str, ...] | None = None) -> None:
    if len(np.unique(y)) < 2:
        raise DatasetError(f"{source} has a single class ({y[0] if len(y) else 'no labels'}); "
                           "classification needs at least two")
    if class_names is not None and (y.min() < 0 or y.max() >= len(class_names)):
        raise DatasetError(f"{source}: labels run from {y.min()} to {y.max()}, but this data set's classes are "
                           f"0-{len(class_names) - 1} ({', '.join(class_names[:3])}, ...); "
                           "use dataset.name: idx or npz for other labels")


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data.astype(np.uint8)  # integer counts 0..16, exactly representable
    y = digits.target.astype(np.int64)
    found = fingerprint(X, y, None)
    check_canonical("digits", found, "scikit-learn's load_digits()")
    return Dataset("digits", X, y, (8, 8), None, "sklearn.datasets.load_digits", found, pixel_max=16.0)


def _source_files(path: Path) -> list[Path]:
    """The files a data set given by path is read from (the four IDX files, or the .npz)."""
    if path.is_dir():
        return [_find_idx(path, part) for part in _IDX_PARTS]
    return [path]


def _files_digest(files: list[Path]) -> str | None:
    """XXH3-128 over the files' names and bytes; None when one cannot be read (the reader then says why)."""
    import xxhash

    digest = xxhash.xxh3_128()
    try:
        for file in files:
            if path_kind(file) != "file":
                return None
            digest.update(file.name.encode() + b"\0")
            with open(file, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def path_cache_name(name: str, path: Path) -> str:
    """The cache entry of a data set given by path: one per name and resolved path, under ``by-path/``."""
    import xxhash

    key = xxhash.xxh3_64_hexdigest(f"{name}\n{path.resolve()}".encode())
    return f"by-path/{name}-{key}"


def _load_path(cfg: "DatasetConfig", spec: DatasetSpec) -> Dataset:
    """A data set given by path, from the memory-mapped cache when its files are unchanged.

    The cache entry records the files' XXH3-128 in its (signed) source; the files are hashed on
    every load, and any change -- or a damaged entry -- parses them again and replaces the entry.
    """
    path = Path(cfg.path).expanduser()
    digest = _files_digest(_source_files(path))
    entry, source = path_cache_name(cfg.name, path), f"path:{path.resolve()}"
    if digest is not None:
        with contextlib.suppress(DatasetError):  # damaged or stale: parsed again below
            manifest = cache_manifest(entry)
            if manifest is not None and manifest.source == f"{source}#xxh3:{digest}":
                cached = cache_load(entry)
                if cached is not None:
                    check_canonical(cfg.name, cached.fingerprint, str(path))
                    return Dataset(cfg.name, cached.X, cached.y, cached.image_shape, cached.n_train, source,
                                   cached.fingerprint, class_names=spec.class_names)
    X, y, n_train, shape = _combine(_read_path(path), str(path))
    _check_labels(y, str(path), spec.class_names)
    found = fingerprint(X, y, n_train)
    check_canonical(cfg.name, found, str(path))
    if digest is not None and X.dtype == np.uint8 and y.dtype.kind in "iu":  # the cache holds uint8 pixels only
        with contextlib.suppress(OSError, DatasetError):  # a read-only cache: the next run parses again
            cache_store(entry, X, y, n_train, shape, source=f"{source}#xxh3:{digest}")
    return Dataset(cfg.name, X, y, shape, n_train, source, found, class_names=spec.class_names)


def load_dataset(cfg: "DatasetConfig", *, progress: Any = None) -> Dataset:
    """Resolve and load a data set as configured (see the module docstring for the order)."""
    spec = check_spec(cfg)
    say = progress or (lambda message: None)
    if cfg.path is not None:
        return _load_path(cfg, spec)
    if cfg.name == "digits":
        return _load_digits()
    cached = cache_load(cfg.name)
    if cached is not None:
        return cached
    for folder in spec.system_dirs:
        if Path(folder).is_dir():
            say(f"importing {cfg.name} from {folder} into the cache at {cache_dir()}")
            try:
                import_to_cache(cfg.name, folder)
            except DatasetError as exc:
                if not str(exc).startswith("cannot write"):
                    raise
                say(f"{exc}; reading {folder} without the cache this time")  # an unwritable cache loses no run
                return _load_path(cfg.model_copy(update={"path": Path(folder)}), spec)
            return cache_load(cfg.name)
    fetch_to_cache(cfg.name, progress=say)
    return cache_load(cfg.name)


def list_datasets() -> list[dict[str, Any]]:
    """One row per known data set: description, whether and where it is cached, its size on disk
    (and the leftovers of cache writes whose process died are removed)."""
    if cache_dir().is_dir():
        clear_leftovers(cache_dir())
    rows = []
    for name, spec in DATASETS.items():
        try:
            manifest, damaged = cache_manifest(name), False
        except DatasetError:
            manifest, damaged = None, True
        size = sum(p.stat().st_size for p in (cache_dir() / name).glob("*") if p.is_file()) if manifest else 0
        local = next((d for d in spec.system_dirs if Path(d).is_dir()), None)
        fallback = ("embedded" if name == "digits" else f"system:{local}" if local else
                    "needs path:" if spec.needs_path else "OpenML")
        rows.append({"name": name, "description": spec.description,
                     "cached": manifest is not None, "cache_bytes": size,
                     "samples": manifest.shape[0] if manifest else None,
                     "source": manifest.source if manifest else f"damaged cache; {_repair_hint(name)}" if damaged
                     else fallback})
    return rows


# ---------------------------------------------------------------- split


def split_indices(dataset: Dataset, cfg: "SplitConfig") -> tuple[np.ndarray | slice, np.ndarray | slice]:
    """Train and test rows: the canonical split as slices (no copy), or a seeded random split."""
    n = len(dataset.y)
    if cfg.kind == "predefined":
        if dataset.n_train is None:
            raise ConfigError(f"split.kind: {dataset.name!r} has no predefined train/test split; use kind: random")
        return slice(0, dataset.n_train), slice(dataset.n_train, n)
    test = cfg.test_size
    if isinstance(test, int) and test >= n:
        raise ConfigError(f"split.test_size: {test} test images but the data set has only {n}; "
                          f"use a fraction such as 0.25")
    from sklearn.model_selection import train_test_split

    try:
        train_idx, test_idx = train_test_split(np.arange(n), test_size=test, random_state=cfg.random_state,
                                               stratify=dataset.y if cfg.stratify else None)
    except ValueError as exc:
        raise ConfigError(f"split: {exc}") from None
    return train_idx, test_idx
