"""README's client walkthroughs typed as written, on a reader's machine, including the second time:
the DVC block from a clone of digitclf, the `mlflow server` command as shown, and the editor settings
README gives for the YAML language server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent


def section(title: str) -> str:
    text = README.read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def reader_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org", "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost", **extra}


def clone_of_digitclf(path: Path) -> Path:
    """What the reader has after the quick start: a git clone of digitclf (its .gitignore, docs, configs)."""
    path.mkdir(parents=True)
    shutil.copy(ROOT / ".gitignore", path / ".gitignore")
    shutil.copytree(ROOT / "docs", path / "docs")
    shutil.copytree(ROOT / "configs", path / "configs")
    (path / "outputs").mkdir()
    (path / "outputs" / ".gitkeep").write_text("")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        subprocess.run(command, cwd=path, env=reader_env(), check=True, capture_output=True)
    return path


# ---------------------------------------------------------------- DVC


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dvc", path=str(BIN)) is None and shutil.which("dvc") is None,
                    reason="DVC is not installed")
def test_readme_dvc_block_runs_as_typed_from_a_clone_of_digitclf_and_repro_twice_is_a_no_op(tmp_path):
    (block,) = [b for b in bash_blocks(section("DVC")) if "dvc init" in b]
    # the queue lines start a worker and wait for it: tests/test_dvc.py drives the queue
    lines = [line for line in block.splitlines() if line.strip() and "queue" not in line]
    clone = clone_of_digitclf(tmp_path / "digitclf")
    # each line must succeed as a whole (set -e alone lets the first command of an `a && b` line fail)
    commands = [re.sub(r"\s+#\s.*$", "", line) for line in [*lines, "echo '--- again'", "dvc repro"]]
    script = "".join(f"{{ {command}\n}} || {{ echo 'README DVC line {n} failed' >&2; exit 1; }}\n"
                     for n, command in enumerate(commands, 1))
    done = subprocess.run(["bash", "-c", script], cwd=clone, env=reader_env(), capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    again = done.stdout.rsplit("--- again", 1)[1]
    assert "Stage 'train' didn't change, skipping" in again and "Running stage" not in again
    repo = tmp_path / "digits-dvc"
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert "outputs/digits_lbfgs/dvc/metrics_flat.json" in tracked.split()
    assert (repo / "dvc_plots" / "index.html").is_file()
