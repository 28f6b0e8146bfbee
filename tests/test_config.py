"""Config loading, overrides and validation: every error is one line naming key, value and fix."""

from __future__ import annotations

import hashlib
import json

import pytest

from digitclf.checks import CheckedConfig, preflight
from digitclf.config import RunConfig, apply_overrides, find_config, load_config
from digitclf.errors import ConfigError


def write(tmp_path, text: str, name: str = "c.yaml"):
    path = tmp_path / name  # tmp_path is the working folder: return the relative name users type
    path.write_text(text)
    return path.name


def error_of(func, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_are_the_seed_digits_run():
    cfg = load_config(None)
    assert cfg.dataset.name == "digits"
    assert cfg.model.estimator == "logistic_regression"
    assert cfg.split.test_size == 0.25
    assert cfg.split.random_state == cfg.seed == 0  # the split takes the seed unless set


def test_shipped_configs_load_and_validate():
    names = ["digits_lbfgs", "mnist_lbfgs", "mnist_liblinear", "mnist_fast",
             "fashion_mnist_lbfgs", "fashion_mnist_fast"]
    for name in names:
        cfg = preflight(load_config(f"{name}.yaml")).config
        assert cfg.name == name


def test_bare_name_found_in_configs_with_or_without_extension(tmp_path):
    assert find_config("mnist_lbfgs.yaml").as_posix() == "configs/mnist_lbfgs.yaml"
    assert find_config("mnist_lbfgs").as_posix() == "configs/mnist_lbfgs.yaml"
    write(tmp_path, "name: local\n", "mnist_lbfgs.yaml")  # ./ wins over configs/
    assert find_config("mnist_lbfgs.yaml").as_posix() == "mnist_lbfgs.yaml"


@pytest.mark.parametrize("text,expected", [
    ("1/7", 1 / 7), ("0.25", 0.25), (0.3, 0.3), (100, 100),
])
def test_test_size_accepts_fraction_strings_floats_and_counts(text, expected):
    cfg = load_config(data={"split": {"test_size": text}})
    assert cfg.split.test_size == pytest.approx(expected)
    assert type(cfg.split.test_size) is type(expected)


def test_seed_mnist_config_test_size_is_one_seventh():
    assert load_config("mnist_lbfgs").split.test_size == pytest.approx(1 / 7)


def test_overrides_parse_yaml_scalars_and_create_paths():
    cfg = load_config("mnist_lbfgs", ["model.params.C=10", "split.random_state=1",
                                      "preprocess=[standardize]", "model.params.tol=1e-3"])
    assert cfg.model.params["C"] == 10 and isinstance(cfg.model.params["C"], int)
    assert cfg.model.params["tol"] == pytest.approx(1e-3)
    assert cfg.split.random_state == 1
    assert cfg.preprocess == ["standardize"]
    assert cfg.model.params["solver"] == "lbfgs"  # untouched keys survive


def test_override_into_a_scalar_is_refused():
    assert error_of(apply_overrides, {"seed": 1}, ["seed.x=2"]) == \
        "--set 'seed.x=2': seed is int, not a mapping; set it whole, e.g. --set seed=..."


@pytest.mark.parametrize("override", ["novalue", "=3", "a..b=1"])
def test_malformed_override(override):
    assert error_of(load_config, None, [override]).endswith("expected KEY.PATH=VALUE, e.g. --set model.params.C=10")


@pytest.mark.parametrize("text,expected", [
    ("model: {estimator: logistic_regression, parms: {C: 1}}\n",
     "c.yaml: model.parms: unknown key 'parms' (did you mean 'params'?); allowed keys: estimator, params, blas_threads, early_stopping, time_budget, accelerator"),
    ("datset: {name: digits}\n",
     "c.yaml: datset: unknown key 'datset' (did you mean 'dataset'?); allowed keys: "
     "name, dataset, split, preprocess, model, output, seed"),
    ("split: {kind: random, tset_size: 0.2}\n",
     "c.yaml: split.tset_size: unknown key 'tset_size' (did you mean 'test_size'?); allowed keys: "
     "kind, test_size, random_state, stratify, validation_size, train_size, n_splits, repeats, jobs, cv"),
    ("split: {kind: shuffled}\n",
     "c.yaml: split.kind: input should be 'random', 'predefined' or 'kfold', got 'shuffled'"),
    ("split: {test_size: 1.5}\n",
     "c.yaml: split.test_size: a fraction must be between 0 and 1 (exclusive), got 1.5"),
    ("split: {test_size: 0}\n",
     "c.yaml: split.test_size: a count of test images must be at least 1, got 0"),
    ("split: {test_size: one-seventh}\n",
     "c.yaml: split.test_size: cannot read 'one-seventh' as a fraction; write 0.25, 1/7 or a count like 10000"),
    ("seed: abc\n",
     "c.yaml: seed: must be a whole number, got the text 'abc'"),
    ("preprocess: [scael]\n",
     "c.yaml: preprocess: unknown step 'scael' (did you mean 'scale'?); allowed: none, float32, scale, "
     "standardize, {pca: {n_components: N}}"),
    ("preprocess: [{pca: {n_componets: 5}}]\n",
     "c.yaml: preprocess.0.pca.n_componets: unknown key 'n_componets' (did you mean 'n_components'?); "
     "allowed keys: n_components, whiten"),
    ("name: ../escape\n",
     "c.yaml: name: '../escape' is not a safe run name; use letters, digits, '.', '_' or '-' "
     "(at most 64, starting with a letter or digit)"),
    ("model: [1, 2]\n",
     "c.yaml: model: must be a mapping with keys estimator, params, blas_threads, early_stopping, time_budget, accelerator; "
     "got [1, 2]"),
])
def test_schema_errors_name_key_value_and_fix(tmp_path, text, expected):
    path = write(tmp_path, text)
    assert error_of(load_config, path) == expected


def test_yaml_syntax_error_reports_line_and_column(tmp_path):
    path = write(tmp_path, "name: x\nmodel: {estimator: [\n")
    message = error_of(load_config, path)
    assert message.startswith("c.yaml:3:1: invalid YAML:")


def test_python_tags_are_refused(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo owned']\n")
    assert error_of(load_config, path) == (
        "c.yaml:1:7: YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed; "
        "configs are plain YAML (mappings, lists, strings, numbers)")


def test_empty_and_non_mapping_files(tmp_path):
    assert error_of(load_config, write(tmp_path, "")) == "c.yaml is empty; start from configs/digits_lbfgs.yaml"
    assert error_of(load_config, write(tmp_path, "- a\n- b\n")) == (
        "c.yaml: the top level must be a mapping of sections (name, dataset, split, ...), got a list")


def test_missing_config_lists_what_exists():
    message = error_of(load_config, "mnist_lbgfs.yaml")
    assert message.startswith("config file 'mnist_lbgfs.yaml' not found (looked in ./ and configs/)")
    assert "did you mean 'mnist_lbfgs.yaml'?" in message


def test_name_defaults_to_file_stem(tmp_path):
    assert load_config(write(tmp_path, "seed: 3\n", "my run.yaml")).name == "my_run"


@pytest.mark.parametrize("overrides,expected", [
    (["model.params.solver=lbfgz"], "model.params.solver: LogisticRegression's solver must be one of lbfgs, "
                                    "liblinear, newton-cg, newton-cholesky, sag, saga; got 'lbfgz' (did you mean 'lbfgs'?)"),
    (["model.params.Cx=1"], "model.params.Cx: LogisticRegression has no parameter 'Cx' (did you mean 'C'?)"),
    (["model.params.penalty=l1"], "model.params: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty."),
    (["model.estimator=logreg"], "model.estimator: unknown estimator 'logreg'; known: logistic_regression,"),
    (["model.estimator=sklearn.svm.SVX"], "model.estimator: 'sklearn.svm.SVX' does not exist in scikit-learn"),
    (["model.estimator=sklearn.decomposition.PCA"], "model.estimator: 'sklearn.decomposition.PCA' is not a "
                                                     "scikit-learn classifier"),
    (["model.estimator=os.system"], "model.estimator: 'os.system' is outside scikit-learn"),
    (["dataset.name=mnsit"], "dataset.name: unknown data set 'mnsit' (did you mean 'mnist'?)"),
    (["dataset.name=idx"], "dataset.name: 'idx' needs dataset.path"),
    (["dataset.path=/nonexistent/folder"], "dataset.path: '/nonexistent/folder' does not exist"),
    (["split.kind=predefined"], "split.kind: 'digits' has no predefined train/test split; use kind: random"),
    (["model.estimator=knn", "model.params={weights: heavy}"], "model.params.weights: KNeighborsClassifier's "
                                                             "weights must be one of distance, uniform or a callable"),
])
def test_semantic_errors_before_any_data(overrides, expected):
    cfg = load_config("digits_lbfgs", overrides)
    assert error_of(preflight, cfg).startswith(expected)


def test_valid_alternatives_pass():
    for overrides in (["model.estimator=sgd", "model.params={}"],
                      ["model.estimator=sklearn.svm.LinearSVC", "model.params={}"],
                      ["model.params.solver=liblinear"], ["preprocess=[standardize, {pca: {n_components: 20}}]"]):
        assert isinstance(preflight(load_config("digits_lbfgs", overrides)), CheckedConfig)


@pytest.mark.slow  # a fresh interpreter
def test_config_errors_do_not_import_sklearn(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path, "split: {test_size: 2.5}\n")
    code = ("import sys\nfrom digitclf.config import load_config\n"
            f"try:\n    load_config({str(path)!r})\nexcept Exception as e:\n    print(type(e).__name__)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn','matplotlib','seaborn','pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["ConfigError", "[]"]


def test_digest_ignores_output_dir_but_not_params():
    a = load_config("digits_lbfgs")
    b = load_config("digits_lbfgs", ["output.dir=elsewhere"])
    c = load_config("digits_lbfgs", ["model.params.C=2"])
    assert a.digest() == b.digest() != c.digest()


def test_odd_keys_are_quoted_so_the_error_stays_one_line(tmp_path):
    message = error_of(load_config, write(tmp_path, '"\\n": 1\n'))
    assert message == ("c.yaml: '\\n': unknown key '\\n'; allowed keys: "
                       "name, dataset, split, preprocess, model, output, seed")


# ---------------------------------------------------------------- digest


def drop_split_search_defaults(data: dict) -> None:
    """The split keys that came with searches are left out at their defaults (digests from before still match)."""
    for key, default in {"validation_size": None, "train_size": None, "n_splits": 5, "repeats": 1,
                         "cv": False}.items():
        if key in data["split"] and data["split"][key] == default:
            del data["split"][key]
    data["split"].pop("jobs", None)  # never part of a run's identity


def digest_by_hand(data: dict) -> str:
    data = json.loads(json.dumps(data))  # a deep copy
    if data.pop("output").get("curve") is True:
        data["curve"] = True
    if data["model"].get("blas_threads") in (None, "auto"):
        data["model"].pop("blas_threads", None)
    for key in ("early_stopping", "time_budget", "accelerator"):
        if data["model"].get(key) is None:
            data["model"].pop(key, None)
    drop_split_search_defaults(data)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def test_digest_leaves_out_an_unset_blas_threads():
    cfg = load_config("digits_lbfgs")
    assert cfg.model.blas_threads == "auto"  # the default
    assert cfg.digest() == load_config("digits_lbfgs", ["model.blas_threads=null"]).digest()
    legacy = cfg.to_dict()
    for key in ("blas_threads", "early_stopping", "time_budget", "accelerator"):
        del legacy["model"][key]  # what to_dict() gave before the keys existed
    assert "blas_threads" not in json.dumps(legacy)
    assert cfg.digest() == digest_by_hand(legacy)
    assert cfg.digest() == RunConfig.model_validate(legacy).digest()

    capped = load_config("digits_lbfgs", ["model.blas_threads=1"])
    assert capped.digest() != cfg.digest()
    assert capped.digest() == digest_by_hand(capped.to_dict())
    by_hand = capped.to_dict()
    by_hand.pop("output")
    del by_hand["model"]["early_stopping"], by_hand["model"]["time_budget"], by_hand["model"]["accelerator"]
    drop_split_search_defaults(by_hand)
    assert capped.digest() == hashlib.sha256(json.dumps(by_hand, sort_keys=True).encode()).hexdigest()[:16]
    assert load_config("digits_lbfgs", ["model.blas_threads=2"]).digest() != capped.digest()
    assert load_config("digits_lbfgs", ["split.validation_size=0.2"]).digest() != cfg.digest()


def test_digests_from_before_blas_threads_are_unchanged():
    # computed by digitclf at commit 878f7d5, before model.blas_threads existed: sweeps still
    # recognise the points they ran then
    assert load_config(None).resolved().digest() == "8c5219e7d4987e57"
    shipped_then = load_config("fashion_mnist_lbfgs", ["model.blas_threads=null"])
    assert shipped_then.resolved().digest() == "c6a48fe19ca0b558"


def test_a_curve_is_part_of_a_runs_identity_because_it_holds_rows_out_of_the_fit():
    cfg = load_config("digits_lbfgs")
    assert load_config("digits_lbfgs", ["output.curve=false"]).digest() == cfg.digest()
    curved = load_config("digits_lbfgs", ["output.curve=true"])
    assert curved.digest() != cfg.digest()
    assert curved.digest() == digest_by_hand(curved.to_dict())


def test_digest_ignores_output_but_not_the_model():
    cfg = load_config("digits_lbfgs")
    assert load_config("digits_lbfgs", ["output.dir=elsewhere"]).digest() == cfg.digest()
    assert load_config("digits_lbfgs", ["model.params.C=2"]).digest() != cfg.digest()
