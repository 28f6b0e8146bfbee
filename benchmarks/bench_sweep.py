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


def one_sweep(jobs: int, outputs: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (the sweep process and its workers) of one sweep; fails unless every point ran."""
    command = [sys.executable, "-c", "from digitclf.cli import main; main()", "sweep", "--config", str(CONFIG),
               "--jobs", str(jobs), "--outputs", str(outputs), "--json"]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env, cwd=outputs.parent)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise SystemExit(f"sweep --jobs {jobs} failed ({child.returncode}): {stderr.strip()[-400:]}")
    summary = json.loads(stdout)
    if summary["ran"] != len(summary["points"]) or set(summary["counts"]) != {"complete"}:
        raise SystemExit(f"sweep --jobs {jobs} did not run every point: {summary['counts']}, ran {summary['ran']}")
    return wall, usage.ru_utime + usage.ru_stime  # includes the reaped worker processes


def _burn(n: int) -> float:
    total = 0
    for i in range(n):
        total += i * i
    return float(total)


def machine_speedup(n: int = 20_000_000) -> float:
    """How much faster two CPU-bound processes finish than one doing both (2.0 on two idle cores)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_burn, [1, 1]))  # start both workers first
        start = time.perf_counter()
        list(pool.map(_burn, [n], chunksize=1))
        list(pool.map(_burn, [n], chunksize=1))
        serial = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(_burn, [n, n], chunksize=1))
        return serial / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each setting (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="the parallel setting compared with --jobs 1")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], args.jobs: []}
    cpu: dict[int, list[float]] = {1: [], args.jobs: []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        env = {**os.environ, "DIGITCLF_DATA": str(Path(tmp) / "cache")}
        for repeat in range(args.repeats):
            order = (1, args.jobs) if repeat % 2 == 0 else (args.jobs, 1)
            for jobs in order:
                outputs = Path(tmp) / f"outputs-{repeat}-{jobs}"
                wall, seconds = one_sweep(jobs, outputs, env)
                times[jobs].append(wall)
                cpu[jobs].append(seconds)
                print(f"repeat {repeat + 1}: --jobs {jobs}: {wall:.2f} s wall, {seconds:.2f} s CPU, "
                      f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    one, many = statistics.median(times[1]), statistics.median(times[args.jobs])
    speedup = machine_speedup()
    print(f"8-point digits sweep ({CONFIG.name}), {args.repeats} alternating repeats, "
          f"{os.cpu_count()} cores, load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    for jobs, median in ((1, one), (args.jobs, many)):
        print(f"--jobs {jobs}: median {median:.2f} s wall ({', '.join(f'{t:.2f}' for t in times[jobs])}); "
              f"median {statistics.median(cpu[jobs]):.2f} s CPU")
    print(f"ratio --jobs {args.jobs} / --jobs 1: {many / one:.2f}  (target <= 0.65)")
    print(f"this machine ran two CPU-bound processes {speedup:.2f}x faster than one, measured just after "
          "(2.0 on two idle cores; other processes' load lowers it)")


if __name__ == "__main__":
    main()
