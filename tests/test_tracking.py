"""tracking (MLflow): a saved run logged to a local SQLite tracking store, read back through MLflow's own
client.  ``digitclf train --mlflow`` is in cli/test_train_cmd.py."""

from __future__ import annotations

import json
import os
import socket
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow", reason="the digitclf[mlflow] extra is not installed")

from digitclf import tracking  # noqa: E402
from digitclf.config import MlflowConfig, load_config  # noqa: E402
from digitclf.errors import ConfigError, RunError  # noqa: E402
from digitclf.runner import train  # noqa: E402
from digitclf.runs import RunDir, load_model, load_split  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "digits_lbfgs.yaml"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite store for the module: MLflow takes ~10 s to create its tables in a new one."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def scaled_run(tmp_path_factory) -> RunDir:
    """A complete digits run whose pipeline calls a digitclf function (scale_pixels), plots on."""
    outputs = tmp_path_factory.mktemp("outputs")
    return train(load_config(CONFIG, ["preprocess=[scale]"]), outputs=outputs).run


def experiment_runs(client, experiment: str, filter_string: str = "") -> list:
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], filter_string=filter_string)


@pytest.mark.slow
def test_log_run_reads_back_params_metrics_tags_artifacts_and_model(store, scaled_run, tmp_path, monkeypatch,
                                                                    capsys):
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.metrics import accuracy_score, f1_score

    uri_before = mlflow.get_tracking_uri()
    run_id = tracking.log_run(scaled_run, MlflowConfig(tracking_uri=store, experiment="readback"))
    assert capsys.readouterr().out == ""  # stdout stays clean for --json
    assert mlflow.get_tracking_uri() == uri_before and "MLFLOW_TRACKING_URI" not in os.environ

    client = mlflow.MlflowClient(store)
    logged = client.get_run(run_id)
    assert [r.info.run_id for r in experiment_runs(client, "readback")] == [run_id]
    assert logged.info.status == "FINISHED"
    assert logged.info.run_name == f"digits_lbfgs/{scaled_run.id}"
    record = json.loads(scaled_run.file("run.json").read_text())

    # params: the resolved config flattened by pandas (independently), lists as JSON, and every parameter of
    # the classifier, scikit-learn's defaults too
    from sklearn.linear_model import LogisticRegression

    flat = pd.json_normalize(record["config"], sep=".").iloc[0].to_dict()
    estimator = LogisticRegression(**record["config"]["model"]["params"], random_state=record["config"]["seed"])
    flat.update({f"model.params.{key}": value for key, value in estimator.get_params().items()})
    expected = {key: value if isinstance(value, str) else json.dumps(value) for key, value in flat.items()}
    assert logged.data.params == expected
    assert logged.data.params["model.params.solver"] == "lbfgs"
    assert (logged.data.params["model.params.C"], logged.data.params["model.params.max_iter"]) == ("1.0", "100")
    assert logged.data.params["preprocess"] == '["scale"]'

    # the data set: an MLflow dataset input whose digest is digitclf's fingerprint
    (dataset_input,) = logged.inputs.dataset_inputs
    assert dataset_input.dataset.name == "digits"
    assert dataset_input.dataset.digest == record["dataset"]["fingerprint"]
    assert json.loads(dataset_input.dataset.source) == {"tags": {"digitclf.source": "sklearn.datasets.load_digits"}}
    assert json.loads(dataset_input.dataset.schema) == {"mlflow_colspec": [
        {"name": "pixels", "type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, 64]}},
        {"name": "label", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]}

    # metrics: scores recomputed by scikit-learn from the saved predictions
    split = load_split(scaled_run)
    saved = scaled_run.metrics().to_json()
    m = logged.data.metrics
    assert m["accuracy"] == pytest.approx(accuracy_score(split.y_test, split.y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(split.y_test, split.y_pred, average="macro"))
    assert (m["accuracy_ci95_low"], m["accuracy_ci95_high"]) == pytest.approx(tuple(saved["accuracy_ci95"]))
    assert m["accuracy_ci95_low"] < m["accuracy"] < m["accuracy_ci95_high"]
    assert (m["n_train"], m["n_test"]) == (1797 - 450, 450)
    assert m["n_iter"] == saved["n_iter"]
    for phase, seconds in saved["timings"].items():
        assert m[f"time_{phase}_wall"] == pytest.approx(seconds["wall"])
        assert m[f"time_{phase}_cpu"] == pytest.approx(seconds["cpu"])

    # tags: where the run came from
    import sklearn

    import digitclf

    tags = logged.data.tags
    assert tags["dataset.name"] == "digits"
    assert tags["dataset.fingerprint"] == record["dataset"]["fingerprint"]
    assert tags["digitclf.version"] == digitclf.__version__
    assert tags["scikit-learn.version"] == sklearn.__version__
    assert tags["digitclf.run_id"] == scaled_run.id
    assert Path(tags["digitclf.run_dir"]) == scaled_run.path.resolve()
    assert tags["converged"] == str(saved["converged"]).lower()
    assert "mlflow.parentRunId" not in tags

    # artifacts: the same bytes as in the run folder, PNGs decodable
    names = sorted(a.path for a in client.list_artifacts(run_id))
    assert names == sorted(["config.yaml", "confusion_matrix.png", "metrics.json", "misclassified.png", "run.json"])
    local = Path(client.download_artifacts(run_id, "", str(tmp_path)))
    for name in names:
        assert (local / name).read_bytes() == scaled_run.file(name).read_bytes()
    with Image.open(local / "confusion_matrix.png") as png, Image.open(scaled_run.file("confusion_matrix.png")) as own:
        assert png.size == own.size and png.size[0] > 100

    # the model through mlflow.sklearn and mlflow.pyfunc predicts what the run's own model predicts, from
    # uint8 pixels as saved, float64 (what load_digits returns) and float32; the signature's double columns take
    # every dtype numpy converts to float64 exactly, so int64 is refused (cast it: X.astype(float))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    model = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    X = load_digits().data.astype(np.uint8)
    own = load_model(scaled_run).predict(X)
    np.testing.assert_array_equal(model.predict(X), own)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    for dtype in (np.uint8, np.int32, np.float32, np.float64):
        np.testing.assert_array_equal(np.asarray(pyfunc.predict(X.astype(dtype))).ravel(), own)
    with pytest.raises(mlflow.exceptions.MlflowException, match="Can not safely convert int64 to float64"):
        pyfunc.predict(X.astype(np.int64))


@pytest.mark.slow
def test_sweep_points_are_child_runs_of_one_parent(store):
    settings = MlflowConfig(tracking_uri=store, experiment="sweep")
    grid = {"grid": {"model.params.C": [0.1, 1.0]}}
    notebook_uri = "sqlite:///somewhere-else.db"  # a user's own choice survives log_run
    mlflow.set_tracking_uri(notebook_uri)
    try:
        with tracking.parent_run(settings, "digits_lbfgs sweep", grid) as parent_id:
            children = []
            for index, c in enumerate((0.1, 1.0), 1):
                result = train(load_config("digits_lbfgs", ["output.plots=false", f"model.params.C={c}"]),
                               record={"sweep": {"id": "digits-sweep", "point": {"model.params.C": c}, "index": index}})
                children.append(tracking.log_run(result.run, settings, parent_run_id=parent_id))
        assert mlflow.get_tracking_uri() == notebook_uri
    finally:
        mlflow.set_tracking_uri(None)
    assert not Path("somewhere-else.db").exists()

    client = mlflow.MlflowClient(store)
    found = experiment_runs(client, "sweep", f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(r.info.run_id for r in found) == sorted(children)
    assert sorted((r.data.tags["digitclf.sweep_index"], r.data.params["model.params.C"]) for r in found) == [
        ("1", "0.1"), ("2", "1.0")]
    assert {r.data.tags["digitclf.sweep_id"] for r in found} == {"digits-sweep"}
    assert {r.data.tags["digitclf.run_id"] for r in found} == {p.name for p in Path("outputs/digits_lbfgs").iterdir()}
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.info.run_name == "digits_lbfgs sweep"
    assert parent.data.params == {"grid.model.params.C": "[0.1, 1.0]"}

    with pytest.raises(KeyError):  # a sweep that fails leaves its parent FAILED, not RUNNING
        with tracking.parent_run(settings, "broken sweep", {}) as broken_id:
            raise KeyError("boom")
    assert client.get_run(broken_id).info.status == "FAILED"


@pytest.mark.slow
def test_failure_while_logging_is_one_error_and_marks_the_mlflow_run_failed(store, scaled_run, monkeypatch):
    def full_disk(self, run_id, local_path, artifact_path=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlflow.MlflowClient, "log_artifact", full_disk)
    with pytest.raises(tracking.TrackingError) as caught:
        tracking.log_run(scaled_run, MlflowConfig(tracking_uri=store, experiment="faults"))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"MLflow at {store}: could not log the run (MLflow run ")
    assert "No space left on device" in message
    [logged] = experiment_runs(mlflow.MlflowClient(store), "faults")
    assert logged.info.status == "FAILED" and f"run {logged.info.run_id} is marked FAILED" in message


@pytest.mark.slow
def test_refuses_incomplete_runs_and_deleted_experiments(store):
    run = RunDir.create(Path("outputs"), "digits_lbfgs")
    run.start({"name": "digits_lbfgs"})
    run.finish("failed", error="boom")
    with pytest.raises(RunError, match=f"run {run.id} is failed, not complete; only complete runs are logged"):
        tracking.log_run(run, MlflowConfig(tracking_uri=store, experiment="refused"))

    client = mlflow.MlflowClient(store)
    client.delete_experiment(client.create_experiment("gone"))
    with pytest.raises(tracking.TrackingError, match="MLflow experiment 'gone' is deleted in .*; restore it"):
        with tracking.parent_run(MlflowConfig(tracking_uri=store, experiment="gone"), "sweep", {}):
            pass


def test_unreachable_server_fails_fast_with_one_line():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(tracking.TrackingError) as caught:
        tracking.log_run(RunDir(Path("never-read")), MlflowConfig(tracking_uri=uri))
    assert str(caught.value).startswith(f"MLflow server {uri} is not reachable (")
    assert "mlflow server --backend-store-uri sqlite:///mlflow.db" in str(caught.value)


def test_missing_mlflow_is_a_config_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` sees when it is not installed
    expected = "output.mlflow / --mlflow needs MLflow, which is not installed; pip install 'digitclf[mlflow]'"
    with pytest.raises(ConfigError) as caught:
        tracking.log_run(RunDir(Path("never-read")), MlflowConfig())
    assert str(caught.value) == expected
    with pytest.raises(ConfigError, match="pip install 'digitclf\\[mlflow\\]'"):
        with tracking.parent_run(MlflowConfig(), "sweep", {}):
            pass


# `digitclf sweep --mlflow`: moves to cli/test_sweep_cmd.py with the rest of the sweep command's tests
@pytest.mark.slow
def test_sweep_with_mlflow_logs_a_parent_and_one_child_per_point(cli, tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'sweep.db'}"
    result = cli("sweep", "-c", "digits_lbfgs", "--grid", "model.params.C=0.1,1", "--set", "output.plots=false",
                 "--set", f"output.mlflow={{tracking_uri: '{uri}', experiment: sweeps}}", "--json")
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("sweeps")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    summary = json.loads(result.stdout)
    assert sorted(r.data.metrics["accuracy"] for r in children) == sorted(row["accuracy"] for row in summary["points"])


def test_what_mlflow_prints_goes_to_stderr(monkeypatch, capsys):
    """MLflow prints "View run ... at: http://..." on stdout when it logs to a server: digitclf moves it
    to stderr, so ``train --json`` stays one JSON document."""
    def chatty(*args, **kwargs):
        print("View run digits at: http://127.0.0.1:5000/#/experiments/1/runs/abc")
        return "abc"

    monkeypatch.setattr(tracking, "_log_run", chatty)
    assert tracking.log_run(None, None) == "abc"
    out, err = capsys.readouterr()
    assert out == "" and "View run digits" in err


# ---------------------------------------------------------------- a real `mlflow server`


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _no_proxy_env(**extra: str) -> dict[str, str]:
    """This environment, 127.0.0.1 reached directly (a proxy set for the machine must not see the test server)."""
    return {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1 (a free port): SQLite backend, artifacts proxied by the server.

    mlflow-skinny's server needs Flask and Flask-CORS (in the test extra); job execution is off (it needs huey).
    """
    import importlib.util
    import signal
    import subprocess
    import time
    import urllib.request

    if importlib.util.find_spec("flask") is None or importlib.util.find_spec("flask_cors") is None:
        pytest.skip("`mlflow server` needs Flask and Flask-CORS: pip install 'digitclf[test]'")
    folder = tmp_path_factory.mktemp("server")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
         str(folder / "artifacts")],
        cwd=folder, env=_no_proxy_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                if direct.open(f"{uri}/health", timeout=2).read() == b"OK":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _digitclf(*args: str, uri: str) -> "subprocess.CompletedProcess":
    """``digitclf ...`` in a new process, as a user runs it, with MLFLOW_TRACKING_URI set."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "digitclf", *args], env=_no_proxy_env(MLFLOW_TRACKING_URI=uri),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def _python_without_digitclf(folder: Path) -> Path:
    """A new virtual environment that sees this one's packages (site-packages listed in a .pth) but not digitclf:
    its editable install is a .pth file, which Python runs only in a site folder, never in one a .pth lists.
    The fallback where no package index can be reached."""
    import subprocess
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    (site,) = (folder / "lib").glob("python*/site-packages")
    (site / "this-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder / "bin" / "python"


def _python_with_only(requirements: Path, folder: Path) -> tuple[Path, str | None]:
    """A fresh virtual environment with nothing but ``pip install -r requirements`` (the model's own
    requirements.txt, as MLflow logged it; pip's cache makes a repeat fast).  When pip cannot install them
    (no package index reachable), the .pth environment instead, and why."""
    import subprocess

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"  # this environment's pip installs into it (--python): no pip copied in
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "-r",
                          str(requirements)], capture_output=True, text=True, timeout=1200)
    if pip.returncode == 0:
        return python, None
    why = (pip.stderr.strip().splitlines() or ["(no output)"])[-1]
    return _python_without_digitclf(folder.with_name(folder.name + "-pth")), why


CLEAN_PREDICT = """
import importlib.util, json, sys
assert importlib.util.find_spec("digitclf") is None, "digitclf is importable"
import mlflow.pyfunc, numpy as np
model = mlflow.pyfunc.load_model(sys.argv[1])
X = np.load(sys.argv[2])
out = {dtype: np.asarray(model.predict(X.astype(dtype))).ravel().tolist() for dtype in ("uint8", "float64")}
assert not [name for name in sys.modules if name.startswith("digitclf")]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_train_json_through_a_real_server_and_the_model_in_a_fresh_environment_without_digitclf(server, tmp_path,
                                                                                               monkeypatch):
    import subprocess

    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    done = _digitclf("train", "-c", "digits_lbfgs", "--set", "preprocess=[scale, {pca: {n_components: 20}}]",
                     "--set", "output.plots=false", "--mlflow", "--json", uri=server)
    printed = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert "View run digits_lbfgs/" in done.stderr  # what MLflow prints for a server went to stderr
    run = RunDir(Path("outputs/digits_lbfgs") / printed["run_id"])
    record = run.record()

    client = mlflow.MlflowClient(server)
    (logged,) = experiment_runs(client, "digitclf", f"tags.`digitclf.run_id` = '{run.id}'")
    assert logged.data.metrics["accuracy"] == printed["accuracy"]
    assert (logged.data.params["model.params.C"], logged.data.params["model.params.max_iter"]) == ("1.0", "100")
    assert logged.data.params["preprocess"] == json.dumps(["scale", {"pca": {"n_components": 20, "whiten": False}}])
    (dataset_input,) = logged.inputs.dataset_inputs
    assert (dataset_input.dataset.name, dataset_input.dataset.digest) == ("digits", record.dataset.fingerprint)

    model_uri = f"runs:/{logged.info.run_id}/model"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    requirements = Path(mlflow.pyfunc.get_model_dependencies(model_uri)).read_text().split()  # as MLflow logged it
    from importlib.metadata import version

    assert requirements == [f"{dist}=={version(dist)}" for dist in ("mlflow-skinny", "pandas", "scikit-learn",
                                                                     "skops")]
    own = load_model(run)
    assert isinstance(own.steps[1][1], PCA)
    X = load_digits().data.astype(np.uint8)
    np.save(tmp_path / "X.npy", X)
    requirements_txt = Path(mlflow.pyfunc.get_model_dependencies(model_uri))
    python, why_not_fresh = _python_with_only(requirements_txt, tmp_path / "clean")
    if why_not_fresh is None:  # nothing in it but what the model's requirements.txt pulled in
        installed = subprocess.run([str(python), "-I", "-c", "import importlib.metadata as m, json; print(json.dumps("
                                    "[d.metadata['Name'] for d in m.distributions()]))"],
                                   capture_output=True, text=True, check=True).stdout
        names = {name.lower() for name in json.loads(installed)}
        assert {"scikit-learn", "mlflow-skinny", "pandas", "skops"} <= names and "digitclf" not in names
    else:
        warnings.warn(f"the model was loaded in this environment's packages (a .pth), not a fresh one: pip could "
                      f"not install its requirements.txt: {why_not_fresh}", stacklevel=1)
    clean = subprocess.run([str(python), "-I", "-c", CLEAN_PREDICT, model_uri, str(tmp_path / "X.npy")],
                           cwd=tmp_path, env=_no_proxy_env(MLFLOW_TRACKING_URI=server), capture_output=True,
                           text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    predicted = json.loads(clean.stdout.splitlines()[-1])
    expected = own.predict(X).tolist()
    assert predicted == {"uint8": expected, "float64": expected}


@pytest.mark.slow
def test_sweep_json_through_a_real_server_is_one_document_with_a_parent_and_its_points(server):
    done = _digitclf("sweep", "-c", "digits_lbfgs", "--grid", "model.params.C=0.1,1", "--set", "output.plots=false",
                     "--set", "output.mlflow.experiment=server-sweep", "--mlflow", "--json", uri=server)
    summary = json.loads(done.stdout)
    assert done.stderr.count("View run ") == 3  # two points and the parent, on stderr
    client = mlflow.MlflowClient(server)
    (parent,) = experiment_runs(client, "server-sweep", "tags.`digitclf.kind` = 'sweep'")
    children = experiment_runs(client, "server-sweep", f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted((r.data.params["model.params.C"], r.data.metrics["accuracy"]) for r in children) == sorted(
        (json.dumps(p["values"]["model.params.C"]), p["accuracy"]) for p in summary["points"])


def test_overlapping_redirects_in_two_threads_give_back_the_real_stdout(capsys):
    """contextlib.redirect_stdout in two overlapping threads leaves sys.stdout pointing at stderr; the counted
    redirect gives the real stdout back when the last block ends."""
    import threading

    real = sys.stdout
    entered, release = threading.Barrier(2), threading.Event()

    def log(name: str, wait: bool) -> None:
        with tracking.stdout_to_stderr():
            entered.wait()
            print(f"View run {name}")
            if wait:
                release.wait()

    first = threading.Thread(target=log, args=("first", False))
    second = threading.Thread(target=log, args=("second", True))
    first.start(), second.start()
    first.join()  # the first block ends while the second is still inside its own
    assert sys.stdout is not real
    release.set()
    second.join()
    assert sys.stdout is real
    print("{}")
    out, err = capsys.readouterr()
    assert out == "{}\n" and sorted(err.splitlines()) == ["View run first", "View run second"]


def test_requirements_pin_what_is_installed_and_never_digitclf():
    from importlib.metadata import PackageNotFoundError, version

    try:
        expected = [f"mlflow=={version('mlflow')}"]
    except PackageNotFoundError:  # mlflow-skinny only: pyfunc needs pandas, which the full package would bring
        expected = [f"mlflow-skinny=={version('mlflow-skinny')}", f"pandas=={version('pandas')}"]
    expected += [f"scikit-learn=={version('scikit-learn')}", f"skops=={version('skops')}"]
    assert tracking.requirements() == expected


def test_estimator_params_are_the_classifiers_own_inside_a_one_vs_rest_wrapper():
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    inner = LogisticRegression(solver="liblinear", C=2.5)
    params = tracking.estimator_params(Pipeline([("standardize", StandardScaler()),
                                                 ("clf", OneVsRestClassifier(inner))]))
    assert params == {f"model.params.{key}": value if isinstance(value, str) else json.dumps(value)
                      for key, value in inner.get_params().items()}
    assert (params["model.params.C"], params["model.params.solver"], params["model.params.max_iter"]) == (
        "2.5", "liblinear", "100")


@pytest.mark.parametrize("source,source_type,where", [
    ("sklearn.datasets.load_digits", "code", {"tags": {"digitclf.source": "sklearn.datasets.load_digits"}}),
    ("openml:554", "http", {"url": "https://www.openml.org/d/554"}),
    ("import:/data/fashion", "local", {"uri": "/data/fashion"}),
])
def test_dataset_input_names_the_source_and_uses_the_fingerprint_as_digest(source, source_type, where):
    from types import SimpleNamespace

    from digitclf.records import DatasetInfo

    info = DatasetInfo(name="mnist", source=source, fingerprint="sha256:0123456789abcdef", n_samples=70000,
                       n_features=784, image_shape=(28, 28), dtype="uint8")
    metrics = SimpleNamespace(n_train=60000, n_test=10000)  # all dataset_input reads of metrics.json
    logged = tracking.dataset_input(info, metrics)
    assert (logged.dataset.name, logged.dataset.digest) == ("mnist", "sha256:0123456789abcdef")
    assert (logged.dataset.source_type, json.loads(logged.dataset.source)) == (source_type, where)
    assert [(tag.key, tag.value) for tag in logged.tags] == [
        ("mlflow.data.context", "training (60000 rows) and evaluation (10000 rows)")]


@pytest.mark.slow  # two virtual environments
def test_when_pip_cannot_install_the_requirements_the_clean_environment_is_the_pth_one(tmp_path):
    """The offline fallback of the fresh environment: this one's packages through a .pth, still without digitclf."""
    import subprocess

    (tmp_path / "requirements.txt").write_text("this is not a requirement\n")  # pip fails at once, no index asked
    python, why = _python_with_only(tmp_path / "requirements.txt", tmp_path / "clean")
    assert why is not None and "this is not a requirement" in why
    probe = "import importlib.util as u; print(u.find_spec('sklearn') is not None, u.find_spec('digitclf') is None)"
    done = subprocess.run([str(python), "-I", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True"]
