"""Hostile and careless inputs to the commands that make runs and read configs (train, config, data, sweep,
runs): each is one exact ``Error:`` line with its exit code, and nothing a user had is touched."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from digitclf import datasets
from digitclf.sweep.search import MAX_POINTS
from helpers import one_error_line

FOUR_FILES = "an IDX folder needs the four standard files (train/t10k images and labels)"


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ---------------------------------------------------------------- configs


def test_a_utf16_config_says_it_is_not_utf8(cli, isolated):
    Path("c.yaml").write_bytes("name: x\n".encode("utf-16"))  # starts with the BOM ff fe
    result = cli("config", "validate", "-c", "c.yaml")
    assert result.exit_code == 2
    assert one_error_line(result) == "Error: cannot read config c.yaml: it is not UTF-8 text (byte 0xff at offset 0); " \
                                     "save it as UTF-8"


@pytest.mark.parametrize("stem", ["latest", "Sweeps", "y" * 80])
def test_a_run_name_taken_from_the_file_name_says_so(cli, isolated, stem):
    Path(f"{stem}.yaml").write_text("seed: 1\n")
    for command in (("config", "validate"), ("train", "-q"), ("sweep", "--dry-run", "--grid", "seed=1,2")):
        result = cli(*command, "-c", f"{stem}.yaml")
        assert result.exit_code == 2, result.stderr
        prefix = "sweep point 1 (seed=1): " if command[0] == "sweep" else ""
        assert one_error_line(result) == (
            f"Error: {prefix}{stem}.yaml: the run name defaults to the file's name, and {stem!r} cannot be one "
            "(reserved: latest, sweeps; at most 64 letters, digits, '.', '_' or '-'); add a name: key to the "
            "config, or rename the file")
    assert not Path("outputs").exists()
    fixed = cli("config", "validate", "-c", f"{stem}.yaml", "--set", "name=mine")  # a name given is used
    assert fixed.exit_code == 0 and fixed.stdout == "ok: mine (digits, logistic_regression) is valid\n"


# ---------------------------------------------------------------- dataset.path, checked before anything runs


def test_an_idx_folder_without_its_fourth_file_fails_config_validate(cli, idx_folder):
    (idx_folder / "t10k-labels-idx1-ubyte.gz").unlink()
    Path("c.yaml").write_text(f"dataset: {{name: idx, path: {idx_folder}}}\n")
    expected = f"Error: dataset.path: {idx_folder} has no t10k-labels-idx1-ubyte[.gz]; {FOUR_FILES}"
    for command in (("config", "validate"), ("train", "-q")):
        result = cli(*command, "-c", "c.yaml")
        assert (result.exit_code, one_error_line(result)) == (2, expected)
    assert not Path("outputs").exists()  # refused before any run folder


def test_a_fifo_in_an_idx_folder_fails_config_validate_without_blocking(cli, idx_folder):
    (idx_folder / "t10k-labels-idx1-ubyte.gz").unlink()
    os.mkfifo(idx_folder / "t10k-labels-idx1-ubyte.gz")
    result = cli("config", "validate", "--set", "dataset.name=idx", "--set", f"dataset.path={idx_folder}")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: dataset.path: {idx_folder}/t10k-labels-idx1-ubyte.gz is a FIFO, "
                                      "not a file; put the IDX file itself there")


def test_a_text_file_as_dataset_path_fails_config_validate(cli, isolated):
    Path("notes.txt").write_text("hello\n")
    result = cli("config", "validate", "--set", "dataset.path=notes.txt")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: dataset.path: 'notes.txt' is neither a folder of IDX files nor an .npz "
                                      "file; point it at one of those")


# ---------------------------------------------------------------- data import and the cache


@pytest.mark.parametrize("name", ["my-set", "digits", "idx", "by-path"])
def test_data_import_refuses_a_name_no_run_reads(cli, idx_folder, name):
    result = cli("data", "import", name, str(idx_folder))
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"Error: cannot import into {name!r}: only mnist, fashion-mnist are read from the cache; use other IDX or "
        ".npz data where it is, with dataset: {name: idx, path: PATH} (or npz) in the config (it is cached on its "
        "first run)")
    assert files_under(datasets.cache_dir()) == []  # before: 55 MB cached under a name nothing could load


def test_a_data_cache_that_is_a_file(cli, idx_folder, monkeypatch):
    Path("cachefile").write_text("mine\n")
    monkeypatch.setenv("DIGITCLF_DATA", "cachefile")
    result = cli("data", "import", "mnist", str(idx_folder))
    assert result.exit_code == 1
    assert one_error_line(result) == ("Error: cannot write mnist into the data cache cachefile: cachefile is a file; "
                                      "set DIGITCLF_DATA to a folder you can write (it is created if missing), or "
                                      "free disk space")
    assert Path("cachefile").read_text() == "mine\n"


# ---------------------------------------------------------------- sweeps


def test_a_million_point_grid_is_refused_before_it_is_expanded(cli, isolated):
    values = ",".join(str(v) for v in range(1, 101))
    grid = [arg for key in ("C", "tol", "max_iter") for arg in ("--grid", f"model.params.{key}={values}")]
    result = cli("sweep", *grid, "--dry-run")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: the sweep has 1,000,000 points (100 x 100 x 100); at most "
                                      f"{MAX_POINTS:,} are allowed: sweep fewer values, or draw points with "
                                      "--search random --trials N")


def test_too_many_drawn_points_are_refused(cli, isolated):
    Path("s.yaml").write_text("sweep: {search: random, trials: 100000, space: {model.params.C: {uniform: [0.1, 1]}}}\n")
    result = cli("sweep", "-c", "s.yaml", "--dry-run")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: sweep.trials: 100,000 random points; at most {MAX_POINTS:,} are "
                                      "allowed (every point is checked before any runs): draw fewer, or use "
                                      "--search optuna")
    Path("h.yaml").write_text("sweep: {search: halving, halving: {min_resources: 1, max_resources: 1000000000}, "
                              "space: {model.params.C: {uniform: [0.1, 1]}}}\n")
    result = cli("sweep", "-c", "h.yaml", "--dry-run")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: sweep.trials: halving would draw 1,000,000,000 first-rung points; at "
                                      f"most {MAX_POINTS:,} are allowed: give sweep.trials (or --trials), or raise "
                                      "halving.min_resources")


@pytest.mark.parametrize("key", ["''", "'model..C'", "1"])
def test_a_swept_key_that_is_not_a_key_path(cli, isolated, key):
    Path("s.yaml").write_text(f"sweep:\n  grid: {{{key}: [1, 2]}}\n")
    result = cli("sweep", "-c", "s.yaml", "--dry-run")
    assert result.exit_code == 2
    shown = {"''": "''", "'model..C'": "'model..C'", "1": "1"}[key]
    assert one_error_line(result) == (f"Error: s.yaml: sweep.grid: {shown} is not a KEY.PATH; write dotted config "
                                      "keys such as model.params.C")  # before: an error about a --set never given


# ---------------------------------------------------------------- the outputs folder


@pytest.mark.parametrize("what", ["file", "dangling link", "FIFO"])
def test_a_name_folder_that_is_not_a_folder(cli, isolated, what):
    Path("outputs").mkdir()
    spot = Path("outputs/digits_lbfgs")
    {"file": lambda: spot.write_text("mine\n"), "dangling link": lambda: spot.symlink_to("nowhere"),
     "FIFO": lambda: os.mkfifo(spot)}[what]()
    said = {"file": "a file", "dangling link": "a link to nothing", "FIFO": "a FIFO"}[what]
    for command, where in ((("train", "-q"), "outputs"), (("sweep", "-q", "--grid", "model.params.C=1,2"),
                                                          str(Path("outputs").absolute()))):
        result = cli(*command)
        assert result.exit_code == 1, result.stderr
        assert one_error_line(result) == (f"Error: {where}/digits_lbfgs is {said}, not the folder of digits_lbfgs's "
                                          "runs; move it away, or choose another name or outputs folder")
    assert files_under(Path("outputs")) == ["digits_lbfgs"]
    if what == "file":
        assert spot.read_text() == "mine\n"


def test_runs_of_an_outputs_folder_that_is_a_file(cli, isolated):
    Path("notes.txt").write_text("mine\n")
    for args in ((), ("--prune", "--yes")):
        result = cli("runs", "-o", "notes.txt", *args)
        assert result.exit_code == 2
        assert one_error_line(result) == ("Error: outputs folder notes.txt is a file, not a folder; give the folder "
                                          "runs were saved in with --outputs")


def test_runs_help_names_every_sort_column_and_what_prune_deletes(cli):
    from digitclf.listing import KEYS, PRUNABLE

    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", cli("runs", "--help").stdout).split())
    sort_help = text[text.index("Column to sort by:"):]
    assert all(key in sort_help.split("[default")[0] for key in KEYS)
    prune_help = text[text.index("Delete the listed runs"):text.index("after confirmation")]
    assert all(status in prune_help for status in PRUNABLE)


# ---------------------------------------------------------------- --set and --grid key paths


def test_an_empty_config_option(cli, isolated):
    result = cli("train", "--config", "")
    assert result.exit_code == 2  # before: "config '' is a folder" (the empty path is '.')
    assert one_error_line(result) == ("Error: --config is empty; give a YAML file such as configs/digits_lbfgs.yaml, "
                                      "or leave --config out for the built-in digits default")


@pytest.mark.parametrize("config", [None, "configs/fashion_mnist_fast.yaml"])
def test_a_list_index_in_set_reads_the_same_with_or_without_a_config(cli, isolated, config):
    # before: with the built-in default, preprocess.0=scale made the mapping {'0': 'scale'} and a puzzling error
    args = ("--config", config) if config else ()
    result = cli("config", "show", *args, "--set", "preprocess.0=scale")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: --set 'preprocess.0=scale': 0 is a list index, and --set takes mapping "
                                      "keys only; set the whole list, e.g. --set preprocess=[...]")


def test_a_list_index_in_a_grid_key(cli, isolated):
    result = cli("sweep", "--grid", "preprocess.0=scale,none", "--dry-run")
    assert result.exit_code == 2  # before: an error about a --set the user never gave
    assert one_error_line(result) == ("Error: --grid 'preprocess.0=scale,none': 'preprocess.0' holds a list index; "
                                      "sweep the whole list instead, e.g. preprocess: [[scale], [standardize]]")


# ---------------------------------------------------------------- a full disk


def no_space(fh):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_error_names_the_file(cli, isolated, monkeypatch):
    from digitclf import runs

    with pytest.raises(OSError) as info:
        runs.atomic_write(Path("x.json"), no_space)
    assert info.value.filename == "x.json" and not list(Path(".").glob(".x.json.*"))  # no temp file left
    monkeypatch.setattr(runs.RunDir, "_write", lambda self, record: no_space(None))
    result = cli("train", "-q")  # run.json cannot be written: no empty folder stays behind to look like a run
    assert result.exit_code == 1
    line = one_error_line(result)
    assert re.fullmatch(r"Error: cannot start run digits_lbfgs/(\S+): writing outputs/digits_lbfgs/\1/run\.json "
                        r"failed \(No space left on device\); free disk space or give a writable --outputs", line), line
    assert files_under(Path("outputs")) == ["digits_lbfgs"]


# ---------------------------------------------------------------- what OpenML (or an altered copy of it) hands back

GOOD_X = np.arange(4 * 784).reshape(4, 784) % 256


@pytest.mark.parametrize("case, data, target, said", [
    ("labels not numbers", GOOD_X, np.array(["1", "x", "2", "3"], dtype=object),
     "has labels that are not whole numbers (e.g. 'x')"),  # before: unexpected ValueError
    ("a missing pixel", np.where(GOOD_X == 5, np.nan, GOOD_X), np.arange(4),
     "has pixel values that are not whole numbers in 0-255; not an MNIST-style set"),  # before: cast to garbage
    ("fractional pixels", GOOD_X + 0.5, np.arange(4),
     "has pixel values that are not whole numbers in 0-255; not an MNIST-style set"),
    ("no rows", np.zeros((0, 784)), np.zeros(0), "came as (0, 784) pixels and 0 labels, not square images with one "
     "label each"),  # before: unexpected ValueError (min of an empty array)
    ("not square", np.zeros((4, 785)), np.arange(4), "came as (4, 785) pixels and 4 labels, not square images with "
     "one label each"),  # before: cached as 28x28 images of 785 pixels
])
def test_an_openml_answer_that_is_not_mnist_is_one_error(cli, isolated, monkeypatch, case, data, target, said):
    import sklearn.datasets
    from sklearn.utils import Bunch

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda *a, **k: Bunch(data=data, target=target))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", "skl")
    result = cli("data", "fetch", "mnist")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (f"Error: OpenML mnist_784 {said}; if scikit-learn's OpenML cache (skl) "
                                              "was altered, delete its openml folder and fetch again")
    assert files_under(datasets.cache_dir()) == []


# ---------------------------------------------------------------- YAML numbers and booleans as editors read them

SCALARS = ["010", "-010", "1_000", "1:30", "1:30.5", "0b11", "0o17", "0x1F", "1e3", "1.5", ".5", "+.5", "2026-12-02",
           "+5", "-0", "1.", "-1E-3", ".inf", "-.inf", "yes", "No", "on", "OFF", "y", "true", "False", "~", "null",
           "12:30:00", "0o8", "1__0", "007.5"]


@pytest.mark.slow
def test_scalars_read_as_the_editors_yaml_parser_reads_them(tmp_path):
    """The YAML language server parses with the npm package ``yaml`` (YAML 1.2 core); PyYAML alone is YAML 1.1
    (010 -> 8, 1:30 -> 90, yes -> true). digitclf's reader must give the same value for every scalar."""
    import json
    import shutil
    import subprocess

    from digitclf.config import dump_yaml, read_yaml

    modules = Path(os.environ.get("DIGITCLF_NODE_MODULES", Path(__file__).resolve().parents[1] / ".ci-node" /
                                  "node_modules"))
    if shutil.which("node") is None or not (modules / "yaml" / "package.json").exists():
        pytest.skip("node and the npm package yaml are needed (.ci/run installs them)")
    script = tmp_path / "parse.js"
    script.write_text("const YAML = require(process.argv[2]);\n"
                      "const out = JSON.parse(process.argv[3]).map(t => YAML.parse('v: ' + t).v);\n"
                      "console.log(JSON.stringify(out.map(v => typeof v === 'number' && !isFinite(v) ? String(v) : v)));\n")
    done = subprocess.run(["node", str(script), str(modules / "yaml"), json.dumps(SCALARS)], capture_output=True,
                          text=True, timeout=60, check=True)
    editor = json.loads(done.stdout)
    ours = [read_yaml(f"v: {text}", "x")["v"] for text in SCALARS]
    named = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # how JavaScript prints them
    shown = [named[str(v)] if isinstance(v, float) and str(v) in named else v for v in ours]
    assert list(zip(SCALARS, shown)) == list(zip(SCALARS, editor))  # (JSON cannot tell 1000 from 1000.0)
    as_strings = {"v": SCALARS}  # and digitclf writes strings back so that they stay strings
    assert read_yaml(dump_yaml(as_strings), "x") == as_strings


def test_yaml_11_numbers_and_booleans_are_not_misread(cli, isolated):
    Path("c.yaml").write_text("seed: 010\nsplit: {random_state: 0o17}\nmodel: {params: {C: 1_000}}\n")
    shown = cli("config", "show", "-c", "c.yaml", "--json")
    assert shown.exit_code == 0
    import json

    data = json.loads(shown.stdout)  # before: seed 8 (octal), C 1000
    assert (data["seed"], data["split"]["random_state"], data["model"]["params"]["C"]) == (10, 15, "1_000")
    Path("d.yaml").write_text("output: {plots: yes}\n")
    refused = cli("config", "validate", "-c", "d.yaml")
    assert refused.exit_code == 2  # before: accepted as true, while the editor refuses the string 'yes'
    assert one_error_line(refused) == ("Error: d.yaml: output.plots: must be true or false, got 'yes' (YAML 1.2, as "
                                       "editors read it, has no yes/no/on/off booleans)")


def test_jobs_beyond_the_cores_are_capped_at_one_process_per_core(cli, isolated):
    from joblib import cpu_count

    from digitclf.sweep.execute import _executor

    cores = cpu_count()
    with _executor("loky", None, 1000, 50) as (parallel, threads, where):
        assert parallel.n_jobs == cores  # before: 50 processes (1000 with as many points)
        assert "--jobs 1000 capped at one per core" in where
    with _executor("loky", None, 1, 50) as (parallel, threads, where):
        assert parallel.n_jobs == 1 and "capped" not in where


@pytest.mark.parametrize("command", [("train", "-q"), ("sweep", "-q", "--grid", "model.params.C=1,2")])
def test_sigterm_before_any_run_exists_is_an_interrupt(cli, isolated, monkeypatch, command):
    """A SIGTERM while the config is still being checked (scikit-learn importing): exit 130 and the interrupted
    line, as for Ctrl-C; before, the default action killed the process (143, no line)."""
    import signal

    from digitclf import checks

    real = checks.preflight

    def terminated_while_checking(config):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(config)

    monkeypatch.setattr(checks, "preflight", terminated_while_checking)
    monkeypatch.setattr("digitclf.sweep.plan.preflight", terminated_while_checking)
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *args: seen.append(args))  # stands in for the default kill
    try:
        result = cli(*command)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (result.exit_code, seen) == (130, [])
    assert one_error_line(result) == ("Error: interrupted (Ctrl-C or SIGTERM); a run in progress was recorded as "
                                      "interrupted")
    assert files_under(Path("outputs")) == []


def test_grid_values_equal_but_written_differently_are_duplicates(cli, isolated):
    result = cli("sweep", "--grid", "model.params.C=1,1.0", "--dry-run")
    assert result.exit_code == 2  # before: two points, two run ids, the same model fitted twice
    assert one_error_line(result) == ("Error: sweep points 1 and 2 have equal values (C=1 and C=1.0), written "
                                      "differently; they would fit the same model twice: remove the duplicate value")


def test_an_unwritable_cache_still_trains_from_the_system_folder(cli, idx_folder, monkeypatch):
    import dataclasses
    import json

    monkeypatch.setitem(datasets.DATASETS, "mnist",
                        dataclasses.replace(datasets.DATASETS["mnist"], system_dirs=(str(idx_folder),)))
    Path("cachefile").write_text("mine\n")
    monkeypatch.setenv("DIGITCLF_DATA", "cachefile")
    result = cli("train", "--set", "dataset.name=mnist", "--set", "output.plots=false")
    assert result.exit_code == 0, result.stderr  # before: the run failed on the cache it could not write
    assert (f"- note: cannot write mnist into the data cache cachefile: cachefile is a file; set DIGITCLF_DATA to a "
            f"folder you can write (it is created if missing), or free disk space; reading {idx_folder} without the "
            "cache this time") in result.stderr.splitlines()
    metrics = json.loads(next(Path("outputs").glob("*/*/metrics.json")).read_text())
    assert metrics["n_train"] + metrics["n_test"] == 250 and Path("cachefile").read_text() == "mine\n"


def test_outputs_inside_a_run_folder_are_refused(cli, isolated):
    assert cli("train", "-q", "--set", "output.plots=false").exit_code == 0
    run = next(Path("outputs").glob("digits_lbfgs/*/run.json")).parent
    before = files_under(run)
    for command in (("train", "-q"), ("sweep", "-q", "--grid", "seed=1,2")):
        result = cli(*command, "-o", str(run / "nested"))
        assert result.exit_code == 1  # before: a run folder, latest link and all, inside the run folder
        line = one_error_line(result)
        assert line.startswith(f"Error: outputs folder ") and line.endswith(
            f"nested is inside the run folder {run.resolve()}, which holds only what that run saved; give another "
            "folder with --outputs or output.dir")
    assert files_under(run) == before


def test_config_show_of_a_sweep_config_reads_back_as_the_same_sweep(cli, isolated):
    import json

    shown = cli("config", "show", "-c", "configs/sweep_digits.yaml", "--set", "seed=3")
    assert shown.exit_code == 0, shown.stderr  # before: "has a sweep: section; ... (train runs one config)"
    Path("shown.yaml").write_text(shown.stdout)
    plans = [json.loads(cli("sweep", "-c", path, *extra, "--dry-run", "--json").stdout)
             for path, extra in (("configs/sweep_digits.yaml", ("--set", "seed=3")), ("shown.yaml", ()))]
    assert [p["run_id"] for p in plans[0]["points"]] == [p["run_id"] for p in plans[1]["points"]]
    assert len(plans[0]["points"]) == 8
