"""digitclf.sweep.plan: grid options, expansion, the sweep: section, identities, and checking each point once."""

from __future__ import annotations

from pathlib import Path

import pytest

from digitclf.config import load_config
from digitclf.errors import ConfigError
from digitclf.sweep import parse_grid_option, plan_sweep

DIGITS = "configs/digits_lbfgs.yaml"


def test_grid_option_values_are_yaml():
    assert parse_grid_option("model.params.C=0.1,1,10") == ("model.params.C", [0.1, 1, 10])
    assert parse_grid_option("model.params.solver=lbfgs,newton-cg") == ("model.params.solver", ["lbfgs", "newton-cg"])
    assert parse_grid_option("preprocess=[none],[scale, {pca: {n_components: 20}}]") == (
        "preprocess", [["none"], ["scale", {"pca": {"n_components": 20}}]])


def test_plan_points_are_the_configs_set_would_give():
    plan = plan_sweep(DIGITS, ["model.params.solver=lbfgs,newton-cg", "model.params.C=0.1,10"],
                      ["model.params.max_iter=50"])
    assert [p.values for p in plan.points] == [
        {"model.params.solver": s, "model.params.C": c} for s in ("lbfgs", "newton-cg") for c in (0.1, 10)]
    for point in plan.points:
        sets = ["model.params.max_iter=50"] + [f"{k}={v}" for k, v in point.values.items()]
        assert point.config == load_config(DIGITS, sets)
    assert len({p.run_id for p in plan.points}) == 4
    again = plan_sweep(DIGITS, ["model.params.solver=lbfgs,newton-cg", "model.params.C=0.1,10"],
                       ["model.params.max_iter=50"])
    assert [p.run_id for p in again.points] == [p.run_id for p in plan.points]
    assert again.id == plan.id and plan.id.startswith("digits_lbfgs-")
    other = plan_sweep(DIGITS, ["model.params.solver=lbfgs,newton-cg", "model.params.C=0.1,10,100"],
                       ["model.params.max_iter=50"])
    assert other.id != plan.id
    assert [p.run_id for p in other.points][:2] == [p.run_id for p in plan.points][:2]  # shared points, same ids
    assert not Path("outputs").exists()  # planning writes nothing


def test_config_sweep_section_crosses_grid_and_variants(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text(
        "dataset: {name: digits}\n"
        "model: {estimator: logistic_regression, params: {max_iter: 50}}\n"
        "sweep:\n"
        "  grid: {model.params.C: [0.1, 1]}\n"
        "  variants:\n"
        "    - {model.params.solver: lbfgs}\n"
        "    - {model.params.solver: liblinear, model.params.tol: 0.01}\n")
    plan = plan_sweep(config, overrides=["split.test_size=0.5"])
    assert plan.name == "mine"
    assert [p.values for p in plan.points] == [
        {"model.params.C": 0.1, "model.params.solver": "lbfgs"},
        {"model.params.C": 1, "model.params.solver": "lbfgs"},
        {"model.params.C": 0.1, "model.params.solver": "liblinear", "model.params.tol": 0.01},
        {"model.params.C": 1, "model.params.solver": "liblinear", "model.params.tol": 0.01}]
    assert all(p.config.split.test_size == 0.5 for p in plan.points)
    assert plan.points[3].config.model.params == {"max_iter": 50, "C": 1, "solver": "liblinear", "tol": 0.01}
    # a --grid option replaces the config's grid for that key
    assert [p.values["model.params.C"] for p in plan_sweep(config, ["model.params.C=5"]).points] == [5, 5]
    with pytest.raises(ConfigError, match=r"sweep.variants\[1\]: model.params.solver is also swept by the grid"):
        plan_sweep(config, ["model.params.solver=sag"])


def test_shipped_solver_sweep_expands_to_the_seed_solvers():
    # MNIST is not available offline; the same spec on digits checks every variant validates
    plan = plan_sweep("sweep_solvers", overrides=["dataset.name=digits"])
    assert [p.values["model.params.solver"] for p in plan.points] == ["lbfgs", "saga", "newton-cg", "sag", "liblinear"]
    assert all(p.config.split.test_size == pytest.approx(1 / 7) for p in plan.points)
    assert plan.name == "sweep_solvers"


def test_each_point_is_checked_once_in_planning_and_running(monkeypatch):
    import digitclf.checks
    from digitclf.sweep import run_sweep

    calls = []
    real = digitclf.checks.check_estimator
    monkeypatch.setattr(digitclf.checks, "check_estimator", lambda model: calls.append(model) or real(model))
    plan = plan_sweep(DIGITS, ["model.params.C=0.1,1", "model.params.max_iter=5,10,20,40"], ["output.plots=false"])
    assert len(plan.points) == 8 and len(calls) == 8
    result = run_sweep(plan, jobs=1)  # in this process, so every check is counted
    assert result.counts == {"complete": 8}
    assert len(calls) == 8  # runner.train trusted the planned CheckedConfig


def test_mlflow_option_sets_default_mlflow_settings_on_every_point():
    plan = plan_sweep(DIGITS, ["model.params.C=0.1,1"], mlflow=True)
    assert all(p.config.output.mlflow is not None for p in plan.points)
    assert [p.run_id for p in plan.points] == [p.run_id for p in plan_sweep(DIGITS, ["model.params.C=0.1,1"]).points]


def test_set_sweep_keys_set_the_sweep_section_not_the_points():
    plan = plan_sweep("configs/search_digits.yaml", (), ["sweep.trials=3", "model.params.max_iter=50"])
    assert len(plan.points) == 3  # the config says 16
    assert {p.config.model.params["max_iter"] for p in plan.points} == {50}
    with pytest.raises(ConfigError) as caught:
        plan_sweep("configs/search_digits.yaml", (), ["sweep.pruner=bogus"])
    assert str(caught.value) == ("configs/search_digits.yaml: sweep.pruner: input should be 'median' or 'none', "
                                 "got 'bogus'")
