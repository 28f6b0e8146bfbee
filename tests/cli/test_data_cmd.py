"""`digitclf data import | list | fetch` (fetch against an offline OpenML cache, see conftest.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitclf import datasets
from digitclf.config import DatasetConfig
from digitclf.errors import DatasetError
from helpers import N_ROWS


def test_data_import_and_list(cli, idx_folder):
    result = cli("data", "import", "mnist", str(idx_folder))
    assert result.exit_code == 0 and result.stdout == f"cached mnist at {datasets.cache_dir() / 'mnist'}\n"
    listed = json.loads(cli("data", "list", "--json").stdout)
    by_name = {row["name"]: row for row in listed["datasets"]}
    assert by_name["digits"]["source"] == "embedded"
    assert by_name["mnist"]["cached"] is True and by_name["mnist"]["samples"] == 250
    bad = cli("data", "import", "../x", str(idx_folder))
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: '../x' is not a usable cache name")


@pytest.mark.filterwarnings("ignore:A network error occurred:UserWarning")
@pytest.mark.usefixtures("no_network")
def test_cli_data_fetch_caches_mnist_and_list_reports_it(cli, openml_mnist, parsers, no_network):
    folder = datasets.cache_dir() / "mnist"

    result = cli("data", "fetch", "mnist")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"cached mnist at {folder}\n"
    assert "fetching mnist from OpenML (mnist_784)" in result.stderr
    assert no_network == []

    listed = cli("data", "list", "--json")
    assert listed.exit_code == 0
    report = json.loads(listed.stdout)
    assert report["cache_dir"] == str(datasets.cache_dir())
    row = next(r for r in report["datasets"] if r["name"] == "mnist")
    assert row["cached"] is True and row["samples"] == N_ROWS and row["source"] == "openml:mnist_784"
    assert row["cache_bytes"] == sum(p.stat().st_size for p in folder.iterdir())

    again = cli("data", "fetch", "mnist")
    assert again.exit_code == 0
    assert again.stdout == "mnist is already cached; use --force to fetch it again\n"


@pytest.mark.filterwarnings("ignore:A network error occurred:UserWarning")
@pytest.mark.usefixtures("no_network")
def test_cli_fetch_force_repairs_a_changed_byte(cli, openml_mnist, parsers):
    assert cli("data", "fetch", "mnist").exit_code == 0
    folder = datasets.cache_dir() / "mnist"
    raw = bytearray((folder / "X.npy").read_bytes())
    raw[-1] ^= 0x01  # a pixel, not the .npy header: the file still loads
    (folder / "X.npy").write_bytes(bytes(raw))
    with pytest.raises(DatasetError) as info:
        datasets.load_dataset(DatasetConfig(name="mnist"))
    assert str(info.value) == (f"cached mnist failed its checksum test (X.npy); "
                               f"run 'digitclf data fetch mnist --force' or delete {folder}")

    result = cli("data", "fetch", "mnist", "--force")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"cached mnist at {folder}\n"
    repaired = datasets.load_dataset(DatasetConfig(name="mnist"))
    np.testing.assert_array_equal(repaired.X, openml_mnist.X)
