"""The JSON Schema an editor checks against and `digitclf config validate` give the same verdict.

One corpus of good and bad configs goes to both; each entry also says which verdict is right,
so a schema that accepts everything (or a validator that refuses everything) fails here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from digitclf.checks import preflight
from digitclf.config import load_config
from digitclf.errors import ConfigError
from digitclf.schema import json_schema

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parents[1]

GOOD = {
    "empty": {},
    "lbfgs C": {"model": {"params": {"C": 10, "solver": "lbfgs", "max_iter": 200}}},
    "float C as int": {"model": {"estimator": "logistic_regression", "params": {"C": 1}}},
    "class_weight balanced": {"model": {"params": {"class_weight": "balanced"}}},
    "knn": {"model": {"estimator": "knn", "params": {"n_neighbors": 3, "weights": "distance"}}},
    "dotted path": {"model": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": 2.0}}},
    "mlp layers": {"model": {"estimator": "mlp", "params": {"hidden_layer_sizes": [32], "max_iter": 5}}},
    "forest": {"model": {"estimator": "random_forest", "params": {"n_estimators": 10, "max_features": "sqrt"}}},
    "sgd early stopping": {"model": {"estimator": "sgd", "params": {"early_stopping": True, "loss": "log_loss"}}},
    "one step": {"preprocess": "scale"},
    "pca": {"preprocess": ["standardize", {"pca": {"n_components": 0.9, "whiten": True}}]},
    "test_size fraction text": {"split": {"test_size": "1/7", "stratify": True}},
    "seed": {"seed": 3, "name": "my-run_1.0"},
    "plots off": {"output": {"plots": False, "misclassified": 0}},
    "blas": {"model": {"blas_threads": 1}},
    "random_state null": {"model": {"params": {"random_state": None}}},
    "split random_state bounds": {"split": {"random_state": 2**32 - 1}},
}

BAD = {
    "solver typo": {"model": {"params": {"solver": "lbfgz"}}},
    "C text": {"model": {"params": {"C": "abc"}}},
    "C zero": {"model": {"params": {"C": 0}}},
    "max_iter negative": {"model": {"params": {"max_iter": -5}}},
    "max_iter true": {"model": {"params": {"max_iter": True}}},
    "unknown param": {"model": {"params": {"gamma": 1}}},
    "unknown param of knn": {"model": {"estimator": "knn", "params": {"C": 1}}},
    "estimator typo": {"model": {"estimator": "logistic_regresion"}},
    "not sklearn": {"model": {"estimator": "os.system"}},
    "dataset typo": {"dataset": {"name": "fashion_mnist"}},
    "plots text": {"output": {"plots": "yes"}},
    "seed text": {"seed": "3"},
    "seed negative": {"seed": -1},
    "stratify 1": {"split": {"stratify": 1}},
    "step typo": {"preprocess": ["scael"]},
    "unknown key": {"modle": {}},
    "unknown nested key": {"model": {"parms": {}}},
    "kind": {"split": {"kind": "shuffled"}},
    "pca text": {"preprocess": [{"pca": {"n_components": "50"}}]},
    "misclassified too many": {"output": {"misclassified": 401}},
    "name with slash": {"name": "../escape"},
    "blas zero": {"model": {"blas_threads": 0}},
    "blas too many": {"model": {"blas_threads": 1025}},
    "split random_state negative": {"split": {"random_state": -1}},
    "split random_state too big": {"split": {"random_state": 2**32}},
    "mlp activation": {"model": {"estimator": "mlp", "params": {"activation": "sigmoid"}}},
    "forest n_estimators": {"model": {"estimator": "random_forest", "params": {"n_estimators": 0}}},
}


def validate_verdict(document: dict) -> bool:
    try:
        preflight(load_config(data=document))
    except ConfigError:
        return False
    return True


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(json.dumps(json_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("label", sorted(GOOD))
def test_good_config_passes_the_schema_and_validate(label, validator):
    document = GOOD[label]
    assert [e.message for e in validator.iter_errors(document)] == []
    assert validate_verdict(document)


@pytest.mark.parametrize("label", sorted(BAD))
def test_bad_config_fails_the_schema_and_validate(label, validator):
    document = BAD[label]
    assert list(validator.iter_errors(document)), f"the schema accepts {document}"
    assert not validate_verdict(document), f"config validate accepts {document}"


def test_every_shipped_config_carries_the_schema_line_and_passes_it(validator):
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=../docs/config.schema.json\n"), path.name
        assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == [], path.name


def test_schema_has_no_custom_formats_or_keywords():
    text = json.dumps(json_schema())
    assert '"format"' not in text
    assert "Infinity" not in text and "NaN" not in text


def test_params_schema_follows_the_estimator_key(validator):
    # C is a LogisticRegression parameter, not a KNeighborsClassifier one; the default estimator is LR
    assert not list(validator.iter_errors({"model": {"params": {"C": 1}}}))
    errors = list(validator.iter_errors({"model": {"estimator": "knn", "params": {"C": 1}}}))
    assert errors and "C" in errors[0].message


def test_shipped_schema_copy_is_current():
    """docs/config.schema.json is what `digitclf config schema` prints (regenerate it with that command)."""
    assert json.loads((ROOT / "docs" / "config.schema.json").read_text()) == json.loads(json.dumps(json_schema()))
