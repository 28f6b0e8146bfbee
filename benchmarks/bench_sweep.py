"""Benchmark `digitclf sweep --jobs 2` against `--jobs 1` on the 8-point digits sweep.

Each measurement is one whole `digitclf sweep --config configs/sweep_digits.yaml`
process (start-up, validation, the 8 runs and the summary) into a fresh outputs
folder, so every point really runs.  The two settings alternate over the repeats
(1, 2, 2, 1, 1, 2, ...) so a change in machine load hits both; the report is the
median wall time of each and the ratio jobs2 / jobs1 (the target is <= 0.65).

    python benchmarks/bench_sweep.py                 # 3 repeats of each
    python benchmarks/bench_sweep.py --repeats 5 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "sweep_digits.yaml"


def one_sweep(jobs: int, outputs: Path, env: dict[str, str]) -> float:
    """Wall seconds of one sweep process; fails unless every point ran and completed."""
    command = [sys.executable, "-c", "from digitclf.cli import main; main()", "sweep", "--config", str(CONFIG),
               "--jobs", str(jobs), "--outputs", str(outputs), "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=outputs.parent)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"sweep --jobs {jobs} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    summary = json.loads(done.stdout)
    if summary["ran"] != len(summary["points"]) or set(summary["counts"]) != {"complete"}:
        raise SystemExit(f"sweep --jobs {jobs} did not run every point: {summary['counts']}, ran {summary['ran']}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each setting (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="the parallel setting compared with --jobs 1")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], args.jobs: []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        env = {**os.environ, "DIGITCLF_DATA": str(Path(tmp) / "cache")}
        for repeat in range(args.repeats):
            order = (1, args.jobs) if repeat % 2 == 0 else (args.jobs, 1)
            for jobs in order:
                outputs = Path(tmp) / f"outputs-{repeat}-{jobs}"
                times[jobs].append(one_sweep(jobs, outputs, env))
                print(f"repeat {repeat + 1}: --jobs {jobs}: {times[jobs][-1]:.2f} s", file=sys.stderr)
    one, many = statistics.median(times[1]), statistics.median(times[args.jobs])
    print(f"8-point digits sweep ({CONFIG.name}), {args.repeats} alternating repeats, "
          f"{os.cpu_count()} cores, load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"--jobs 1: median {one:.2f} s  ({', '.join(f'{t:.2f}' for t in times[1])})")
    print(f"--jobs {args.jobs}: median {many:.2f} s  ({', '.join(f'{t:.2f}' for t in times[args.jobs])})")
    print(f"ratio --jobs {args.jobs} / --jobs 1: {many / one:.2f}  (target <= 0.65)")


if __name__ == "__main__":
    main()
