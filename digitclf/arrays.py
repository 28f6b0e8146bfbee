"""Helpers for large numpy arrays that are shared by the data loaders and the preprocessing."""

from __future__ import annotations

import mmap

import numpy as np


def release_pages(array: np.ndarray) -> None:
    """Take a memory-mapped array's pages out of this process's resident set.

    They stay in the page cache, so touching them again costs no I/O.  Only read-only
    mappings (the cache's): a copy-on-write map would lose its changes, and an in-memory
    array is left alone.
    """
    mapped = getattr(array, "_mmap", None)  # numpy.memmap's mmap.mmap (views share it)
    if isinstance(mapped, mmap.mmap) and getattr(array, "mode", None) == "r" and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)
