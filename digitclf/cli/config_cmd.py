"""``digitclf config show|validate``: inspect a config without running it."""

from __future__ import annotations

from typing import Optional

import typer

from digitclf.cli.app import ConfigOpt, SetOpt, app, echo_json

config_app = typer.Typer(help="Inspect and check configs without running them.\n\n"
                              "Example: digitclf config validate --config mnist_lbfgs.yaml", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(
    config: Optional[str] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    json_: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print the fully resolved config (defaults filled, overrides applied).

    Example: digitclf config show --config mnist_lbfgs.yaml --set model.params.C=10
    """
    from digitclf.config import dump_yaml, load_config, read_config_file

    if config is not None and "sweep" in read_config_file(config)[0]:  # the base config each point starts from
        from digitclf.config import apply_overrides
        from digitclf.sweep.plan import _validated_section, read_sweep_config

        base, section, source = read_sweep_config(config)
        on_sweep = [text for text in set_ or [] if text.split("=", 1)[0].strip().split(".")[0] == "sweep"]
        section = _validated_section(apply_overrides({"sweep": section.model_dump(mode="json")}, on_sweep)["sweep"],
                                     source)
        data = {**load_config(data=base, overrides=[t for t in set_ or [] if t not in on_sweep]).to_dict(),
                "sweep": section.model_dump(mode="json", exclude_defaults=True)}
    else:
        data = load_config(config, set_ or []).to_dict()
    if json_:
        echo_json(data)
    else:
        typer.echo(dump_yaml(data), nl=False)


@config_app.command("validate")
def validate_cmd(
    config: Optional[str] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
) -> None:
    """Check a config completely (schema, data set, estimator parameters) without running it; a config with a
    sweep: section has every point checked.

    Example: digitclf config validate --config configs/mnist_liblinear.yaml
    """
    from digitclf.checks import preflight
    from digitclf.config import load_config, read_config_file

    if config is not None and "sweep" in read_config_file(config)[0]:
        from digitclf.sweep.plan import plan_sweep

        plan = plan_sweep(config, (), set_ or [])
        typer.echo(f"ok: {plan.name} sweep: {len(plan.points)} point{'s' if len(plan.points) != 1 else ''} "
                   f"valid ({', '.join(plan.keys)})")
        return
    cfg = preflight(load_config(config, set_ or [])).config
    typer.echo(f"ok: {cfg.name} ({cfg.dataset.name}, {cfg.model.estimator}) is valid")


@config_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of config files (point your editor's YAML language server at it).

    Example: digitclf config schema > digitclf.schema.json
    """
    from digitclf.schema import json_schema

    echo_json(json_schema())
