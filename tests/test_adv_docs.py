"""README's client walkthroughs typed as written, on a reader's machine, including the second time:
the DVC block from a clone of digitclf, the `mlflow server` command as shown, and the editor settings
README gives for the YAML language server."""

from __future__ import annotations

import json
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


# ---------------------------------------------------------------- MLflow


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    import urllib.request

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    while True:
        try:
            if direct.open(url, timeout=2).status == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jq") is None, reason="README pipes into jq")
def test_readme_mlflow_server_commands_as_typed_log_twice_and_the_model_loads_from_the_server(tmp_path):
    import importlib.util
    import signal

    pytest.importorskip("mlflow")
    if importlib.util.find_spec("flask") is None or importlib.util.find_spec("flask_cors") is None:
        pytest.skip("`mlflow server` needs Flask and Flask-CORS: pip install 'digitclf[test]'")
    (block,) = [b for b in bash_blocks(section("MLflow")) if "mlflow server" in b]
    server_line, train_line = [line for line in block.splitlines() if "pip install" not in line]
    port = str(free_port())
    server_line, train_line = (line.replace("5000", port) for line in (server_line, train_line))
    home = tmp_path / "reader"  # where the reader types README's commands: server and client alike
    shutil.copytree(ROOT / "configs", home / "configs")
    log_path = home / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(["bash", "-c", f"exec env {server_line}"], cwd=home, env=reader_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", proc, log_path)
        printed = []
        for _ in range(2):  # the same logging again: a second MLflow run, nothing refused
            done = subprocess.run(["bash", "-c", f"set -o pipefail; {train_line}"], cwd=home,
                                  env=reader_env(), capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
            printed.append(float(done.stdout))
        uri = f"http://127.0.0.1:{port}"
        from mlflow import MlflowClient

        client = MlflowClient(uri)
        (experiment,) = [e for e in client.search_experiments() if e.name == "digitclf"]
        logged = client.search_runs([experiment.experiment_id])
        assert sorted(r.data.metrics["accuracy"] for r in logged) == sorted(printed)
        # README's loading snippet, the run id filled in, in a new process that reaches the server
        snippet = re.search(r"```python\n(import mlflow.pyfunc.*?)```", section("MLflow"), re.S).group(1)
        snippet = snippet.replace("<mlflow-run-id>", logged[0].info.run_id)
        snippet += "\nimport numpy as np\nprint(np.asarray(model.predict(load_digits().data)).tolist())\n"
        loaded = subprocess.run([sys.executable, "-c", snippet], cwd=home, env=reader_env(
            MLFLOW_TRACKING_URI=uri), capture_output=True, text=True, timeout=300)
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        from sklearn.datasets import load_digits

        from digitclf.runs import load_model, resolve_run

        run = resolve_run(logged[0].data.tags["digitclf.run_id"], home / "outputs")
        expected = load_model(run).predict(load_digits().data).tolist()
        assert json.loads(loaded.stdout.splitlines()[-1]) == expected

        # README's `mlflow models serve` and its curl request, ports and run id filled in
        (serve_block,) = [b for b in bash_blocks(section("MLflow")) if "mlflow models serve" in b]
        serve_line, curl_line = (re.sub(r"\s+#\s.*$", "", line) for line in serve_block.strip().splitlines())
        serve_port = str(free_port())
        serve_line = serve_line.replace("5000", port).replace("5001", serve_port).replace(
            "<mlflow-run-id>", logged[0].info.run_id)
        serve_log_path = home / "serve.log"
        with serve_log_path.open("w") as serve_log:
            serving = subprocess.Popen(["bash", "-c", f"exec env {serve_line}"], cwd=home, env=reader_env(),
                                       stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(f"http://127.0.0.1:{serve_port}/ping", serving, serve_log_path)
            answer = subprocess.run(["bash", "-c", curl_line.replace("5001", serve_port)], cwd=home,
                                    env=reader_env(), capture_output=True, text=True, timeout=120)
            assert json.loads(answer.stdout) == {"predictions": expected[:1]}
            assert answer.stdout.strip() == serve_block.split("# ", 1)[1].strip()  # the answer README shows
        finally:
            os.killpg(serving.pid, signal.SIGTERM)
            serving.wait(timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    server_log = log_path.read_text()
    assert "No module named" not in server_log and "Traceback" not in server_log, server_log[-3000:]


@pytest.mark.slow  # MLflow creates its tables in a new SQLite file (~10 s)
def test_readme_log_run_later_twice_gives_two_mlflow_runs_with_artifacts_in_mlruns_beside_the_db(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    subprocess.run([sys.executable, "-m", "digitclf", "train", "--set", "output.plots=false", "--quiet"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    snippet = re.search(r"\*\*Log a saved run later\*\*.*?```python\n(.*?)```", section("MLflow"), re.S).group(1)
    script = snippet + "print(mlflow_run_id)\n"
    ids = [subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          check=True, timeout=300).stdout.split()[-1] for _ in range(2)]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = [client.get_run(i) for i in ids]
    assert ids[0] != ids[1] and runs[0].data.tags["digitclf.run_id"] == runs[1].data.tags["digitclf.run_id"]
    for run in runs:
        assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path / "mlruns")
        assert (Path(run.info.artifact_uri.removeprefix("file://")) / "metrics.json").is_file()
