"""Run configuration: the schema (pydantic), YAML loading, ``--set`` overrides and their messages.

Pure structure: nothing here imports scikit-learn or reads data.  What needs the data set
registry or scikit-learn (estimator parameters, optional packages) is checked once by
``digitclf.checks.preflight``.
"""

from __future__ import annotations

import hashlib
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError, WithJsonSchema,
                      field_validator, model_validator)

from digitclf.errors import ConfigError, suggest
from digitclf.models import PLAIN_STEPS, STEPS

CONFIG_DIRS = (Path("."), Path("configs"))
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
RESERVED_NAMES = ("latest", "sweeps")  # outputs/latest is the pointer, outputs/sweeps/ holds sweep summaries
MAX_YAML_BYTES = 1_000_000  # a config is a few hundred bytes; anything this large is a mistake
MAX_YAML_NODES = 100_000  # values after expanding aliases (an alias bomb expands to billions)
MAX_YAML_DEPTH = 64
PREPROCESS_STEPS = PLAIN_STEPS  # names of the steps without parameters (digitclf.models.STEPS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _whole_number(value: Any) -> Any:
    """YAML reads true/false as booleans; pydantic would take them as 1 and 0, and "3" as 3
    (which the JSON Schema, and so an editor, refuses: both give the same verdict)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number, not {str(value).lower()} "
                         "(YAML reads true/false as booleans)")
    if isinstance(value, str):
        hint = "; remove the quotes" if value.strip().lstrip("+-").isdigit() else ""
        raise ValueError(f"must be a whole number, got the text {value!r}{hint}")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
# bounds given before the validator, so JSON Schema shows them as minimum/maximum inside an Optional too
ThreadCount = Annotated[int, Field(ge=1, le=1024), BeforeValidator(_whole_number)]
RandomState = Annotated[int, Field(ge=0, le=2**32 - 1), BeforeValidator(_whole_number)]


class DatasetConfig(_Strict):
    """Which data set to load, and from where."""

    name: str = Field("digits", description="registry name: digits, mnist, fashion-mnist, idx, npz")
    path: Path | None = Field(
        None, description="a folder with the four IDX files (gzipped or not) or a Keras-style .npz"
    )

    @field_validator("path", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; give a folder of IDX files or an .npz file, or remove the key")
        return value


class SplitConfig(_Strict):
    """How the test set is chosen."""

    kind: Literal["random", "predefined", "kfold"] = Field(
        "random", description="random or predefined: one test set; kfold: cross-validation over every image")
    test_size: Annotated[Union[float, int], WithJsonSchema({
        "anyOf": [{"type": "number", "exclusiveMinimum": 0},
                  {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(/\s*\d+\s*)?$"}],
        "description": "a fraction (0.25 or '1/7') or a number of test images"})] = 0.25
    random_state: RandomState | None = Field(None, description="defaults to the config's seed")
    stratify: StrictBool = False
    validation_size: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        None, description="score on this share of the training part instead of the test set (a search's points)")
    train_size: Annotated[int, Field(ge=2), BeforeValidator(_whole_number)] | None = Field(
        None, description="train on this many images of the training part, a seeded subsample (halving's resource)")
    n_splits: Annotated[int, Field(ge=2, le=100), BeforeValidator(_whole_number)] = Field(
        5, description="kind: kfold: the number of folds")
    repeats: Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole_number)] = Field(
        1, description="kind: kfold: repeat the k folds this many times, each shuffled with its own seed")
    jobs: Annotated[int, Field(ge=-1, le=1024), BeforeValidator(_whole_number)] = Field(
        1, description="kind kfold or cv: folds fitted at once in separate processes (-1: one per core; a sweep's "
                       "points already run in parallel: keep 1 there)")
    cv: StrictBool = Field(False, description="kind random or predefined: score by cross-validation of the training "
                                        "part (n_splits, repeats) instead of on the test set (a search's points)")

    @model_validator(mode="after")
    def _one_way_to_score(self) -> "SplitConfig":
        if self.kind == "kfold" and (self.validation_size is not None or self.train_size is not None or self.cv):
            raise ValueError("validation_size, train_size and cv narrow a test split; kind: kfold scores every "
                             "image by cross-validation (for a search use kind: random with cv: true)")
        if self.cv and self.validation_size is not None:
            raise ValueError("cv and validation_size are two ways to score the training part; keep one")
        return self

    @field_validator("test_size", mode="before")
    @classmethod
    def _parse_test_size(cls, value: Any) -> float | int:
        if isinstance(value, bool):
            raise ValueError("must be a fraction like 0.25 or '1/7', or a count of test images")
        if isinstance(value, str):
            try:
                value = float(Fraction(value.strip()))
            except (ValueError, ZeroDivisionError):
                raise ValueError(
                    f"cannot read {value!r} as a fraction; write 0.25, 1/7 or a count like 10000"
                ) from None
        if isinstance(value, float):
            if not 0.0 < value < 1.0:
                raise ValueError(f"a fraction must be between 0 and 1 (exclusive), got {value}")
        elif isinstance(value, int):
            if value < 1:
                raise ValueError(f"a count of test images must be at least 1, got {value}")
        return value


SPLIT_KEYS_SINCE_SEARCH = {"validation_size": None, "train_size": None, "n_splits": 5, "repeats": 1, "cv": False}


class PCAParams(_Strict):
    n_components: Union[int, float] = Field(50, description="a count, or a fraction of variance in (0, 1)")
    whiten: StrictBool = False

    @field_validator("n_components", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, (bool, str)):
            said = str(value).lower() if isinstance(value, bool) else f"the text {value!r}"
            raise ValueError(f"must be a count like 50 or a fraction like 0.95, not {said}")
        return value

    @field_validator("n_components")
    @classmethod
    def _positive(cls, value: float | int) -> float | int:
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise ValueError("a fraction of explained variance must be in (0, 1)")
        if isinstance(value, int) and value < 1:
            raise ValueError("must be at least 1")
        return value


class PCAStep(_Strict):
    pca: PCAParams

    def step(self) -> tuple[str, PCAParams]:
        """(name, parameters), as the step table in digitclf.models keys them."""
        return "pca", self.pca


PreprocessStep = Union[Literal[PLAIN_STEPS], PCAStep]


class EarlyStoppingConfig(_Strict):
    """Stop a fit when the held-out accuracy stops improving (``model.early_stopping``)."""

    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="share of the training split held out "
                                       "to score every iteration (seeded by the config's seed; never the test set)")
    patience: WholeNumber = Field(5, ge=1, le=100_000, description="iterations without an improvement before "
                                  "the fit stops")
    min_delta: float = Field(0.001, ge=0.0, le=1.0, description="validation accuracy gain that counts as an "
                             "improvement")


class ModelConfig(_Strict):
    """The classifier: a registry name or a dotted scikit-learn path, and its parameters."""

    estimator: str = "logistic_regression"
    params: dict[str, Any] = Field(default_factory=dict)
    blas_threads: ThreadCount | Literal["auto"] | None = Field(
        "auto", description="BLAS threads while the preprocessing and the classifier fit and predict: a count (at "
                            "most that many), auto (default: one below 2**27 cells of training data, where more "
                            "threads only cost time; else every core a sweep worker has) or null (the BLAS "
                            "library's own, one per core)")
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="stop when the held-out accuracy stops improving; the best iteration's model is kept")
    time_budget: float | None = Field(
        None, gt=0.0, le=1e7, description="seconds: the fit stops at the last iteration that fits in the budget "
                                          "(estimators with per-iteration callbacks)")
    accelerator: Literal["sklearnex"] | None = Field(
        None, description="sklearnex: fit with scikit-learn-intelex's version of the classifier (logistic_regression; "
                          "pip install 'digitclf[intelex]'); nothing in scikit-learn is patched and the saved model "
                          "is scikit-learn's own. Default: plain scikit-learn")


class MlflowConfig(_Strict):
    """Log each run to MLflow (needs ``pip install 'digitclf[mlflow]'``)."""

    tracking_uri: str | None = Field(None, description="default: MLflow's own (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    experiment: str = "digitclf"


class OutputConfig(_Strict):
    """Where and how a run is saved."""

    dir: Path = Path("outputs")
    model_format: Literal["joblib", "skops"] = "joblib"
    plots: StrictBool = True
    misclassified: WholeNumber = Field(25, ge=0, le=400, description="images in misclassified.png")
    mlflow: MlflowConfig | None = None
    curve: bool | None = Field(
        None, description="curve.csv and curve.png: held-out accuracy at every iteration (default: on when "
                          "model.early_stopping holds a slice out anyway)")


class RunConfig(_Strict):
    """One experiment: data, split, preprocessing, model, output and seed."""

    name: str = Field("digits_lbfgs", pattern=NAME_PATTERN)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    preprocess: list[PreprocessStep] = Field(default_factory=lambda: ["none"])
    model: ModelConfig = Field(default_factory=ModelConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    seed: WholeNumber = Field(0, ge=0, le=2**32 - 1, description="every random choice takes it")

    @field_validator("name")
    @classmethod
    def _no_dots_only(cls, value: str) -> str:
        if set(value) <= {"."}:
            raise ValueError("a name cannot be only dots")
        if value.lower() in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved inside the outputs folder ({', '.join(RESERVED_NAMES)}); "
                             "choose another name")
        return value

    @field_validator("preprocess", mode="before")
    @classmethod
    def _check_steps(cls, value: Any) -> Any:
        if value is None:
            return ["none"]
        if isinstance(value, (str, dict)):
            value = [value]
        if not isinstance(value, list):
            raise ValueError("must be a list of steps, e.g. [scale] or [standardize, {pca: {n_components: 50}}]")
        for step in value:
            if isinstance(step, str) and step not in PREPROCESS_STEPS:
                raise ValueError(f"unknown step {step!r}{suggest(step, STEPS)}; "
                                 f"allowed: {', '.join(PREPROCESS_STEPS)}, {{pca: {{n_components: N}}}}")
            if isinstance(step, dict) and list(step) != ["pca"]:
                raise ValueError(f"unknown step {step!r}; the only step with parameters is {{pca: {{n_components: N}}}}")
            if not isinstance(step, (str, dict)):
                raise ValueError(f"a step must be a name or {{pca: {{...}}}}, got {step!r}")
        return value

    def resolved(self) -> "RunConfig":
        """Fill values that default to others (the split's random_state takes the seed)."""
        if self.split.random_state is None:
            return self.model_copy(update={"split": self.split.model_copy(update={"random_state": self.seed})})
        return self

    def with_mlflow(self) -> "RunConfig":
        """This config logging to MLflow: its own ``output.mlflow`` settings, else MLflow's defaults."""
        if self.output.mlflow is not None:
            return self
        return self.model_copy(update={"output": self.output.model_copy(update={"mlflow": MlflowConfig()})})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    def digest(self) -> str:
        """A stable hash of the resolved config (without where outputs go; an unset or auto blas_threads, and
        keys that came later at their defaults, are left out, so digests from before those keys still match)."""
        data = self.to_dict()
        if data.pop("output")["curve"] is True:  # a curve holds a validation slice out of the fit's rows
            data["curve"] = True
        if data["model"]["blas_threads"] in (None, "auto"):
            del data["model"]["blas_threads"]
        for key in ("early_stopping", "time_budget", "accelerator"):  # unset: digests from before these keys still match
            if data["model"][key] is None:
                del data["model"][key]
        for key, default in SPLIT_KEYS_SINCE_SEARCH.items():  # likewise the split's keys that came with searches
            if data["split"][key] == default:
                del data["split"][key]
        del data["split"]["jobs"]  # how many folds fit at once does not change the run
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class SweepSection(_Strict):
    """A config's ``sweep:`` section: a grid of KEY.PATH -> values and/or explicit variants."""

    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=dict, description="KEY.PATH -> a list of values; every combination runs")
    variants: list[Annotated[dict[str, Any], Field(min_length=1)]] = Field(
        default_factory=list, description="a list of KEY.PATH -> value sets; every grid combination runs once per variant")

    search: Literal[SEARCHES] = Field("grid", description="grid (every combination), random, halving or optuna")
    trials: Annotated[int, Field(ge=1, le=100_000), BeforeValidator(_whole_number)] | None = Field(
        None, description="points a random or optuna search draws; halving: candidates in the first rung "
                          "(default max_resources // min_resources, as scikit-learn's n_candidates='exhaust')")
    space: dict[str, dict[Literal[DISTRIBUTIONS], list[Any]]] = Field(
        default_factory=dict, description="KEY.PATH -> {choice: [a, b]}, {uniform: [low, high]}, "
                                          "{loguniform: [low, high]} or {int: [low, high]} (inclusive)")
    validation: Union[Annotated[float, Field(gt=0, lt=1)], Literal["cv"]] | None = Field(
        None, description="share of the training part that ranks the points, or cv: their cross-validation on the "
                          "training part (split.n_splits folds); searches: 0.2 unless given; a grid selects only "
                          "when it is given")
    halving: HalvingSettings | None = None
    pruner: Literal[PRUNERS] = Field(
        "median", description="optuna: stop trials whose held-out accuracy curve (estimators with per-iteration "
                              "callbacks, e.g. logistic_regression lbfgs; reported every 10 iterations) stays below "
                              "the median of the finished trials at the same iteration (median: Optuna's "
                              "MedianPruner, after 5 trials and 10 iterations), or none")

    @field_validator("space", mode="before")
    @classmethod
    def _one_distribution(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must map KEY.PATH to a distribution, e.g. "
                             f"{{model.params.C: {{loguniform: [0.001, 100]}}}}; "
                             f"got {value!r}")
        for key, spec in value.items():
            check_key_path(key)
            if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
                raise ValueError(f"{key}: must be one of {{choice: [a, b, ...]}}, {{uniform: [low, high]}}, "
                                 f"{{loguniform: [low, high]}}, {{int: [low, high]}}; got {spec!r}")
            kind, args = next(iter(spec.items()))
            if kind == "choice":
                if not isinstance(args, list) or not args:
                    raise ValueError(f"{key}: choice needs a non-empty list of values, got {args!r}")
                continue
            numbers = isinstance(args, list) and len(args) == 2 and all(
                isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
            if not numbers or not args[0] < args[1]:
                raise ValueError(f"{key}: {kind} needs [low, high] with low < high, got {args!r}")
            if kind == "loguniform" and args[0] <= 0:
                raise ValueError(f"{key}: loguniform needs a positive low bound, got {args[0]}")
            if kind == "int" and not all(isinstance(a, int) for a in args):
                raise ValueError(f"{key}: int needs whole-number bounds, got {args!r}")
        return value

    @field_validator("grid", mode="before")
    @classmethod
    def _grid_of_lists(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"must map KEY.PATH to a list of values, e.g. {{model.params.C: [0.1, 1, 10]}}; "
                             f"got {value!r}")
        for key, values in value.items():
            check_key_path(key)
            if not isinstance(values, list) or not values:
                raise ValueError(f"{key}: must be a non-empty list of values, got {values!r}; "
                                 f"write [{values}] for a single value")
        return value

    @field_validator("variants", mode="before")
    @classmethod
    def _list_of_mappings(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) and v for v in value):
            raise ValueError(f"must be a list of mappings of KEY.PATH to a value, "
                             f"e.g. [{{model.params.solver: liblinear}}]; got {value!r}")
        for variant in value:
            for key in variant:
                check_key_path(key)
        return value


def check_key_path(key: Any) -> None:
    """A swept key is a dotted path of config keys, as --set takes it (model.params.C)."""
    if not isinstance(key, str) or not key.strip() or any(not part.strip() for part in key.split(".")):
        raise ValueError(f"{key!r} is not a KEY.PATH; write dotted config keys such as model.params.C")
    if any(part.isdigit() for part in key.split(".")[1:]):
        raise ValueError(f"{key!r} holds a list index; sweep the whole list instead, e.g. "
                         f"preprocess: [[scale], [standardize]]")


DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")  # a space: entry is {one of these: [...]}
SEARCHES = ("grid", "random", "halving", "optuna")
PRUNERS = ("median", "none")


class HalvingSettings(_Strict):
    """``sweep.halving``: successive halving as scikit-learn's HalvingRandomSearchCV schedules it."""

    resource: str = Field("split.train_size", description="the KEY.PATH each rung raises: split.train_size "
                          "(training images) or an iteration count such as model.params.max_iter")
    min_resources: Annotated[int, Field(ge=1), BeforeValidator(_whole_number)] = Field(
        ..., description="the resource of the first rung")
    max_resources: Annotated[int, Field(ge=1), BeforeValidator(_whole_number)] = Field(
        ..., description="the most any rung gets")
    factor: Annotated[int, Field(ge=2), BeforeValidator(_whole_number)] = Field(
        3, description="each rung keeps 1/factor of the points and gives them factor times the resource")

    @model_validator(mode="after")
    def _max_above_min(self) -> "HalvingSettings":
        if self.max_resources < self.min_resources:
            raise ValueError(f"max_resources {self.max_resources} is below min_resources ({self.min_resources}); "
                             "it must be at least min_resources")
        return self




def find_config(name: str | Path) -> Path:
    """A config path as given, or a bare name looked up in ./ then configs/ (``.yaml`` optional)."""
    if not str(name).strip():
        raise ConfigError("--config is empty; give a YAML file such as configs/digits_lbfgs.yaml, or leave --config "
                          "out for the built-in digits default")
    path = Path(name)
    candidates = [path]
    if not path.is_absolute() and len(path.parts) == 1:
        candidates = [d / path for d in CONFIG_DIRS]
        if path.suffix not in (".yaml", ".yml"):
            candidates += [d / f"{path.name}.yaml" for d in CONFIG_DIRS]
    from digitclf.paths import article, kind

    for candidate in candidates:
        found = kind(candidate)
        if found == "file":
            return candidate
        if found not in ("missing", "folder"):
            raise ConfigError(f"config {str(candidate)!r} is {article(found)}, not a file; "
                              "give a YAML file such as configs/digits_lbfgs.yaml")
    if kind(path) == "folder":
        raise ConfigError(f"config {str(name)!r} is a folder; give a YAML file such as configs/digits_lbfgs.yaml")
    known = sorted(p.name for d in CONFIG_DIRS if d.is_dir() for p in d.glob("*.y*ml"))
    hint = suggest(path.name, known) or (f"; available: {', '.join(known)}" if known else "")
    raise ConfigError(f"config file {str(name)!r} not found (looked in ./ and configs/){hint}")


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _SafeLoader(yaml.SafeLoader):
    """The safe loader, reading ``1e-3`` as a float (YAML 1.2) rather than a string (YAML 1.1),
    and refusing a key given twice in one mapping (YAML keeps the last one silently)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            own = [key_node for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge"]
            for key_node in own:  # keys merged in with <<: may be overridden, as YAML intends
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: the base class says so
                    break
                if first is not key_node:
                    raise _DuplicateKey(None, None, f"key {key!r} is given twice in one mapping (first at "
                                        f"line {first.start_mark.line + 1}); YAML would keep only the last: "
                                        "remove one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


# Numbers as YAML 1.2 (what editors' YAML language servers read) rather than PyYAML's YAML 1.1, which reads
# 010 as 8, 1:30 as 90, 1_000 as 1000, yes as true and 2026-12-02 as a date: a config means the same to digitclf and to the
# editor showing it.
_YAML11_ONLY = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                "tag:yaml.org,2002:timestamp")
_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_SafeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))  # not yes/no/on/off
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_SafeLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))


def _construct_int(loader: yaml.SafeLoader, node: Any) -> int:
    text = loader.construct_scalar(node)
    if not _INT.match(text):  # an explicit !!int tag on something else
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a whole number", node.start_mark)
    if text[:2] in ("0o", "0x"):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)  # more digits than Python converts: a ValueError, reported by read_yaml


_SafeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?
                |[-+]?[0-9]+(?:[eE][-+]?[0-9]+)
                |[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


class _SafeDumper(yaml.SafeDumper):
    """Quotes every string that YAML 1.1 or 1.2 would read as something else (0o17, 1_000, yes): the file reads
    back the same in digitclf, in PyYAML and in an editor."""


for _first, _resolvers in _SafeLoader.yaml_implicit_resolvers.items():
    for _tag, _regexp in _resolvers:
        _SafeDumper.add_implicit_resolver(_tag, _regexp, [_first])


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_SafeDumper, sort_keys=False)


def _expanded_size(node: Any) -> tuple[int, int]:
    """(values, depth) of a composed YAML document with every alias expanded; linear in the nodes,
    since an alias is the same node object (its size is counted once and reused)."""
    sizes: dict[int, tuple[int, int]] = {}
    endless = (MAX_YAML_NODES + 1, MAX_YAML_DEPTH + 1)

    def walk(current: Any) -> tuple[int, int]:
        if id(current) in sizes:
            return sizes[id(current)]
        sizes[id(current)] = endless  # reached again before it is sized: it contains itself (a recursive alias)
        children: list[Any] = []
        if isinstance(current, yaml.SequenceNode):
            children = current.value
        elif isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        count, depth = 1, 1
        for child in children:
            child_count, child_depth = walk(child)
            count, depth = count + child_count, max(depth, child_depth + 1)
            if count > MAX_YAML_NODES or depth > MAX_YAML_DEPTH:
                break
        sizes[id(current)] = (count, depth)
        return count, depth

    return walk(node)


def read_yaml(text: str, source: str) -> Any:
    """Safe YAML loading with errors turned into one line with line and column.

    Bounded: at most ``MAX_YAML_BYTES`` of text, ``MAX_YAML_NODES`` values once aliases are
    expanded, ``MAX_YAML_DEPTH`` levels of nesting.
    """
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: {len(text):,} characters is more than a config can be "
                          f"(at most {MAX_YAML_BYTES:,}); is it the right file?")
    try:
        loader = _SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            count, depth = _expanded_size(node)
            if count > MAX_YAML_NODES or depth > MAX_YAML_DEPTH:
                raise ConfigError(f"{source}: the YAML expands to more than {MAX_YAML_NODES:,} values or "
                                  f"{MAX_YAML_DEPTH} levels (anchors and aliases count every time they are used); "
                                  "a config is a few small sections")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except ValueError as exc:  # an integer with more digits than Python converts
        digits = re.search(r"limit \((\d+) digits\)", str(exc))
        limit = f"more than {digits.group(1)} digits" if digits else "a value that cannot be converted"
        raise ConfigError(f"{source}: a number has {limit}; write a shorter number") from None
    except _DuplicateKey as exc:
        raise ConfigError(f"{source}{_mark(exc.problem_mark)}: {exc.problem}") from None
    except yaml.constructor.ConstructorError as exc:
        tag = re.search(r"tag '([^']+)'", str(exc))
        if tag:
            raise ConfigError(f"{source}{_mark(exc.problem_mark)}: YAML tag {tag.group(1)} is not allowed; "
                              "configs are plain YAML (mappings, lists, strings, numbers)") from None
        raise ConfigError(f"{source}{_mark(exc.problem_mark)}: invalid YAML: {exc.problem}; "
                          "fix the syntax there") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply to read; flatten the structure") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}{_mark(mark)}: invalid YAML: {problem}; fix the syntax there") from None


def _mark(mark: Any) -> str:
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (['a', 'b', 'c'], value parsed as a YAML scalar or flow collection)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set model.params.C=10")
    label = key if key.isprintable() else repr(key)  # a newline in a key must not split the message
    return key.split("."), read_yaml(raw, f"--set {label}") if raw.strip() else ""


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"params": {"C": 1}}}`` -> ``{"model.params.C": 1}``: dotted key paths, as ``--set`` takes
    them (lists and empty mappings are values)."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw config mapping (in place, also returned)."""
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        index = next((depth for depth, key in enumerate(keys) if key.isdigit() and depth), None)
        if index is not None:  # no config key is a number: this means an item of a list
            path = ".".join(keys[:index])
            raise ConfigError(f"--set {text!r}: {keys[index]} is a list index, and --set takes mapping keys only; "
                              f"set the whole list, e.g. --set {path}=[...]")
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                path = ".".join(keys[: depth + 1])
                raise ConfigError(f"--set {text!r}: {path} is {type(child).__name__}, not a mapping; "
                                  f"set it whole, e.g. --set {path}=...")
            node = child
        node[keys[-1]] = value
    return data


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    data: dict[str, Any] | None = None,
) -> RunConfig:
    """Load, override and validate a config (structure only); ``path=None`` is the built-in default."""
    source = "config"
    if data is None:
        if path is None:
            data = {}
        else:
            data, source = read_config_file(path)
            if "sweep" in data:
                raise ConfigError(f"{source} has a sweep: section; run it with 'digitclf sweep --config {path}' "
                                  "(train runs one config)")
    data = apply_overrides(dict(data), overrides)
    return from_dict(data, source)


def read_config_file(path: str | Path) -> tuple[dict[str, Any], str]:
    """Find and read a config file as a raw mapping (``name`` defaults to the file's stem), and its source."""
    file = find_config(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config {source}: it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                          f"at offset {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {source}: {exc.strerror or exc}; check the file's permissions") from None
    data = read_yaml(text, source)
    if data is None:
        raise ConfigError(f"{source} is empty; start from configs/digits_lbfgs.yaml")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections "
                          f"(name, dataset, split, ...), got a {type(data).__name__}")
    data.setdefault("name", _FileName(_default_name(file)))
    return data, source


class _FileName(str):
    """A run name taken from the config file's name (not written by the user): its errors say so."""


def _default_name(file: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", file.stem).lstrip("._-")
    return stem or "run"


def from_dict(data: dict[str, Any], source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(data).resolved()
    except ValidationError as exc:
        name = data["name"] if "name" in data else None
        if isinstance(name, _FileName) and exc.errors()[0]["loc"] == ("name",):
            raise ConfigError(f"{source}: the run name defaults to the file's name, and {str(name)!r} cannot be "
                              f"one (reserved: {', '.join(RESERVED_NAMES)}; at most 64 letters, digits, '.', '_' "
                              "or '-'); add a name: key to the config, or rename the file") from None
        raise ConfigError(describe_validation_error(exc, source)) from None


# ---------------------------------------------------------------- messages


def describe_validation_error(exc: ValidationError, source: str, root: type[BaseModel] | None = None,
                              prefix: str = "") -> str:
    """One line for a pydantic error: ``<source>: <key path>: <what is wrong and what is allowed>``.

    ``root`` is the model that was validated (default RunConfig); ``prefix`` goes before the key path
    (``sweep.`` for a sweep section).
    """
    root = root or RunConfig
    # in a union (preprocess steps), report the branch matching the input's shape
    errors = sorted(exc.errors(), key=lambda e: any(str(p).startswith("literal[") for p in e["loc"]))
    first = errors[0]
    loc = [str(part) for part in first["loc"] if part not in ("PCAStep",)
           and not str(part).startswith(("literal[", "function-before["))]  # union branches (blas_threads: N or auto)
    path = ".".join(part if re.fullmatch(r"[\w-]+", part) else repr(part) for part in loc)
    where = (prefix + path if path else prefix.rstrip(".")) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(first["loc"][:-1], root)
        message = f"unknown key {loc[-1]!r}{suggest(loc[-1], allowed)}; allowed keys: {', '.join(allowed)}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = str(first["msg"]).removeprefix("Value error, ")
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        keys = _fields_at(first["loc"], root)
        shape = f"a mapping with keys {', '.join(keys)}" if keys and kind != "dict_type" else "a mapping (key: value)"
        message = f"must be {shape}; got {first['input']!r}"
    elif kind == "bool_type":
        said = first["input"]
        yaml11 = isinstance(said, str) and said.lower() in ("yes", "no", "on", "off", "y", "n")
        message = (f"must be true or false, got {said!r} (YAML 1.2, as editors read it, has no yes/no/on/off "
                   "booleans)" if yaml11 else f"must be true or false (no quotes), got {said!r}")
    elif kind == "string_pattern_mismatch" and loc == ["name"]:
        message = (f"{first['input']!r} is not a safe run name; use letters, digits, '.', '_' or '-' "
                   "(at most 64, starting with a letter or digit)")
    else:
        said = f"{first['msg'][0].lower()}{first['msg'][1:]}"
        message = f"{said}: {first['input']!r}" if ", got " in said else f"{said}, got {first['input']!r}"
    rest = [e for e in errors[1:] if not any(str(p).startswith("literal[") for p in e["loc"])]
    more = f" (and {len(rest)} more problem{'s' if len(rest) > 1 else ''})" if rest else ""
    return f"{source}: {where}: {message}{more}"


def _fields_at(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            if part == "PCAStep":
                model = PCAStep
            continue
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), PCAStep)
    return list(getattr(model, "model_fields", {}))
