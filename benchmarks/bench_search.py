"""Benchmark successive halving against random search on Fashion-MNIST: does halving reach random search's
best accuracy (within its 95% CI) in at most half the total fit time?

Both searches draw 16 candidates from one space (C log-uniform, solver, PCA width), seeded alike, rank
them on a validation split (20% of the 60,000 training images) and score their selected point on the
10,000 test images once.  Each is one whole `digitclf sweep --json` process into a fresh outputs
folder; "total fit time" is the sum of every point's fit_seconds (the selected point's refit included).

    python benchmarks/bench_search.py                       # needs /usr/share/datasets/fashion-mnist
    python benchmarks/bench_search.py --data DIR --jobs 2
    python benchmarks/bench_search.py --optuna              # also Optuna TPE, pruned (median) and not
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPACE = """  trials: 16
  space:
    model.params.C: {loguniform: [0.001, 100]}
    model.params.solver: {choice: [lbfgs, newton-cg]}
    preprocess: {choice: [[{pca: {n_components: 30, whiten: true}}], [{pca: {n_components: 80, whiten: true}}],
                          [{pca: {n_components: 150, whiten: true}}]]}
"""
HALVING = "  halving: {resource: split.train_size, min_resources: 1500, max_resources: 48000, factor: 3}\n"


EXTRA = {"halving": HALVING, "optuna": "  pruner: median\n", "optuna_unpruned": "  pruner: none\n"}


def config(data: Path, search: str) -> str:
    return f"""name: bench_{search}
dataset: {{name: idx, path: {data}}}
split: {{kind: predefined}}
model: {{estimator: logistic_regression, params: {{max_iter: 30}}, blas_threads: 1}}
output: {{plots: false}}
seed: 0
sweep:
  search: {search.split("_")[0]}
{SPACE}{EXTRA.get(search, "")}"""


def one_search(search: str, data: Path, folder: Path, jobs: int) -> dict:
    path = folder / f"{search}.yaml"
    path.write_text(config(data, search))
    command = [sys.executable, "-m", "digitclf", "sweep", "--config", str(path), "--jobs", str(jobs),
               "--outputs", str(folder / "outputs"), "--json", "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, env=os.environ.copy())
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{search} search failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    summary = json.loads(done.stdout)
    points = summary["points"]
    return {"search": search, "wall": wall, "points": len(points),
            "fit": sum(p["fit_seconds"] or 0.0 for p in points),
            "images": sum(p["n_test"] or 0 for p in points), "selection": summary["selection"],
            "rungs": summary["search"].get("n_candidates"), "pruned": sum(p["pruned"] for p in points)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--optuna", action="store_true", help="also Optuna TPE with and without its median pruner")
    args = parser.parse_args()
    searches = ["random", "halving", *(["optuna", "optuna_unpruned"] if args.optuna else [])]
    with tempfile.TemporaryDirectory() as tmp:
        results = [one_search(search, args.data, Path(tmp), args.jobs) for search in searches]
    random_search, halving = results[:2]
    low, high = random_search["selection"]["accuracy_ci95"]
    reached = halving["selection"]["accuracy"] >= low
    ratio = halving["fit"] / random_search["fit"]
    print("| search | points run | pruned | total fit s | wall s | selected: validation acc | test acc (95% CI) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        s = r["selection"]
        ci = s["accuracy_ci95"]
        print(f"| {r['search']} | {r['points']} | {r['pruned']} | {r['fit']:.1f} | {r['wall']:.1f} "
              f"| {s['validation_accuracy']:.4f} | {s['accuracy']:.4f} ({ci[0]:.4f}-{ci[1]:.4f}) |")
    print(f"\nhalving rungs (candidates): {halving['rungs']}")
    print(f"halving / random total fit time: {ratio:.2f} (target <= 0.5); halving's test accuracy "
          f"{'is' if reached else 'is not'} within random search's 95% CI or above it: "
          f"{'met' if reached and ratio <= 0.5 else 'not met'}")


if __name__ == "__main__":
    main()
