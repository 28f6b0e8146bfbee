"""threads.blas_threads: the cap on BLAS threads, checked against what threadpoolctl reports."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.linalg  # noqa: F401 - loads scipy's own BLAS too, as scikit-learn's solvers do
from threadpoolctl import ThreadpoolController, threadpool_limits

from digitclf import threads
from helpers import blas_counts


@pytest.fixture
def two_blas_threads():
    """Every BLAS library at 2 threads for the test (whatever the machine's default), restored after."""
    if not blas_counts():
        pytest.skip("no BLAS library loaded that threadpoolctl can see")
    with threadpool_limits(limits=2, user_api="blas"):
        if set(blas_counts()) != {2}:
            pytest.skip(f"this BLAS will not run 2 threads (reports {blas_counts()})")
        yield


def test_blas_threads_caps_inside_and_restores_after(two_blas_threads):
    with threads.blas_threads(1):
        counts = blas_counts()
        assert counts and set(counts) == {1}
    assert set(blas_counts()) == {2}


def test_blas_threads_on_the_machine_default_restores_it():
    before = blas_counts()
    if not before or max(before) < 2:
        pytest.skip(f"BLAS runs {before} threads by default: nothing to cap")
    with threads.blas_threads(1):
        assert set(blas_counts()) == {1}
    assert blas_counts() == before


def test_blas_threads_never_raises_the_count(two_blas_threads):
    with threadpool_limits(limits=1, user_api="blas"):
        with threads.blas_threads(4):
            assert set(blas_counts()) == {1}
        assert set(blas_counts()) == {1}
    with threads.blas_threads(4):  # 2 threads, a cap of 4: stays at 2
        assert set(blas_counts()) == {2}
    assert set(blas_counts()) == {2}


def test_blas_threads_none_changes_nothing(two_blas_threads):
    with threadpool_limits(limits=1, user_api="blas"):
        with threads.blas_threads(None):
            assert set(blas_counts()) == {1}
    with threads.blas_threads(None):
        assert set(blas_counts()) == {2}


def test_blas_threads_never_raises_a_library_below_the_others(two_blas_threads):
    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    if len(libs) < 2:
        pytest.skip("one BLAS library loaded: counts cannot differ")
    libs[0].set_num_threads(1)  # restored by the fixture's threadpool_limits
    before = blas_counts()
    assert sorted(before)[0] == 1 and max(before) == 2
    with threads.blas_threads(4):  # the cap is the smallest count: no library goes up
        assert set(blas_counts()) == {1}
    assert blas_counts() == before


# ---------------------------------------------------------------- the model.blas_threads policy

LARGE = threads.AUTO_SINGLE_THREAD_CELLS


@pytest.mark.parametrize(("setting", "cells", "available", "chosen"), [
    ("auto", 1797 * 64, 2, 1),           # the digits quick start
    ("auto", 60_000 * 784, 2, 1),        # Fashion-MNIST's pixels: still below the threshold
    ("auto", LARGE - 1, 8, 1),
    ("auto", LARGE, 8, 8),               # large: every thread the caller has
    ("auto", LARGE, 8 // 4, 2),          # a sweep with --jobs 4 on 8 cores gave each worker 2
    ("auto", LARGE, 1, 1),
    ("auto", LARGE, None, 1),            # no BLAS seen: one
    (3, 100, 8, 3),                      # a count is an upper bound, whatever the size
    (3, 100, 2, 2),                      # ... and never more than the caller has (no oversubscription)
    (3, 100, None, 3),
    (None, LARGE, 2, None),              # null: the library's own
])
def test_policy_chooses_threads_from_size_and_what_is_available(setting, cells, available, chosen):
    assert threads.choose_blas_threads(setting, cells, available) == chosen


def test_policy_reads_the_cap_of_the_calling_thread(two_blas_threads):
    # a sweep worker caps its main thread; the run reads that before starting its fit thread
    assert threads.fit_blas_threads("auto", LARGE) == 2
    with threadpool_limits(limits=1, user_api="blas"):
        assert threads.fit_blas_threads("auto", LARGE) == 1
        assert threads.fit_blas_threads(4, 10) == 1
    assert threads.fit_blas_threads(None, LARGE) is None


def test_a_default_run_records_the_threads_it_chose(tmp_path):
    from digitclf.config import load_config
    from digitclf.runner import train
    from digitclf.runs import as_trained

    result = train(load_config("digits_lbfgs", ["output.plots=false"]), outputs=tmp_path)
    record = result.run.record()
    assert record.config.model.blas_threads == "auto" and record.blas_threads == 1
    from digitclf.datasets import load_dataset

    data = load_dataset(record.config.dataset)
    test_rows = np.load(result.run.file("split.npz"))["test_index"]
    assert np.array_equal(as_trained(result.model, record, "predict", data.X[test_rows]), result.y_pred)


@pytest.mark.parametrize(("cores", "overlap"), [(1, False), (2, True), (8, True)])
def test_a_helper_process_needs_a_second_core(monkeypatch, cores, overlap):
    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    assert threads.can_overlap() is overlap


def test_usable_cores_reads_the_affinity():
    assert 1 <= threads.usable_cores() <= (os.cpu_count() or 1)
