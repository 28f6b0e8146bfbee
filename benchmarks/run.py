"""Benchmark digitclf against the seed tutorial's plain scikit-learn script.

Every workload runs a baseline (A) and one or more digitclf variants (B) as
separate processes, alternating A and B over the repeats, and reports the
median whole-process wall time, CPU time and peak RSS of each, the test
accuracy, and the ratio B/A (digitclf divided by the baseline) that the targets
are stated in.  Peak RSS is the child's own ``ru_maxrss`` from ``os.wait4``.

    python benchmarks/run.py                          # every workload, 3 repeats
    python benchmarks/run.py --workloads digits --repeats 1 --out /tmp/r.md
    python benchmarks/run.py --dataset mnist          # real MNIST, if it is in the digitclf cache

The digitclf processes read Fashion-MNIST from a private cache prepared before
any timing (the import of Debian's IDX files into it is not timed) and write
their runs into a temporary outputs folder.  The report is printed on stdout
and written to ``--out``; the hand-written notes after the NOTES_MARKER line of
an existing report are kept.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
SEED_SCRIPT = REPO / "benchmarks" / "seed_script.py"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
WORKLOADS = ("startup", "quickstart", "blas", "digits", "fashion", "bypath", "peer", "lever", "accel", "cache",
             "mnist")
BUSY_PROCESSES = 2  # the synthetic background load: this many `while 1: pass` processes
NOTES_MARKER = "<!-- Everything below this line is hand-written; benchmarks/run.py keeps it. -->"


class BenchmarkError(RuntimeError):
    """A child process failed or printed something the runner cannot read."""


# ---------------------------------------------------------------- one measured process


@dataclass
class Sample:
    wall: float  # seconds, spawn to exit
    cpu: float  # user + system seconds of the child
    rss_mb: float  # the child's peak resident set
    accuracy: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run ``cmd`` to completion: (wall s, cpu s, peak RSS MB, stdout); a non-zero exit raises."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=REPO)
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage, ru_maxrss in KiB on Linux
        except BaseException:  # Ctrl-C or SIGTERM: stop the child too, then let the runner clean up
            proc.terminate()
            proc.wait()
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise BenchmarkError(f"{' '.join(cmd)} exited {proc.returncode}: {last}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


# ---------------------------------------------------------------- what a variant runs and reads


@dataclass
class Variant:
    label: str
    cmd: list[str]
    read: Callable[[str], tuple[float | None, dict[str, Any]]] = lambda stdout: (None, {})

    def measure(self, env: dict[str, str]) -> Sample:
        wall, cpu, rss, stdout = run_child(self.cmd, env)
        try:
            accuracy, extra = self.read(stdout)
        except (ValueError, KeyError, IndexError) as exc:
            raise BenchmarkError(f"{self.label}: cannot read its output ({exc}): {stdout[-300:]!r}") from None
        if "phases s" in extra:  # what the process spent outside its timed phases
            extra["overhead s"] = wall - extra["phases s"]
        return Sample(wall, cpu, rss, accuracy, extra)


def read_score(stdout: str) -> tuple[float, dict[str, Any]]:
    """The seed script prints the accuracy as its last line."""
    return float(stdout.strip().splitlines()[-1]), {}


def read_metrics(stdout: str) -> tuple[float, dict[str, Any]]:
    """``digitclf train --json`` prints metrics.json."""
    m = json.loads(stdout)
    phases = {f"{name} s": t["wall"] for name, t in m["timings"].items()}
    per_iter = 1000 * m["timings"]["fit"]["wall"] / m["n_iter"] if m.get("n_iter") else None
    return m["accuracy"], {"n_iter": m["n_iter"], **phases, "fit ms/iter": per_iter,
                           "phases s": sum(t["wall"] for t in m["timings"].values())}


def read_probe(stdout: str) -> tuple[None, dict[str, Any]]:
    return None, json.loads(stdout)


def digitclf_cmd() -> list[str]:
    script = Path(sys.executable).with_name("digitclf")
    if script.exists():
        return [str(script)]
    found = shutil.which("digitclf")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from digitclf.cli import main; sys.argv[0] = 'digitclf'; main()"]


def train_variant(label: str, config: str, outputs: Path, *overrides: str) -> Variant:
    sets = [arg for o in overrides for arg in ("--set", o)]
    cmd = [*digitclf_cmd(), "train", "--config", str(REPO / "configs" / config), *sets,
           "--json", "--outputs", str(outputs)]
    return Variant(label, cmd, read_metrics)


def seed_variant(label: str, *args: str) -> Variant:
    return Variant(label, [sys.executable, str(SEED_SCRIPT), *args], read_score)


def probe_variant(label: str, probe: str, *args: str) -> Variant:
    return Variant(label, [sys.executable, str(Path(__file__).resolve()), "--probe", probe, *args], read_probe)


# ---------------------------------------------------------------- workloads and targets


@dataclass
class Target:
    """``variant``'s ``metric`` at most ``limit`` times the baseline's (plus an accuracy condition)."""

    text: str
    variant: str
    metric: str  # wall, rss_mb, or a key of Sample.extra
    limit: float
    min_accuracy_delta: float | None = None  # accuracy - baseline accuracy must be >= this
    over: str | None = None  # compare with this metric of the same variant instead of the baseline's metric


@dataclass
class Workload:
    name: str
    title: str
    variants: list[Variant]  # the first one is the baseline A
    targets: list[Target] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    extra_keys: tuple[str, ...] = ()  # columns of Sample.extra to report
    loaded: bool = False  # run under BUSY_PROCESSES busy processes


@dataclass
class Outcome:
    workload: Workload
    samples: dict[str, list[Sample]]
    skipped: str | None = None


def median_of(samples: list[Sample], metric: str) -> float | None:
    values = [getattr(s, metric) if hasattr(s, metric) else s.extra.get(metric) for s in samples]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run_workload(workload: Workload, repeats: int) -> Outcome:
    """Repeat the variants, alternating the baseline first and last so neither always runs warm."""
    env = {**os.environ, **workload.env}
    env.pop("DIGITCLF_DEBUG", None)
    samples: dict[str, list[Sample]] = {v.label: [] for v in workload.variants}
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(BUSY_PROCESSES if workload.loaded
                                                                                     else 0)]
    try:
        for r in range(repeats):
            order = workload.variants if r % 2 == 0 else workload.variants[1:] + workload.variants[:1]
            for variant in order:
                sample = variant.measure(env)
                samples[variant.label].append(sample)
                acc = f"  accuracy {sample.accuracy:.4f}" if sample.accuracy is not None else ""
                acc += "".join(f"  {k} {sample.extra[k]:.3f}" for k in ("fit s", "phases s") if k in sample.extra)
                say(f"{workload.name}{' (load)' if workload.loaded else ''} {r + 1}/{repeats}  {variant.label}: "
                    f"{sample.wall:.2f} s, {sample.rss_mb:.0f} MB{acc}")
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    return Outcome(workload, samples)


def idle_and_loaded(workload: Workload) -> list[Workload]:
    """The workload as given (on the machine as it is) and again under the synthetic background load."""
    import copy

    loaded = copy.deepcopy(workload)
    loaded.loaded = True
    loaded.title += f", under load ({BUSY_PROCESSES} busy processes)"
    for target in loaded.targets:
        target.text += ", under load"
    return [workload, loaded]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the suite


SAME_SETTINGS_ACCURACY = -0.002  # "not lower by more than 0.2 points"


def build_workloads(names: list[str], tmp: Path, setup: dict[str, Any]) -> list[Workload | Outcome]:
    outputs = tmp / "outputs"
    cache = tmp / "cache"
    private = {"DIGITCLF_DATA": str(cache)}
    fashion_missing = None if FASHION_DIR.is_dir() else (
        f"{FASHION_DIR} is missing (apt-get install dataset-fashion-mnist)")
    plan: list[Workload | Outcome] = []
    for name in names:
        if name == "startup":
            plan.append(Workload(
                "startup", "Startup: `digitclf --help` against importing the stack eagerly",
                [Variant("python -c 'import sklearn.linear_model, matplotlib.pyplot'",
                         [sys.executable, "-c", "import sklearn.linear_model, matplotlib.pyplot"]),
                 Variant("digitclf --help", [*digitclf_cmd(), "--help"])],
                [Target("startup wall <= 0.2x eager imports", "digitclf --help", "wall", 0.2)]))
        elif name == "digits":
            plan.append(Workload(
                "digits", "Seed workload on scikit-learn's digits (test_size 0.25, random_state 0)",
                [seed_variant("seed script", "--dataset", "digits"),
                 train_variant("digitclf train digits_lbfgs.yaml", "digits_lbfgs.yaml", outputs)],
                env=private, extra_keys=("n_iter", "fit s"),
                note="No target: on 1,797 images both are dominated by imports; digitclf also saves "
                     "the model, split, metrics and two PNGs."))
        elif name == "quickstart":
            seed_pngs = tmp / "seed-pngs"
            seed_pngs.mkdir(exist_ok=True)
            quick = "digitclf train digits_lbfgs.yaml"
            plan += idle_and_loaded(Workload(
                "quickstart", "Quick start: the seed tutorial's whole digits part against `digitclf train`",
                [seed_variant("seed tutorial's digits part (fit, predict, score, 2 PNGs)", "--dataset", "digits",
                              "--whole", "--out", str(seed_pngs)),
                 train_variant(quick, "digits_lbfgs.yaml", outputs)],
                [Target("quick start: whole-process wall <= 0.6x the seed tutorial's digits part", quick, "wall",
                        0.6, SAME_SETTINGS_ACCURACY)],
                env=private, extra_keys=("fit s", "phases s", "overhead s"),
                note="Both write the seaborn confusion matrix and the misclassified grid as PNGs; digitclf also "
                     "writes the model, split.npz, predictions.csv, metrics and run.json."))
        elif name == "blas":
            one, auto, lib = ("digitclf train, model.blas_threads=1", "digitclf train, default (blas_threads: auto)",
                              "digitclf train, model.blas_threads=null (the BLAS library's own)")
            plan += idle_and_loaded(Workload(
                "blas", "BLAS threads on the digits quick start: the default against one thread",
                [train_variant(one, "digits_lbfgs.yaml", outputs, "model.blas_threads=1"),
                 train_variant(auto, "digits_lbfgs.yaml", outputs),
                 train_variant(lib, "digits_lbfgs.yaml", outputs, "model.blas_threads=null")],
                [Target("default config's fit <= 1.5x the one-thread fit", auto, "fit s", 1.5),
                 Target("the BLAS library's own threads, fit against one thread (for the record)", lib, "fit s",
                        1.5)],
                env=private, extra_keys=("n_iter", "fit s"),
                note="`fit s` is digitclf's own fit phase (metrics.json); `wall B/A` is the whole process."))
        elif name in ("bypath", "peer"):
            if fashion_missing:
                plan.append(skip(name, "Fashion-MNIST by path", fashion_missing))
                continue
            fast = "digitclf train fashion_mnist_fast.yaml, dataset.path (no data import)"
            fast_variant = train_variant(fast, "fashion_mnist_fast.yaml", outputs, f"dataset.path={FASHION_DIR}",
                                         "split.kind=predefined")
            keys = ("n_iter", "load s", "preprocess s", "fit s", "phases s", "overhead s")
            if name == "bypath":
                plan += idle_and_loaded(Workload(
                    "bypath", "Fashion-MNIST fast config given by path against the seed script",
                    [seed_variant("seed script", "--dataset", "idx", "--path", str(FASHION_DIR)), fast_variant],
                    [Target("fast config by path: wall <= 0.18x seed, accuracy >= seed", fast, "wall", 0.18, 0.0),
                     Target("fast config by path: wall minus its phases <= 0.5x the phases' sum", fast,
                            "overhead s", 0.5, over="phases s"),
                     Target("fast config by path: peak RSS <= 0.5x seed", fast, "rss_mb", 0.5)],
                    env=private, extra_keys=keys,
                    note="A fresh private cache: the first digitclf run parses the IDX files and caches them "
                         "(keyed by their XXH3-128), later runs map the cache; medians are over all runs."))
            elif find_spec("sklearnex") is None:
                plan.append(skip("peer", "Peer: the seed script patched by scikit-learn-intelex",
                                 "scikit-learn-intelex is not installed (pip install scikit-learn-intelex)"))
            else:
                plan += idle_and_loaded(Workload(
                    "peer", "Peer: the seed script with sklearnex.patch_sklearn() against the fast config by path",
                    [seed_variant("seed script, sklearnex.patch_sklearn()", "--dataset", "idx", "--path",
                                  str(FASHION_DIR), "--sklearnex"), fast_variant],
                    [Target("fast config by path: wall <= 0.3x the sklearnex-patched seed script", fast, "wall",
                            0.3)],
                    env=private, extra_keys=keys))
        elif name == "lever":
            if fashion_missing or find_spec("sklearnex") is None:
                plan.append(skip("lever", "scikit-learn-intelex as a lever for the fast config's fit",
                                 fashion_missing or "scikit-learn-intelex is not installed"))
                continue
            plan += idle_and_loaded(Workload(
                "lever", "scikit-learn-intelex as a lever: the fast config's fit (150 whitened components, "
                         "lbfgs, 30 iterations, one thread each)",
                [probe_variant("scikit-learn LogisticRegression", "fast-fit", "sklearn"),
                 probe_variant("sklearnex LogisticRegression", "fast-fit", "sklearnex")],
                [Target("sklearnex fit <= 0.8x scikit-learn's (worth an optional extra)",
                        "sklearnex LogisticRegression", "fit s", 0.8)],
                env=private, extra_keys=("fit s", "test accuracy"),
                note="In one process each: the data loaded and PCA-whitened first (not timed), then the fit "
                     "alone, on one thread: OpenBLAS capped by threadpoolctl, oneDAL by n_jobs=1 (threadpoolctl "
                     "does not reach oneDAL's TBB threads); sklearnex's estimator imported directly, nothing "
                     "patched."))
        elif name == "accel":
            if fashion_missing or find_spec("sklearnex") is None:
                plan.append(skip("accel", "model.accelerator: sklearnex end to end",
                                 fashion_missing or "scikit-learn-intelex is not installed"))
                continue
            variants = [(f"digitclf train {config}{label}", config, extra)
                        for config in ("fashion_mnist_lbfgs.yaml", "fashion_mnist_fast.yaml")
                        for label, extra in (("", ()), (", model.accelerator=sklearnex", ("model.accelerator=sklearnex",)))]
            for i in (0, 2):
                (plain, config, _), (accel, _, extra) = variants[i], variants[i + 1]
                plan += idle_and_loaded(Workload(
                    "accel", f"`model.accelerator: sklearnex` against plain scikit-learn: {config}",
                    [train_variant(plain, config, outputs), train_variant(accel, config, outputs, *extra)],
                    [Target(f"{config}: whole run with sklearnex <= 0.9x, accuracy within 0.2 points", accel, "wall",
                            0.9, SAME_SETTINGS_ACCURACY),
                     Target(f"{config}: fit with sklearnex <= 0.8x (the fit phase includes importing sklearnex)",
                            accel, "fit s", 0.8)],
                    env=private, extra_keys=("n_iter", "fit s", "phases s"),
                    note="Both fit with one thread (the config's blas_threads: 1, passed to oneDAL as n_jobs). "
                         "The saved model is scikit-learn's class in both."))
        elif name == "fashion":
            if fashion_missing:
                plan.append(skip("fashion", "Seed workload on Fashion-MNIST", fashion_missing))
                continue
            lbfgs = "digitclf train fashion_mnist_lbfgs.yaml"
            shipped = setup["lbfgs_preprocess"]
            other = "float32" if shipped != ["float32"] else "none"
            alt = f"{lbfgs} --set preprocess=[{other}]"
            blas = f"{lbfgs} --set model.blas_threads=null"
            fast = "digitclf train fashion_mnist_fast.yaml"
            plan.append(Workload(
                "fashion", "Seed workload on Fashion-MNIST (canonical 60k/10k split)",
                [seed_variant("seed script", "--dataset", "idx", "--path", str(FASHION_DIR)),
                 train_variant(lbfgs, "fashion_mnist_lbfgs.yaml", outputs),
                 train_variant(alt, "fashion_mnist_lbfgs.yaml", outputs, f"preprocess=[{other}]"),
                 train_variant(blas, "fashion_mnist_lbfgs.yaml", outputs, "model.blas_threads=null"),
                 train_variant(fast, "fashion_mnist_fast.yaml", outputs)],
                [Target("same settings: wall <= 0.7x seed, accuracy >= seed - 0.2 points", lbfgs, "wall", 0.7,
                        SAME_SETTINGS_ACCURACY),
                 Target(f"same settings with preprocess [{other}] (the alternative, for the record)", alt, "wall",
                        0.7, SAME_SETTINGS_ACCURACY),
                 Target("same settings with the BLAS library's default threads (for the record)", blas, "wall",
                        0.7, SAME_SETTINGS_ACCURACY),
                 Target("fast config: wall <= 0.25x seed, accuracy >= seed", fast, "wall", 0.25, 0.0),
                 Target("peak RSS of digitclf train (same settings) <= 0.6x seed", lbfgs, "rss_mb", 0.6),
                 Target("peak RSS of digitclf train (fast config) <= 0.6x seed", fast, "rss_mb", 0.6)],
                env=private, extra_keys=("n_iter", "load s", "preprocess s", "fit s", "fit ms/iter", "predict s"),
                note=f"The lbfgs config as shipped uses preprocess {shipped}. Columns `load s` ... `predict s` "
                     "are digitclf's own phase timings from metrics.json; the rest of its wall time is "
                     "interpreter start, imports, config validation and saving the run."))
            plan.append(Workload(
                "gradient", "Cost of one multinomial gradient on 60k x 784 (two matrix products: X @ W, X.T @ R)",
                [probe_variant("numpy, float64", "gradient", "float64"),
                 probe_variant("numpy, float32", "gradient", "float32"),
                 probe_variant("numpy, float32, 1 BLAS thread", "gradient", "float32", "1")],
                env=private, extra_keys=("gradient ms",),
                note="Median of 20 evaluations in one process; compare with `fit ms/iter` above (lbfgs makes "
                     "slightly more evaluations than iterations)."))
        elif name == "cache":
            if fashion_missing:
                plan.append(skip("cache", "Cached data load", fashion_missing))
                continue
            plan.append(Workload(
                "cache", "Cached 70k x 784 load against parsing the gzipped IDX files",
                [probe_variant("datasets.read_idx_folder (gzipped IDX)", "idx-parse"),
                 probe_variant("datasets.cache_load (XXH3-checked, memory-mapped)", "cache-load")],
                [Target("cached load <= 0.1x IDX parse (the call, in-process)",
                        "datasets.cache_load (XXH3-checked, memory-mapped)", "call s", 0.1)],
                env=private, extra_keys=("call s",),
                note="`call s` is the library call alone, timed inside the child; wall and RSS are the "
                     "whole process (interpreter, numpy and digitclf.datasets imports included)."))
        elif name == "mnist":
            idx = setup.get("mnist_idx")
            if idx is None:
                plan.append(skip("mnist", "Seed workload on MNIST",
                                 f"MNIST is not in the digitclf cache at {setup['user_cache']} ('digitclf data "
                                 "fetch mnist', or 'digitclf data import mnist DIR')"))
                continue
            seed_split = ("split.kind=random", "split.test_size=1/7", "split.random_state=0")
            plan.append(Workload(
                "mnist", "Seed workload on MNIST (the seed's random 60k/10k split, test_size 1/7, random_state 0)",
                [seed_variant("seed script", "--dataset", "idx", "--path", str(idx), "--split", "random",
                              "--test-size", "1/7"),
                 train_variant("digitclf train mnist_lbfgs.yaml", "mnist_lbfgs.yaml", outputs),
                 train_variant("digitclf train mnist_fast.yaml (seed's split)", "mnist_fast.yaml", outputs,
                               *seed_split)],
                [Target("same settings: wall <= 0.7x seed, accuracy >= seed - 0.2 points",
                        "digitclf train mnist_lbfgs.yaml", "wall", 0.7, SAME_SETTINGS_ACCURACY),
                 Target("fast config: wall <= 0.25x seed, accuracy >= seed",
                        "digitclf train mnist_fast.yaml (seed's split)", "wall", 0.25, 0.0)],
                extra_keys=("n_iter", "fit s"),
                note="digitclf reads MNIST from your own digitclf cache; the seed script parses the same "
                     "images written out as gzipped IDX files."))
        else:
            raise BenchmarkError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    return plan


def skip(name: str, title: str, reason: str) -> Outcome:
    return Outcome(Workload(name, title, []), {}, skipped=reason)


# ---------------------------------------------------------------- in-child probes
# Anything that imports numpy or digitclf runs in a child: a child's ru_maxrss starts from the
# peak RSS of the process it was spawned from, so the runner itself must stay small.


def setup(tmp: Path, names: list[str]) -> dict[str, Any]:
    """The untimed preparation: private Fashion-MNIST cache, MNIST as IDX files, facts for the report."""
    from digitclf import datasets
    from digitclf.config import load_config

    facts: dict[str, Any] = {"user_cache": str(datasets.cache_dir()), "mnist_idx": None, "blas": "-"}
    if "mnist" in names and datasets.cache_manifest("mnist") is not None:
        facts["mnist_idx"] = str(export_idx(datasets.cache_load("mnist"), tmp / "mnist-idx"))
    os.environ["DIGITCLF_DATA"] = str(tmp / "cache")
    if {"fashion", "cache", "lever", "accel"} & set(names) and FASHION_DIR.is_dir():
        datasets.import_to_cache("fashion-mnist", FASHION_DIR)
    facts["lbfgs_preprocess"] = load_config(str(REPO / "configs" / "fashion_mnist_lbfgs.yaml"), []).to_dict()[
        "preprocess"]
    try:
        from threadpoolctl import threadpool_info

        facts["blas"] = ", ".join(f"{i['internal_api']} {i['version']} ({i.get('architecture')}, "
                                  f"{i['num_threads']} threads)" for i in threadpool_info()
                                  if i["user_api"] == "blas") or "-"
    except ImportError:
        pass
    return facts


def export_idx(data: Any, folder: Path) -> Path:
    """A cached data set as the four gzipped IDX files, the form a plain script parses."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    n = data.n_train
    for prefix, rows in (("train", slice(0, n)), ("t10k", slice(n, None))):
        for kind, array in (("images-idx3", data.X[rows].reshape(-1, *data.image_shape)),
                            ("labels-idx1", data.y[rows])):
            array = np.ascontiguousarray(array, dtype=np.uint8)
            header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
            with gzip.open(folder / f"{prefix}-{kind}-ubyte.gz", "wb", compresslevel=6) as fh:
                fh.write(header + array.tobytes())
    return folder




def probe(kind: str, args: list[str]) -> None:
    """Time one library call inside this process and print it as JSON (run as a child by the suite)."""
    import numpy as np

    from digitclf import datasets

    if kind == "setup":
        print(json.dumps(setup(Path(args[0]), args[1:])))
        return
    if kind == "idx-parse":
        start = time.perf_counter()
        parts = datasets.read_idx_folder(FASHION_DIR)
        seconds = time.perf_counter() - start
        shape = [sum(len(parts[k]) for k in ("x_train", "x_test")), int(np.prod(parts["x_train"].shape[1:]))]
    elif kind == "cache-load":
        start = time.perf_counter()
        data = datasets.cache_load("fashion-mnist")
        seconds = time.perf_counter() - start
        if data is None:
            raise BenchmarkError("fashion-mnist is not in the cache")
        shape = list(data.X.shape)
    elif kind == "fast-fit":
        from threadpoolctl import threadpool_limits

        from digitclf.config import load_config
        from digitclf.models import build_preprocessor, fit_transform_steps

        cfg = load_config(str(REPO / "configs" / "fashion_mnist_fast.yaml"), [])
        data = datasets.cache_load("fashion-mnist")
        steps = build_preprocessor(cfg.preprocess, data.pixel_max, cfg.seed)
        X_train, X_test = fit_transform_steps(steps, data.X[: data.n_train]), data.X[data.n_train:]
        for _, step in steps:
            X_test = step.transform(X_test)
        if args[0] == "sklearnex":
            from sklearnex.linear_model import LogisticRegression

            model = LogisticRegression(**cfg.model.params, random_state=cfg.seed, n_jobs=1)
        else:
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(**cfg.model.params, random_state=cfg.seed)
        with threadpool_limits(1, user_api="blas"):
            start = time.perf_counter()
            model.fit(X_train, data.y[: data.n_train])
            seconds = time.perf_counter() - start
        accuracy = float((model.predict(X_test) == data.y[data.n_train:]).mean())
        print(json.dumps({"fit s": seconds, "test accuracy": accuracy}))
        return
    elif kind == "gradient":
        dtype = np.dtype(args[0] if args else "float32")
        data = datasets.cache_load("fashion-mnist", verify=False)
        X = np.asarray(data.X[: data.n_train], dtype=dtype)
        rng = np.random.default_rng(0)
        W = rng.standard_normal((X.shape[1], 10)).astype(dtype)
        R = rng.standard_normal((X.shape[0], 10)).astype(dtype)
        from threadpoolctl import threadpool_limits

        times = []
        with threadpool_limits(int(args[1]) if len(args) > 1 else None, user_api="blas"):
            for _ in range(20):
                start = time.perf_counter()
                X @ W
                X.T @ R
                times.append(time.perf_counter() - start)
        print(json.dumps({"gradient ms": 1000 * statistics.median(times)}))
        return
    else:
        raise BenchmarkError(f"unknown probe {kind!r}")
    print(json.dumps({"call s": seconds, "shape": shape}))


# ---------------------------------------------------------------- the report


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def workload_table(outcome: Outcome) -> list[str]:
    w = outcome.workload
    lines = [f"### {w.title}", ""]
    if outcome.skipped:
        return lines + [f"Skipped: {outcome.skipped}.", ""]
    base = w.variants[0].label
    a_wall, a_rss = median_of(outcome.samples[base], "wall"), median_of(outcome.samples[base], "rss_mb")
    head = ["variant", "wall s (median)", "wall min-max", "cpu s", "peak RSS MB", "accuracy",
            *w.extra_keys, "wall B/A", "RSS B/A"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in w.variants:
        s = outcome.samples[v.label]
        wall, rss = median_of(s, "wall"), median_of(s, "rss_mb")
        is_base = v.label == base
        row = [f"{'A' if is_base else 'B'}: {v.label}", fmt(wall), f"{min(x.wall for x in s):.2f}-{max(x.wall for x in s):.2f}",
               fmt(median_of(s, "cpu")), fmt(rss, 0), fmt(median_of(s, "accuracy"), 4),
               *[fmt(median_of(s, k), 3 if k.endswith(" s") else (1 if "ms" in k else 2)) for k in w.extra_keys],
               "1" if is_base else f"{wall / a_wall:.3f}", "1" if is_base else f"{rss / a_rss:.3f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if w.note:
        lines += [w.note, ""]
    return lines


def target_rows(outcome: Outcome) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) per target of a measured workload."""
    rows = []
    w = outcome.workload
    if outcome.skipped:
        return [(t.text, "skipped", "-") for t in w.targets]
    base = outcome.samples[w.variants[0].label]
    for t in w.targets:
        mine = outcome.samples[t.variant]
        ratio = median_of(mine, t.metric) / median_of(mine if t.over else base, t.over or t.metric)
        measured = f"{ratio:.3f}x"
        met = ratio <= t.limit
        if t.min_accuracy_delta is not None:
            delta = median_of(mine, "accuracy") - median_of(base, "accuracy")
            measured += f", accuracy {delta * 100:+.2f} points"
            met = met and delta >= t.min_accuracy_delta - 1e-12
        rows.append((t.text, measured, "met" if met else "NOT met"))
    return rows


def machine_lines(repeats: int, loads: tuple[str, str], blas: str, runner_rss: float) -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem = next((line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), None)
    openblas_env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                             if k in os.environ) or "unset"
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {int(mem) / 2**20:.0f} GiB RAM" if mem else
        f"- machine: {os.cpu_count()} CPUs ({cpu})",
        f"- python {platform.python_version()}, digitclf {v('digitclf')}, scikit-learn {v('scikit-learn')}, "
        f"numpy {v('numpy')}, scipy {v('scipy')}, matplotlib {v('matplotlib')}",
        f"- BLAS: {blas}; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: {openblas_env}",
        f"- repeats: {repeats} per variant, alternating A and B; medians reported; peak RSS is each child's "
        f"ru_maxrss from os.wait4 (the runner's own peak, a floor for it, was {runner_rss:.0f} MB)",
        f"- load average (1 min) before / after: {loads[0]} / {loads[1]} (the suite's own 2-thread fits count in "
        "it; other processes on the machine inflate wall times)",
    ]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def loadavg() -> str:
    return _read("/proc/loadavg").split(" ")[0] or "?"


def render(outcomes: list[Outcome], repeats: int, loads: tuple[str, str], blas: str, runner_rss: float,
           command: str) -> str:
    lines = ["# digitclf benchmark results", "",
             f"Produced by `{command}`; ratios are B/A, digitclf divided by the baseline (lower is better).", ""]
    lines += machine_lines(repeats, loads, blas, runner_rss) + ["", "## Targets", "", "| target | measured (B/A) | verdict |",
                                              "|---|---|---|"]
    for outcome in outcomes:
        lines += [f"| {t} | {m} | {v} |" for t, m, v in target_rows(outcome)]
    lines += ["", "## Measurements", ""]
    for outcome in outcomes:
        lines += workload_table(outcome)
    return "\n".join(lines).rstrip() + "\n"


def write_report(path: Path, text: str) -> None:
    from digitclf.runs import write_text

    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER):]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text + ("\n" + notes if notes else ""))


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all; mnist skips "
                             "itself when MNIST is not cached)")
    parser.add_argument("--dataset", choices=("fashion-mnist", "mnist", "digits"),
                        help="run only the seed workload on this data set (mnist: needs it in the digitclf cache)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant (default 3)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md",
                        help="where to write the Markdown report (default benchmarks/RESULTS.md)")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.probe:
        probe(args.probe, rest)
        return 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.dataset:
        names = [{"fashion-mnist": "fashion", "mnist": "mnist", "digits": "digits"}[args.dataset]]
    else:
        names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # run the cleanup below
    tmp = Path(tempfile.mkdtemp(prefix="digitclf-bench-"))
    try:
        say(f"preparing data in {tmp} (not timed)")
        facts = json.loads(run_child([sys.executable, str(Path(__file__).resolve()), "--probe", "setup", str(tmp),
                                      *names], dict(os.environ))[3])
        loads_before = loadavg()
        outcomes = []
        for item in build_workloads(names, tmp, facts):
            if isinstance(item, Outcome):
                say(f"{item.workload.name}: skipped: {item.skipped}")
                outcomes.append(item)
            else:
                outcomes.append(run_workload(item, args.repeats))
        runner_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        command = " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
        report = render(outcomes, args.repeats, (loads_before, loadavg()), facts["blas"], runner_rss, command)
    except BenchmarkError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(report, end="")
    write_report(args.out, report)
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
