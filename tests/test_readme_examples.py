"""README's shell examples, run the way a reader runs them, and its output samples checked.

Every ```bash block's commands and every ```console block's ``$ `` commands run in order in one
sandbox (its own outputs/ and data cache, the shipped configs), so later examples see the runs
of earlier ones, as a reader's do.  A ```console block shows a command's stdout after it; that
sample must match what the command prints now, with these allowed to differ: timings (numbers with
three decimals, rows named *seconds, the numbers in fit progress lines and how many of them there are,
the iterations a time budget allowed), run ids and dates, and the spacing that aligns columns.  A sample
of stderr redirects it (``2>&1``, ``>/dev/null``).

What cannot run here is listed in SKIP with the reason; an entry that matches no README line
fails, so the list cannot go stale.  Placeholders a reader replaces (a run id prefix, RUN_A,
my_digit.png) are replaced by real ones from the sandbox.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

# README text that marks a command this test cannot run, and why
SKIP = {
    "python3 -m venv .venv": "the quick start's install; .ci/run runs it on a fresh clone",
    "pip install": "installs packages",
    "pytest -q": "the test suite itself",
    " mnist_": "OpenML MNIST needs the network (tests/test_datasets_openml.py covers the loader offline)",
    "/mnist_": "as ' mnist_'",
    "fashion_mnist_lbfgs.yaml --curve": "a full Fashion-MNIST fit, most of a CPU-minute (the 'Watching fits' sample "
                                        "runs one held to 8 s)",
    "--time-budget 5": "as 'fashion_mnist_lbfgs.yaml --curve'",
    "fashion_mnist_fast": "as 'fashion_mnist_lbfgs.yaml --curve' (and its sweep, minutes)",
    "data fetch mnist": "needs the network",
    "--scheduler tcp://": "needs a Dask cluster (tests/sweep/ run a local one)",
    "mlflow server": "starts a server (tests/test_tracking.py runs one)",
    "mlflow models serve": "serves a model logged to a server (tests/test_adv_docs.py runs it)",
    "5001/invocations": "as 'mlflow models serve'",
    "dvc ": "DVC, driven by tests/test_dvc.py",
    "docs/dvc.yaml": "the DVC walkthrough (tests/test_dvc.py)",
    "dvc.lock": "the DVC walkthrough (tests/test_dvc.py)",
    "emnist-digits": "a data set the reader has",
    "sweep --config configs/sweep_digits.yaml --jobs": "about 50 CPU-seconds; tests/sweep/ run sweeps ("
                                                       "the --dry-run example here plans the same sweep)",
    "--mlflow": "MLflow's store setup takes half a minute; tests/test_tracking.py logs to a real server",
    "output.mlflow": "as --mlflow",
}
NEEDS_FASHION = "/usr/share/datasets/fashion-mnist"

RUN_ID = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b")
RUN_PREFIX = re.compile(r"\b20\d{6}-\d{4,6}\b(?!-[0-9a-f])")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\b")
SECONDS = re.compile(r"(?<![\d.])\d+\.\d{3}(?![\d])")
PROGRESS = re.compile(r"^- fit: iteration \d+/\d+, ")  # a progress line: one every 5 s of fit
BUDGETED = re.compile(r"after \d+ iteration\(s\) \(status=99\)")  # a fit a time budget stopped


@dataclass
class Example:
    line: int  # in README, 1-based
    command: str
    expected: list[str] | None = None  # stdout shown after it (console blocks)


def parse(text: str) -> list[Example]:
    """The commands of bash and console blocks, in README order, with the stdout console blocks show."""
    examples: list[Example] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if fence in ("```bash", "```console"):
            start = i + 1
            i += 1
            body: list[tuple[int, str]] = []
            while i < len(lines) and lines[i].strip() != "```":
                body.append((i + 1, lines[i]))
                i += 1
            if fence == "```bash":
                pending = ""
                for number, line in body:
                    if line.strip() and not line.lstrip().startswith("#"):
                        pending += line.rstrip("\\") + (" " if line.endswith("\\") else "")
                        if not line.endswith("\\"):
                            examples.append(Example(number, pending.strip()))
                            pending = ""
            else:
                for number, line in body:
                    if line.startswith("$ "):
                        examples.append(Example(number, line[2:].strip(), []))
                    elif examples and examples[-1].expected is not None and examples[-1].line >= start:
                        examples[-1].expected.append(line)
        i += 1
    return examples


def normalize(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = RUN_ID.sub("<run-id>", line)
        line = DATE.sub("<date>", line)
        if re.match(r"^\*?\s*\w*seconds\b", line) or PROGRESS.match(line):  # timings: every number varies
            line = re.sub(r"\d+(\.\d+)?", "<n>", line)
        line = SECONDS.sub("<seconds>", line)
        line = BUDGETED.sub("after <n> iteration(s) (status=99)", line)
        line = " ".join(line.split())
        if PROGRESS.match(line.replace("<n>", "0")) and out and out[-1] == line:
            continue  # how many progress lines a fit prints depends on its speed: one or more
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def skipped(command: str) -> str | None:
    for marker, reason in SKIP.items():
        if marker in command:
            return reason
    if ("fashion" in command or NEEDS_FASHION in command) and not Path(NEEDS_FASHION).is_dir():
        return "Debian's dataset-fashion-mnist is not installed"
    return None


def substitute(command: str, sandbox: Path) -> str:
    """A reader's placeholders -> real names in the sandbox (newest runs first)."""
    runs = sorted((p.parent for p in (sandbox / "outputs").glob("*/*/run.json")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    ids = iter([r.name for r in runs] * 2)
    command = RUN_PREFIX.sub(lambda m: next(ids, m.group(0)), command)
    if runs:
        command = command.replace("RUN_A", runs[-1].name).replace("RUN_B", runs[0].name)
    return command


def run(command: str, sandbox: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "100"}
    return subprocess.run(["bash", "-c", command], cwd=sandbox, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


def check(examples: list[Example], sandbox: Path) -> list[str]:
    """Run every example; one line per problem (a failing command, an output that differs)."""
    problems = []
    for example in examples:
        if skipped(example.command):
            continue
        command = substitute(example.command, sandbox)
        done = run(command, sandbox)
        shows_error = example.expected is not None and any(line.startswith("Error:") for line in example.expected)
        if done.returncode != 0 and not shows_error:
            problems.append(f"README line {example.line}: `{command}` exited {done.returncode}: "
                            f"{done.stderr.strip().splitlines()[-1:] }")
        elif example.expected is not None:
            want, got = normalize(example.expected), normalize(done.stdout.splitlines())
            if want != got:
                problems.append(f"README line {example.line}: `{command}` printed\n  " + "\n  ".join(got) +
                                "\nbut README shows\n  " + "\n  ".join(want))
    return problems


def make_sandbox(path: Path) -> Path:
    (path / "configs").mkdir(parents=True, exist_ok=True)
    for config in (ROOT / "configs").glob("*.yaml"):
        shutil.copy(config, path / "configs" / config.name)
    (path / "docs").mkdir(exist_ok=True)
    shutil.copy(ROOT / "docs" / "config.schema.json", path / "docs" / "config.schema.json")
    # the images README's predict examples name
    import numpy as np
    from PIL import Image, ImageOps
    from sklearn.datasets import load_digits

    digits = load_digits()

    def on_paper(k: int, size: int) -> Image.Image:  # dark ink on a white page, with a margin
        ink = Image.fromarray((255 - digits.images[k] * 255 / 16).astype(np.uint8)).resize((size, size))
        return ImageOps.expand(ink, size // 3, fill=255)

    on_paper(0, 112).save(path / "my_digit.png")
    (path / "photos").mkdir(exist_ok=True)
    for k in (1, 2):
        on_paper(k, 96).save(path / "photos" / f"digit{k}.png")
    strip = Image.new("L", (4 * 150, 150), 255)
    for n, k in enumerate((2, 0, 2, 6)):  # "2026", digits picked from the 8x8 set by their labels
        index = int(np.flatnonzero(digits.target == k)[0])
        strip.paste(on_paper(index, 90), (n * 150, 0))
    strip.convert("RGB").save(path / "number.jpg", quality=90)
    return path


@pytest.mark.slow
def test_every_runnable_readme_example_runs_and_prints_what_readme_shows(tmp_path):
    examples = parse(README.read_text())
    assert len(examples) > 20
    problems = check(examples, make_sandbox(tmp_path / "reader"))
    assert not problems, "\n\n".join(problems)


def test_every_skip_reason_still_matches_a_readme_example():
    commands = [e.command for e in parse(README.read_text())]
    for marker in SKIP:
        assert any(marker in c for c in commands), f"SKIP entry {marker!r} matches no README command"


def test_the_check_fails_when_a_sample_output_changes(tmp_path):
    """The checker compares, not just runs: a changed sample (or a failing command) is reported."""
    good = "```console\n$ printf 'accuracy  0.9511  (took 0.123 s)\\nrun outputs/x/20261127-221727-3de1ba\\n'\n" \
           "accuracy 0.9511 (took 9.999 s)\nrun outputs/x/20260101-000000-abcdef\n```\n"
    assert check(parse(good), tmp_path) == []
    # a timings row: any number there, whatever its decimals (0.121 once, 0.1208 another time)
    timings = "```console\n$ echo '* fit_seconds 0.121 0.07'\n* fit_seconds 0.1208 0.0745\n```\n"
    assert check(parse(timings), tmp_path) == []
    changed = good.replace("accuracy 0.9511", "accuracy 0.9512")
    assert check(parse(changed), tmp_path)[0].startswith("README line 2: `printf")
    # a stderr sample: how many progress lines (one or more), their numbers and a budget's iterations may differ
    shown = ["- fit: x", "- fit: iteration 9/300, val accuracy 0.8140, 5.3s elapsed, ~170s left at most",
             "- save: after 40 iteration(s) (status=99)"]

    def stderr_sample(*printed: str) -> str:
        command = "{ " + " ".join(f"echo '{line}' >&2;" for line in printed) + " } 2>&1 >/dev/null"
        return "```console\n$ " + command + "\n" + "\n".join(shown) + "\n```\n"

    progress = [f"- fit: iteration {k}/300, val accuracy 0.{k}, {k}.1s elapsed, ~{k}s left at most" for k in (12, 31)]
    assert check(parse(stderr_sample(shown[0], *progress, "- save: after 61 iteration(s) (status=99)")), tmp_path) == []
    assert check(parse(stderr_sample(shown[0], "- save: after 61 iteration(s) (status=99)")), tmp_path)  # none at all
    assert check(parse(stderr_sample(shown[0], progress[0], "- save: after 61 iteration(s) (status=1)")), tmp_path)
    assert check(parse(stderr_sample(shown[0], progress[0].replace("val accuracy", "val acc"), shown[2])), tmp_path)
    failing = "```bash\nfalse\n```\n"
    assert "exited 1" in check(parse(failing), tmp_path)[0]
