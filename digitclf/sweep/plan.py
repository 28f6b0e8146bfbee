"""Planning a sweep: expand a grid into points, validate each point once, give each its identity.

A point is the base config with some keys set (``model.params.C=10``).  Its run id is
``pt-`` + a hash of its resolved config digest and the data set's fingerprint, so the same
point always lands in the same folder ``<outputs>/<name>/<run-id>/``.  Planning runs
nothing and writes nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from digitclf import config as config_mod
from digitclf.checks import CheckedConfig, preflight
from digitclf.config import SEARCHES, RunConfig, SweepSection
from digitclf.errors import ConfigError, suggest
from digitclf.sweep.search import Search, expand  # noqa: F401 - expand is part of plan's API

if TYPE_CHECKING:
    from digitclf.config import DatasetConfig
    from digitclf.datasets import Dataset

SWEEPS_DIR = "sweeps"


@dataclass(frozen=True)
class Point:
    """One combination of swept values and the checked config it gives."""

    index: int  # 1-based, in expansion order
    values: dict[str, Any]
    checked: CheckedConfig  # passed checks.preflight once, while planning; runner.train trusts it
    fingerprint: str  # of the data set it trains on
    run_id: str  # point_run_id(config, fingerprint)

    @property
    def config(self) -> RunConfig:
        return self.checked.config


@dataclass
class SweepPlan:
    """An expanded, validated sweep: what would run, where, under which id."""

    name: str
    source: str
    base: dict[str, Any]  # the config mapping after --set, before any point's values
    grid: dict[str, list[Any]]
    variants: list[dict[str, Any]]
    points: list[Point]  # the planned points, then each later batch of a search as it is made
    outputs: Path
    search: Search = field(default_factory=lambda: Search("grid", []))
    validation: float | str | None = None  # the share of the training part that ranks the points, or "cv"
    mlflow: bool = False
    planned: int = 0  # how many of ``points`` were planned (the sweep's identity); 0: all
    fixed_id: str | None = None  # a search whose points come later (optuna): its id from its settings

    @property
    def id(self) -> str:
        """``<name>-<hash of the set of planned point ids>``: the same sweep finds the same folder again."""
        if self.fixed_id:
            return self.fixed_id
        ids = sorted(p.run_id for p in self.points[: self.planned or None])
        return f"{self.name}-{hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:10]}"

    @property
    def selects(self) -> bool:
        """True when the points are ranked on validation data and the best is then scored on the test set."""
        return self.validation is not None

    def add_points(self, batch: list[dict[str, Any]], overrides: tuple[str, ...] = ()) -> list[Point]:
        """Points for a search's next batch (each checked now, before it runs), appended to ``points``."""
        start = len(self.points)
        overrides = overrides or self.search.point_overrides()
        points = [make_point(self.base, self.source, values, start + n, self.mlflow, overrides)
                  for n, values in enumerate(batch, 1)]
        check_distinct([*self.points, *points])
        check_equal_values(points)
        self.points.extend(points)
        return points

    def selected_point(self, winner: Point) -> Point:
        """The winner trained on the whole training part and scored on the test set (its own run id)."""
        dropped = self.search.refit_drops()
        values = {key: value for key, value in winner.values.items() if key not in dropped}
        return self.add_points([values], ("split.validation_size=null", "split.cv=false",
                                          *(f"{key}=null" for key in dropped)))[0]

    @property
    def folder(self) -> Path:
        return self.outputs / SWEEPS_DIR / self.id

    @property
    def keys(self) -> list[str]:
        """Every swept key, in the order it first appears."""
        return list(dict.fromkeys(k for p in self.points for k in p.values))

    def run_dir(self, point: Point) -> Path:
        return self.outputs / point.config.name / point.run_id

    def label(self, point: Point) -> str:
        return point_label(point.values, self.keys)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "source": self.source, "outputs": str(self.outputs),
                "grid": self.grid, "variants": self.variants, **self.search.to_dict(),
                "validation": self.validation, "base": self.base,
                "points": [{"index": p.index, "values": p.values, "run_id": p.run_id,
                            "config_digest": p.config.digest(), "data_fingerprint": p.fingerprint,
                            "run": str(self.run_dir(p))} for p in self.points]}


def point_run_id(cfg: RunConfig, data_fingerprint: str) -> str:
    """A point's identity: its resolved config (without output settings) and the data it trains on."""
    text = json.dumps([cfg.digest(), data_fingerprint])
    return "pt-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def short_keys(keys: list[str]) -> dict[str, str]:
    """``model.params.C`` -> ``C`` unless two keys would then read the same."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def point_label(values: dict[str, Any], keys: list[str] | None = None) -> str:
    """``solver=lbfgs C=0.1``: swept values under their short key names (shortened among ``keys``)."""
    short = short_keys(keys if keys is not None else list(values))
    return " ".join(f"{short[k]}={v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items())


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """``model.params.C=0.1,1,10`` -> ('model.params.C', [0.1, 1, 10]); values are YAML, so [scale],[none] works."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")) or not raw.strip():
        raise ConfigError(f"--grid {text!r}: expected KEY.PATH=v1,v2,..., e.g. --grid model.params.C=0.1,1,10")
    try:
        config_mod.check_key_path(key)
    except ValueError as exc:
        raise ConfigError(f"--grid {text!r}: {exc}") from None
    values = config_mod.read_yaml(f"[{raw}]", f"--grid {key}")
    if not isinstance(values, list) or not values:
        raise ConfigError(f"--grid {text!r}: give one or more comma-separated values, e.g. {key}=0.1,1,10")
    return key, values


def read_sweep_config(path: str | Path | None) -> tuple[dict[str, Any], SweepSection, str]:
    """The config file as a raw mapping without its ``sweep:`` section, that section, and the file's name."""
    if path is None:
        return {}, SweepSection(), "config"
    data, source = config_mod.read_config_file(path)
    try:
        section = SweepSection.model_validate(data.pop("sweep", None) or {})
    except ValidationError as exc:
        raise ConfigError(config_mod.describe_validation_error(exc, source, root=SweepSection,
                                                               prefix="sweep.")) from None
    return data, section, source


def plan_sweep(config: str | Path | None = None, grid: list[str] | tuple[str, ...] = (),
               overrides: list[str] | tuple[str, ...] = (), outputs: Path | None = None, *,
               mlflow: bool = False, search: str | None = None, trials: int | None = None,
               jobs: int = 1) -> SweepPlan:
    """Expand the grid or draw the search's first points (config's ``sweep:`` section, then ``--grid``,
    ``--search`` and ``--trials``) and check every point once.

    Nothing runs and nothing is written (an Optuna study is opened in the sweep folder); a bad point
    raises ConfigError naming it.  The data set of each point is fingerprinted (from its cache
    manifest, or by loading it once).  A search other than grid ranks its points on
    ``sweep.validation`` (default 0.2) of the training part: each point's ``split.validation_size``.
    ``mlflow``: points without ``output.mlflow`` log to MLflow with its defaults (``--mlflow``).
    """
    from digitclf.sweep.search import make_search

    base, section, source = read_sweep_config(config)
    on_sweep = [text for text in overrides if config_mod.parse_override(text)[0][0] == "sweep"]
    config_mod.apply_overrides(base, [text for text in overrides if text not in on_sweep])
    if on_sweep:  # --set sweep.KEY=VALUE sets the sweep section, not each point
        section = _validated_section(config_mod.apply_overrides({"sweep": section.model_dump(mode="json")},
                                                                on_sweep)["sweep"], source)
    sweep_grid = {str(key): values for key, values in section.grid.items()}
    for text in grid:
        key, values = parse_grid_option(text)
        sweep_grid[key] = values
    updates: dict[str, Any] = {"grid": sweep_grid}
    if search is not None and search not in SEARCHES:
        raise ConfigError(f"--search: unknown search {search!r}{suggest(search, SEARCHES)}; "
                          f"use one of {', '.join(SEARCHES)}")
    if search is not None:
        updates["search"] = search
    if trials is not None:
        updates["trials"] = trials
    section = _validated_section({**section.model_dump(), **updates}, source)
    if section.search == "grid" and not sweep_grid and not section.variants:
        raise ConfigError("nothing to sweep: give --grid KEY=v1,v2 (repeatable) or a sweep: section with "
                          "grid: or variants: in the config (see configs/sweep_digits.yaml); or --search random "
                          "with a sweep.space")
    validation = section.validation if section.search == "grid" else section.validation or DEFAULT_VALIDATION
    if validation is not None:
        ranked_on = "split.cv=true" if validation == "cv" else f"split.validation_size={validation}"
        config_mod.apply_overrides(base, [ranked_on])
    seed = _seed(base, source)
    out = Path(outputs if outputs is not None else _outputs_dir(base, source)).absolute()
    plan = SweepPlan(_name(base, source), source, base, sweep_grid, section.variants, [], out,
                     validation=validation, mlflow=mlflow)
    if section.search == "optuna":  # the study lives in the sweep folder, named before any point exists
        settings = json.dumps([base, section.model_dump(mode="json", exclude={"trials"}), seed], sort_keys=True)
        plan.fixed_id = f"{plan.name}-optuna-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"
    plan.search = make_search(section, seed, plan.folder, jobs)
    plan.add_points(plan.search.first())
    plan.planned = len(plan.points)
    return plan


DEFAULT_VALIDATION = 0.2


def _validated_section(data: Any, source: str) -> SweepSection:
    try:
        return SweepSection.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(config_mod.describe_validation_error(exc, source, root=SweepSection,
                                                               prefix="sweep.")) from None


def make_point(base: dict[str, Any], source: str, values: dict[str, Any], index: int, mlflow: bool = False,
               overrides: tuple[str, ...] = ()) -> Point:
    """The base config with ``values`` (then ``overrides``) set, resolved, checked once, fingerprinted."""
    label = point_label(values)
    try:
        data = config_mod.apply_overrides(copy.deepcopy(base),
                                          [*(f"{k}={json.dumps(v)}" for k, v in values.items()), *overrides])
        cfg = config_mod.from_dict(data, source)
        checked = preflight(cfg.with_mlflow() if mlflow else cfg)
        fingerprint = dataset_fingerprint(checked.config.dataset)
    except ConfigError as exc:
        raise ConfigError(f"sweep point {index} ({label}): {exc}") from None
    return Point(index, values, checked, fingerprint, point_run_id(checked.config, fingerprint))


def check_distinct(points: list[Point]) -> None:
    """Two points with one identity would be one run: a ConfigError naming both."""
    seen: dict[str, Point] = {}
    for point in points:
        if point.run_id in seen:
            raise ConfigError(f"sweep points {seen[point.run_id].index} and {point.index} are the same run "
                              f"(identical resolved config and data; output.* keys do not count); "
                              "remove the duplicate value")
        seen[point.run_id] = point


def check_equal_values(batch: list[Point]) -> None:
    """Two points of one batch whose values are equal but written differently (1 and 1.0: two identities, one
    model) are a ConfigError naming both."""
    for n, point in enumerate(batch):
        twin = next((other for other in batch[:n] if other.values == point.values), None)
        if twin is not None:
            raise ConfigError(f"sweep points {twin.index} and {point.index} have equal values "
                              f"({point_label(twin.values)} and {point_label(point.values)}), written differently; "
                              "they would fit the same model twice: remove the duplicate value")


def _base_config(base: dict[str, Any], source: str) -> RunConfig:
    return config_mod.from_dict(copy.deepcopy(base), source)


def _seed(base: dict[str, Any], source: str) -> int:
    """The base config's seed: a search's draws take it."""
    try:
        return _base_config(base, source).seed
    except ConfigError:
        return 0  # the points' own checks say what is wrong


def _name(base: dict[str, Any], source: str) -> str:
    try:
        return _base_config(base, source).name
    except ConfigError:
        return str(base["name"]) if "name" in base else RunConfig().name


def _outputs_dir(base: dict[str, Any], source: str) -> Path:
    try:
        return _base_config(base, source).output.dir
    except ConfigError:
        return RunConfig().output.dir


# ---------------------------------------------------------------- data, once per process

_DATA: dict[str, "Dataset"] = {}


def _data_key(cfg: "DatasetConfig") -> str:
    from digitclf.datasets import cache_dir

    return json.dumps([cfg.model_dump(mode="json"), str(cache_dir()), os.getcwd()])


def load_data(cfg: "DatasetConfig") -> tuple["Dataset", bool]:
    """The data set, loaded once per process (named sets memory-mapped from the cache); True if loaded now."""
    from digitclf.datasets import load_dataset

    key = _data_key(cfg)
    if key in _DATA:
        return _DATA[key], False
    _DATA[key] = load_dataset(cfg)
    return _DATA[key], True


def dataset_fingerprint(cfg: "DatasetConfig") -> str:
    """From the cache manifest when the set is cached, else by loading it (which fills the cache)."""
    from digitclf.datasets import cache_manifest

    if cfg.path is None and cfg.name != "digits":
        manifest = cache_manifest(cfg.name)
        if manifest is not None:
            return manifest.fingerprint
    return load_data(cfg)[0].fingerprint
