"""Shell completion as a shell asks for it: Click's protocol (_DIGITCLF_COMPLETE=complete_bash with the
words bash split), and once through a real bash in tmux with the script `--show-completion` prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import train

CLI = [sys.executable, "-c", "from digitclf.cli import main; main()"]


def complete(line: str) -> list[str]:
    """What bash gets back for the words of ``line`` (a trailing space: completing a new, empty word).

    bash splits words at '=' (COMP_WORDBREAKS), so ``a=b`` arrives as three words."""
    words = line.replace("=", " = ").split()
    if line.endswith(" ") or line.endswith("="):
        words.append("")
    env = {**os.environ, "_DIGITCLF_COMPLETE": "complete_bash", "COMP_WORDS": "\n".join(words),
           "COMP_CWORD": str(len(words) - 1 - (line.endswith("=") and 1))}
    if line.endswith("="):  # bash's current word is the '=' itself
        env["COMP_WORDS"] = "\n".join(words[:-1])
    done = subprocess.run(CLI, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.slow  # fresh interpreters
def test_run_ids_and_run_names_complete_for_commands_that_take_a_run():
    assert complete("digitclf evaluate ") == []  # no runs yet: bash falls back to file names
    train(Path("outputs"), "output.plots=false", "model.params.max_iter=5")
    (run,) = Path("outputs").glob("*/*/run.json")
    run_id = run.parent.name
    assert complete("digitclf evaluate ") == [run_id, "digits_lbfgs"]
    assert complete(f"digitclf plot-errors {run_id[:9]}") == [run_id]
    assert complete("digitclf report dig") == ["digits_lbfgs"]
    assert complete("digitclf compare ") == [run_id, "digits_lbfgs"]
    assert complete(f"digitclf predict {run_id[:4]}") == [run_id]
    assert complete("digitclf evaluate zzz") == []


@pytest.mark.slow
def test_bare_config_names_and_paths_complete():
    names = sorted(p.stem for p in Path("configs").glob("*.yaml"))
    assert complete("digitclf train --config fa") == [n for n in names if n.startswith("fa")]
    assert complete("digitclf sweep -c sweep_") == [n for n in names if n.startswith("sweep_")]
    assert complete("digitclf train --config configs/mnist_l") == ["configs/mnist_lbfgs.yaml",
                                                                     "configs/mnist_liblinear.yaml"]


@pytest.mark.slow
def test_set_keys_and_values_complete_from_the_schema_and_the_configured_estimator():
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    keys = complete("digitclf train --set model.params.")
    assert keys == [f"model.params.{k}=" for k in sorted(LogisticRegression().get_params())]
    from digitclf.config import OutputConfig

    mlflow = ["output.mlflow.tracking_uri=", "output.mlflow.experiment="]
    assert complete("digitclf train --set out") == [
        key for k in OutputConfig.model_fields for key in (mlflow if k == "mlflow" else [f"output.{k}="])]
    # the values after '=': readline replaces only the part after it, the '=' stays
    assert complete("digitclf train --set model.params.solver=sa") == ["sag", "saga"]
    assert complete("digitclf train --set output.plots=") == ["true", "false"]
    assert complete("digitclf train --set model.estimator=k") == ["knn"]
    assert complete("digitclf train --set dataset.name=f") == ["fashion-mnist"]
    # an earlier --set of the estimator switches the parameters offered
    knn = complete("digitclf train --set model.estimator=knn --set model.params.")
    assert knn == [f"model.params.{k}=" for k in sorted(KNeighborsClassifier().get_params())]


@pytest.mark.slow
def test_data_set_names_complete():
    assert complete("digitclf plot-samples --dataset ") == ["digits", "mnist", "fashion-mnist", "idx", "npz"]
    assert complete("digitclf evaluate --dataset fa") == ["fashion-mnist"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("bash") is None, reason="needs tmux and bash")
def test_real_bash_completes_a_set_value_in_place(tmp_path):
    """Typed in bash with the script from --show-completion: the key ends at '=' with no space, and the
    value completes after it; Tab right after '=' adds no second '='; a config path with spaces is quoted."""
    (tmp_path / "my configs").mkdir()
    (tmp_path / "my configs" / "digits lbfgs.yaml").write_text("name: spaced\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "digitclf").write_text(f"#!/bin/sh\nexec {sys.executable} -c 'from digitclf.cli import main; main()' \"$@\"\n")
    (bindir / "digitclf").chmod(0o755)
    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket]
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "PS1": "$ "}
    subprocess.run([*tmux, "new-session", "-d", "-x", "200", "-y", "20", "-c", str(tmp_path),
                    "bash --norc --noprofile"], env=env, check=True)
    try:
        def keys(*what: str) -> None:
            subprocess.run([*tmux, "send-keys", "-t", "0", "--", *what], check=True)

        def last_line_becomes(expected: str) -> str:
            deadline = time.monotonic() + 60
            while True:
                shown = subprocess.run([*tmux, "capture-pane", "-p", "-t", "0"], capture_output=True,
                                       text=True).stdout.strip().splitlines()
                last = shown[-1] if shown else ""
                if last == expected or time.monotonic() > deadline:
                    return last
                time.sleep(0.3)

        keys("PS1='$ '; eval \"$(digitclf --show-completion bash)\"; clear", "Enter")
        assert last_line_becomes("$") == "$"
        keys("digitclf train --set model.params.sol", "Tab")
        expected = "$ digitclf train --set model.params.solver="
        assert last_line_becomes(expected) == expected
        keys("newton-ch", "Tab")
        expected += "newton-cholesky"
        assert last_line_becomes(expected) == expected
        keys("--set output.plots=", "Tab", "Tab")  # the second Tab lists true/false; the line stays as typed
        expected += " --set output.plots="
        assert last_line_becomes(expected) == expected
        keys("t", "Tab")
        expected += "true"
        assert last_line_becomes(expected) == expected
        keys("--config my", "Tab", "di", "Tab")  # folder and file names with a space, escaped as bash does
        expected += r" --config my\ configs/digits\ lbfgs.yaml"
        assert last_line_becomes(expected) == expected
        keys("C-u", "digitclf config validate --config 'my configs/d", "Tab")  # inside an open quote
        expected = "$ digitclf config validate --config 'my configs/digits lbfgs.yaml' "
        assert last_line_becomes(expected) == expected.rstrip()
        keys("Enter")
        assert last_line_becomes("$") == "$"
        shown = subprocess.run([*tmux, "capture-pane", "-p", "-t", "0"], capture_output=True, text=True).stdout
        assert "ok: spaced (digits, logistic_regression) is valid" in shown
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
