"""The JSON Schema an editor checks against and `digitclf config validate` give the same verdict.

One corpus of good and bad configs goes to both; each entry also says which verdict is right,
so a schema that accepts everything (or a validator that refuses everything) fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from digitclf.checks import preflight
from digitclf.config import load_config
from digitclf.errors import ConfigError
from digitclf.schema import json_schema

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parents[1]

from schema_corpus import BAD, GOOD


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
