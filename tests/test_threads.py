"""threads.blas_threads: the cap on BLAS threads, checked against what threadpoolctl reports."""

from __future__ import annotations

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
