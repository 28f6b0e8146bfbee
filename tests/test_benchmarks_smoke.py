"""The benchmark suite runs end to end on digits (one repeat), so it cannot rot unnoticed.

The timings themselves are not asserted (no timed assertions); what is checked is
that both sides ran, report the accuracy scikit-learn gives directly, and that
the report is printed, written and keeps its hand-written notes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "benchmarks" / "run.py"

pytestmark = pytest.mark.slow  # each test runs benchmarks/run.py in a fresh interpreter


@pytest.fixture
def runner(monkeypatch):
    """benchmarks/run.py as a module (benchmarks/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmarks_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmarks_run", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits_accuracy() -> float:
    """The seed's digits workload computed directly with scikit-learn."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target, test_size=0.25, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(solver="lbfgs").fit(x_train, y_train).score(x_test, y_test)


def test_digits_suite_reports_both_sides_and_keeps_notes(tmp_path, runner, digits_accuracy):
    marker = runner.NOTES_MARKER
    out = tmp_path / "RESULTS.md"
    out.write_text(f"# old numbers\n\n{marker}\n\n## Notes\nhand-written analysis\n")

    proc = subprocess.run([sys.executable, str(RUNNER), "--workloads", "digits", "--repeats", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)

    assert proc.returncode == 0, proc.stderr
    report = out.read_text()
    assert report.startswith(proc.stdout)  # what was printed is what was written, then the kept notes
    assert "# old numbers" not in report
    assert report.endswith(f"{marker}\n\n## Notes\nhand-written analysis\n")
    rows = {m.group(1): m.group(2).split(" | ") for m in re.finditer(r"^\| ([AB]: [^|]+?) \| (.*) \|$", report, re.M)}
    assert set(rows) == {"A: seed script", "B: digitclf train digits_lbfgs.yaml"}
    header = re.search(r"^\| variant \| (.*) \|$", report, re.M).group(1).split(" | ")
    for label, cells in rows.items():
        row = dict(zip(header, cells))
        assert float(row["accuracy"]) == pytest.approx(digits_accuracy, abs=5e-5), label
        assert float(row["wall s (median)"]) > 0
        assert float(row["peak RSS MB"]) > 0
    assert rows["A: seed script"][-2:] == ["1", "1"]  # the baseline's own ratios
    assert re.search(r"^- machine: \d+ CPUs", report, re.M)
    assert "scikit-learn 1." in report


def test_unknown_workload_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, str(RUNNER), "--workloads", "digitz", "--out", str(tmp_path / "r.md")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown workload digitz; choose from startup, quickstart, blas, digits, fashion, bypath, peer, lever, accel, cache, mnist" in proc.stderr
    assert not (tmp_path / "r.md").exists()
