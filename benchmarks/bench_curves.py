"""Benchmark issue 15's targets on Fashion-MNIST: curve overhead, early stopping, time budgets.

1. overhead: the same LogisticRegression(lbfgs) fit on the same rows, with ``CurveCallback``
   scoring the validation slice after every iteration (B) and without any callback (A); the two
   alternate over the repeats; the ratio of the median fit walls is B/A (target <= 1.10).
   Run on both shipped lbfgs configs' inputs (float32 pixels / 150 whitened PCA components).
2. early stopping: ``digitclf train`` (the library call) of fashion_mnist_lbfgs.yaml-style input
   (standardized pixels) with max_iter 300 and the default ``model.early_stopping``, against
   max_iter 100 without it; and of fashion_mnist_fast.yaml with early stopping and max_iter 300
   against its hand-tuned max_iter 30.  Reports iterations, fit seconds, test accuracy.
3. time budget: a 60k-image fit (the canonical training set, no curve) with ``model.time_budget``
   well under what the fit needs; fit wall / budget (target within 10%).

    python benchmarks/bench_curves.py --repeats 3          # all three (about 6 minutes on 2 cores)
    python benchmarks/bench_curves.py --only overhead budget
    python benchmarks/bench_curves.py --only overhead --inputs fast --repeats 5 --val-fraction 0.05
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def fashion(preprocess: list, fraction: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_fit, y_fit, X_val, y_val) of Fashion-MNIST's training split, as ``digitclf train`` carves them."""
    from digitclf import curves, datasets, models
    from digitclf.config import load_config

    cfg = load_config(data={"dataset": {"name": "fashion-mnist"}, "split": {"kind": "predefined"},
                            "preprocess": preprocess})
    data = datasets.load_dataset(cfg.dataset)
    train_rows, _ = datasets.split_indices(data, cfg.split)
    X, y = data.X[train_rows], data.y[train_rows]
    fit, val = curves.validation_rows(y, fraction or curves.CURVE_VALIDATION_FRACTION, cfg.seed)
    X_fit, X_val = X[fit], X[val]
    for _, step in models.build_preprocessor(cfg.preprocess, data.pixel_max, cfg.seed):
        X_fit = models.fit_transform(step, X_fit)
        X_val = step.transform(X_val)
    return X_fit, y[fit], X_val, y[val]


def overhead(repeats: int, preprocess: list, max_iter: int, fraction: float | None = None) -> dict:
    from sklearn.linear_model import LogisticRegression

    from digitclf.curves import CurveCallback
    from digitclf.threads import capped

    X, y, X_val, y_val = fashion(preprocess, fraction)
    walls: dict[str, list[float]] = {"A": [], "B": []}
    cpus: dict[str, list[float]] = {"A": [], "B": []}
    shares = []
    for i in range(repeats * 2):
        variant = "AB"[(i + i // 2) % 2]  # A B B A A B ...
        estimator = LogisticRegression(solver="lbfgs", max_iter=max_iter, random_state=0)
        callback = None
        if variant == "B":
            callback = CurveCallback(X_val, y_val, max_iter=max_iter)
            estimator.set_callbacks(callback)
        start, cpu = time.perf_counter(), time.process_time()
        capped(1, lambda: estimator.fit(X, y))()
        walls[variant].append(time.perf_counter() - start)
        cpus[variant].append(time.process_time() - cpu)
        if callback is not None:
            shares.append(callback.scoring_seconds / walls[variant][-1])
    a, b = statistics.median(walls["A"]), statistics.median(walls["B"])
    cpu_a, cpu_b = statistics.median(cpus["A"]), statistics.median(cpus["B"])
    return {"inputs": str(preprocess), "max_iter": max_iter, "rows": len(y), "val_rows": len(y_val),
            "A": a, "B": b, "ratio": b / a, "cpu_ratio": cpu_b / cpu_a, "share": statistics.median(shares),
            "A_all": walls["A"], "B_all": walls["B"]}


def train(overrides: list[str], config: str) -> dict:
    from digitclf.config import load_config
    from digitclf.runner import train as run_train

    cfg = load_config(REPO / "configs" / config, ["output.plots=false", *overrides])
    with tempfile.TemporaryDirectory() as outputs:
        m = run_train(cfg, outputs=Path(outputs)).metrics
    return {"config": config, "overrides": " ".join(overrides), "n_iter": m.n_iter, "best": m.best_iteration,
            "stopped": m.stop_reason, "fit_s": m.fit_seconds, "fit_cpu": m.timings["fit"].cpu, "accuracy": m.accuracy,
            "n_train": m.n_train}


def early_stopping() -> list[dict]:
    standardized = ["preprocess=[standardize]"]
    return [
        train([*standardized, "model.params.max_iter=100"], "fashion_mnist_lbfgs.yaml"),
        train([*standardized, "model.params.max_iter=300", "model.early_stopping={}"], "fashion_mnist_lbfgs.yaml"),
        train(["model.params.max_iter=30"], "fashion_mnist_fast.yaml"),
        train(["model.params.max_iter=300", "model.early_stopping={}"], "fashion_mnist_fast.yaml"),
    ]


def budget(repeats: int, seconds: float) -> dict:
    rows = [train(["model.params.max_iter=1000", f"model.time_budget={seconds}", "output.curve=false"],
                  "fashion_mnist_lbfgs.yaml") for _ in range(repeats)]
    fits = [r["fit_s"] for r in rows]
    return {"budget": seconds, "fit_s": fits, "median_ratio": statistics.median(fits) / seconds,
            "n_train": rows[0]["n_train"], "n_iter": [r["n_iter"] for r in rows], "stopped": rows[0]["stopped"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=5.0)
    parser.add_argument("--only", nargs="*", default=["overhead", "early", "budget"])
    parser.add_argument("--inputs", choices=["lbfgs", "fast", "both"], default="both",
                        help="which config's inputs the overhead runs use")
    parser.add_argument("--val-fraction", type=float, default=None, help="slice scored in the overhead runs")
    args = parser.parse_args()
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    if "overhead" in args.only:
        inputs = {"lbfgs": (["float32"], 100), "fast": ([{"pca": {"n_components": 150, "whiten": True}}], 30)}
        for preprocess, max_iter in [inputs[k] for k in inputs if args.inputs in (k, "both")]:
            r = overhead(args.repeats, preprocess, max_iter, args.val_fraction)
            print(f"overhead {r['inputs']} max_iter={r['max_iter']} {r['rows']} fit rows, {r['val_rows']} val rows: "
                  f"wall A {r['A']:.3f}s B {r['B']:.3f}s B/A {r['ratio']:.3f}, cpu B/A {r['cpu_ratio']:.3f}, "
                  f"scoring {100 * r['share']:.1f}% of B's fit wall ("
                  f"A {['%.2f' % w for w in r['A_all']]} B {['%.2f' % w for w in r['B_all']]})", flush=True)
    if "early" in args.only:
        for r in early_stopping():
            print(f"early {r['config']} [{r['overrides']}]: n_iter {r['n_iter']} kept {r['best']} "
                  f"({r['stopped']}), fit {r['fit_s']:.2f}s wall {r['fit_cpu']:.2f}s cpu, "
                  f"test accuracy {r['accuracy']:.4f}, "
                  f"{r['n_train']} fit rows", flush=True)
    if "budget" in args.only:
        r = budget(args.repeats, args.budget)
        print(f"budget {r['budget']}s on {r['n_train']} images: fit {['%.2f' % f for f in r['fit_s']]}s, "
              f"median fit/budget {r['median_ratio']:.3f}, n_iter {r['n_iter']} ({r['stopped']})", flush=True)


if __name__ == "__main__":
    main()
