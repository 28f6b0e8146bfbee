"""The JSON Schema of config files, for editors (a YAML language server) and validators.

The structure comes from the pydantic models in ``digitclf.config``; what goes inside
``model.params`` comes from scikit-learn's own parameter constraints (``_parameter_constraints``),
one schema per registered estimator, chosen by ``model.estimator``.  The result is plain
draft 2020-12 with no custom keywords or formats, so strict validators (ajv) accept it.
What a schema cannot say (solver/penalty combinations, a data path that exists) is left to
``digitclf config validate``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"
DOTTED = r"^sklearn(\.[A-Za-z_][A-Za-z0-9_]*)+$"  # model.estimator may also be a dotted scikit-learn path


def json_schema() -> dict[str, Any]:
    """The schema of a config file, including the ``sweep:`` section and per-estimator parameters."""
    from digitclf.models import ESTIMATORS

    schema = structure_schema()
    defs = schema["$defs"]
    model = defs["ModelConfig"]
    model["allOf"] = []
    for name, path in ESTIMATORS.items():
        ref = f"params_{name}"
        defs[ref] = estimator_params_schema(path)
        when: dict[str, Any] = {"properties": {"estimator": {"enum": [name, path]}}, "required": ["estimator"]}
        if name == "logistic_regression":  # the default estimator also applies when the key is left out
            when = {"anyOf": [when, {"not": {"required": ["estimator"]}}]}
        model["allOf"].append({"if": when, "then": {"properties": {"params": {"$ref": f"#/$defs/{ref}"}}}})
    return schema


def structure_schema() -> dict[str, Any]:
    """The schema without what scikit-learn says about ``model.params`` (no scikit-learn import)."""
    from digitclf.config import RunConfig, SweepSection
    from digitclf.datasets import DATASETS
    from digitclf.models import ESTIMATORS

    schema = RunConfig.model_json_schema()
    sweep = SweepSection.model_json_schema()
    defs = schema.setdefault("$defs", {})
    defs.update(sweep.pop("$defs", {}))
    defs["SweepSection"] = sweep
    schema["properties"]["sweep"] = {"$ref": "#/$defs/SweepSection"}
    _drop_formats(schema)

    defs["DatasetConfig"]["properties"]["name"]["enum"] = list(DATASETS)
    # what digitclf checks beyond pydantic's types: idx and npz read dataset.path; a size is a fraction
    # in (0, 1) or a whole count
    with_path = [name for name, spec in DATASETS.items() if spec.needs_path]
    defs["DatasetConfig"]["if"] = {"properties": {"name": {"enum": with_path}}, "required": ["name"]}
    defs["DatasetConfig"]["then"] = {"properties": {"path": {"type": "string"}}, "required": ["path"]}
    fraction_or_count = [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                         {"type": "integer", "minimum": 1}]
    test_size = defs["SplitConfig"]["properties"]["test_size"]
    test_size["anyOf"] = [*fraction_or_count, *(o for o in test_size["anyOf"] if o.get("type") == "string")]
    defs["PCAParams"]["properties"]["n_components"]["anyOf"] = fraction_or_count
    # one step alone is read as a list of that step (preprocess: scale)
    steps = schema["properties"]["preprocess"]
    step = steps["items"]
    steps["uniqueItems"] = True  # a step listed twice is refused (the same step with other settings too)
    schema["properties"]["preprocess"] = {"anyOf": [step, steps, {"type": "null"}],
                                          "default": steps.get("default"), "title": steps.get("title")}

    model = defs["ModelConfig"]
    model["properties"]["estimator"] = {
        "anyOf": [{"enum": list(ESTIMATORS)}, {"type": "string", "pattern": DOTTED}],
        "default": "logistic_regression",
        "description": f"a registry name ({', '.join(ESTIMATORS)}) or a dotted path like sklearn.svm.SVC"}
    schema["$schema"] = DRAFT
    schema["title"] = "digitclf config"
    return schema


def estimator_params_schema(name: str) -> dict[str, Any]:
    """``model.params`` for one scikit-learn class (a registry name or dotted path): its parameters,
    typed and bounded as it checks them."""
    from digitclf.models import estimator_class

    cls = estimator_class(name)
    defaults = cls().get_params()
    constraints = getattr(cls, "_parameter_constraints", {})
    properties = {}
    for key in sorted(defaults):
        prop = param_schema(constraints.get(key))
        default = defaults[key]
        if _plain(default):
            prop["default"] = default
        properties[key] = prop
    return {"type": "object", "title": f"{cls.__name__} parameters", "properties": properties,
            "additionalProperties": False}


def param_schema(constraints: list[Any] | None) -> dict[str, Any]:
    """JSON Schema for one parameter's scikit-learn constraints; {} (anything) where none can be said."""
    if not constraints:
        return {}
    options = []
    for constraint in constraints:
        option = _constraint(constraint)
        if option is None:  # callables, estimators, RandomState instances: nothing a YAML file can hold
            continue
        if option == {}:
            return {}
        options.append(option)
    if not options:
        return {"not": {}, "description": "only settable from Python, not from a config"}
    return options[0] if len(options) == 1 else {"anyOf": options}


def _constraint(c: Any) -> dict[str, Any] | None:
    from sklearn.utils import _param_validation as pv

    if c is None:
        return {"type": "null"}
    if isinstance(c, pv.Hidden):
        return _constraint(c.constraint)
    if isinstance(c, str):
        return {"boolean": {"type": "boolean"},
                "verbose": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "boolean"}]},
                "random_state": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
                                           {"type": "null"}]},
                "array-like": {"type": "array"},
                "nan": {"const": "nan"}}.get(c)
    if isinstance(c, pv.StrOptions):
        return {"enum": sorted(c.options)}
    if isinstance(c, pv.Options):
        return {"enum": sorted(c.options, key=repr)} if all(_plain(o) for o in c.options) else None
    if isinstance(c, pv.Interval):
        out: dict[str, Any] = {"type": "integer" if c.type is Integral else "number"}
        if c.left is not None and math.isfinite(c.left):
            out["minimum" if c.closed in ("left", "both") else "exclusiveMinimum"] = c.left
        if c.right is not None and math.isfinite(c.right):
            out["maximum" if c.closed in ("right", "both") else "exclusiveMaximum"] = c.right
        return out
    if isinstance(c, type):
        if issubclass(c, bool):
            return {"type": "boolean"}
        if issubclass(c, Integral):
            return {"type": "integer"}
        if issubclass(c, Real):
            return {"type": "number"}
        if issubclass(c, str):
            return {"type": "string"}
        if issubclass(c, dict):
            return {"type": "object"}
        if issubclass(c, (list, tuple)):
            return {"type": "array"}
    return None


def _plain(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int, str))


def _drop_formats(node: Any) -> None:
    """pydantic marks paths ``format: path``, which strict validators reject as an unknown format."""
    if isinstance(node, dict):
        if node.get("format") == "path":
            del node["format"]
        for value in node.values():
            _drop_formats(value)
    elif isinstance(node, list):
        for value in node:
            _drop_formats(value)
