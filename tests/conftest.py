"""Shared fixtures: every test runs in its own folder with its own outputs/ and data cache.

Plain helpers (IDX writers, run lookup, PNG checks) are in helpers.py; this file holds the fixtures
that more than one test file uses.
"""

from __future__ import annotations

import os
import shutil
import socket
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from urllib.error import URLError

import numpy as np
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from digitclf.cli import app
from helpers import FASHION_DIR, OpenMLFixture, make_idx, tiny_images, train, write_idx, write_openml_fixture  # noqa: F401

# CI replays the same examples every run (no flaky failures); locally hypothesis explores anew each time
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def signing_key(tmp_path_factory):
    """Models are signed with this session's own key, never the user's (created on the first signed model;
    one for the session, since the saved runs some tests share are trained once per session)."""
    key = tmp_path_factory.mktemp("signing") / "signing.key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGITCLF_KEY", str(key))
        yield key


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, signing_key):
    """cwd = a fresh folder (so outputs/ is private); DIGITCLF_DATA and SCIKIT_LEARN_DATA point inside it;
    models are signed with a key of this test session, never the user's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGITCLF_KEY", str(signing_key))
    monkeypatch.setenv("DIGITCLF_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn_data"))
    monkeypatch.delenv("DIGITCLF_DEBUG", raising=False)
    configs = Path(__file__).resolve().parent.parent / "configs"
    (tmp_path / "configs").symlink_to(configs)
    return tmp_path


@pytest.fixture
def cli():
    """Invoke the CLI in-process: cli("train", "--json") -> click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(app, list(args), **kwargs)

    return invoke


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    """A small MNIST-format folder (gzipped IDX): 200 train, 50 test images of 28x28."""
    folder = tmp_path / "idxdata"
    x_train, y_train = tiny_images(200, seed=1)
    x_test, y_test = tiny_images(50, seed=2)
    write_idx(folder / "train-images-idx3-ubyte", x_train, gz=True)
    write_idx(folder / "train-labels-idx1-ubyte", y_train, gz=True)
    write_idx(folder / "t10k-images-idx3-ubyte", x_test, gz=True)
    write_idx(folder / "t10k-labels-idx1-ubyte", y_test, gz=True)
    return folder


# ---------------------------------------------------------------- saved runs


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """Three saved runs, trained once per session: digits with lbfgs, digits with C=10, and a 28x28 IDX set
    with a few mislabelled test images.  A test file may override ``template`` with runs of its own."""
    root = tmp_path_factory.mktemp("saved")
    outputs = root / "outputs"
    idx_a = make_idx(root / "idx_a", seed=1, mislabel=8)
    idx_b = make_idx(root / "idx_b", seed=5)
    lbfgs = train(outputs)
    # train-time plots only for the first run: the commands under test draw their own (and it saves seconds)
    c10 = train(outputs, "name=digits_c10", "model.params.C=10", "output.plots=false")
    idx = train(outputs, "name=idx_run", "dataset.name=idx", f"dataset.path={idx_a}", "split.kind=predefined",
                "preprocess=[scale]", "output.plots=false")
    return SimpleNamespace(outputs=outputs, idx_a=idx_a, idx_b=idx_b,
                           lbfgs=lbfgs.run.id, c10=c10.run.id, idx=idx.run.id)


@pytest.fixture
def saved(template, isolated):
    """The template's runs copied into this test's outputs/ (evaluate writes into run folders)."""
    shutil.copytree(template.outputs, isolated / "outputs", symlinks=True)
    return template


# ---------------------------------------------------------------- an offline OpenML


@pytest.fixture
def no_network(monkeypatch) -> list[str]:
    """The URLs scikit-learn tried to open: urlopen fails as on a machine without network."""
    import sklearn.datasets._openml as sklearn_openml  # urlopen and the retry delay live here

    opened: list[str] = []

    def offline_urlopen(request, *args, **kwargs):
        opened.append(getattr(request, "full_url", str(request)))
        raise URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline_urlopen)
    monkeypatch.setattr(sklearn_openml, "urlopen", offline_urlopen)  # imported by name there
    monkeypatch.setattr(sklearn_openml, "time", SimpleNamespace(sleep=lambda seconds: None))  # retry delay
    return opened


@pytest.fixture
def sklearn_home(isolated) -> Path:
    import sklearn.datasets

    home = Path(sklearn.datasets.get_data_home())
    assert home == isolated / "sklearn_data"  # conftest's SCIKIT_LEARN_DATA is honoured
    return home


@pytest.fixture
def openml_mnist(sklearn_home) -> OpenMLFixture:
    return write_openml_fixture(sklearn_home, "mnist_784", data_id=554, file_id=52667)


@pytest.fixture
def parsers(monkeypatch):
    """Wrap fetch_openml; ``parsers.pandas = "fails" | "reads"`` decides the pandas attempt.

    "fails" raises the TypeError scikit-learn's pandas parser gives on bare-digit classes,
    before scikit-learn runs (it would delete its cached ARFF on a parse failure);
    "reads" runs the real pandas parser with the class column read as strings, the
    work-around for pandas >= 3.1.  ``parsers.calls`` holds (parser, pixel dtype).
    """
    import sklearn.datasets

    real = sklearn.datasets.fetch_openml
    state = SimpleNamespace(pandas="fails", calls=[])

    def fetch_openml(*args, parser="auto", **kwargs):
        if parser == "pandas" and state.pandas == "fails":
            state.calls.append((parser, None))
            raise TypeError("expected string or bytes-like object, got 'int'")
        if parser == "pandas":
            kwargs.setdefault("read_csv_kwargs", {"dtype": {784: "str"}})
        bunch = real(*args, parser=parser, **kwargs)
        state.calls.append((parser, np.asarray(bunch.data).dtype))
        return bunch

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch_openml)
    return state
