"""``digitclf data list|fetch|import``: the data sets digitclf knows and its local cache."""

from __future__ import annotations

from pathlib import Path

import typer

from digitclf.cli.app import app, echo_json, info, table

data_app = typer.Typer(help="List, fetch and import data sets into the local cache.\n\n"
                            "Example: digitclf data import fashion-mnist /usr/share/datasets/fashion-mnist",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("list")
def list_cmd(json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show every known data set, whether it is cached, and its size.

    Example: digitclf data list
    """
    from digitclf.datasets import cache_dir, list_datasets

    rows = list_datasets()
    if json_:
        echo_json({"cache_dir": str(cache_dir()), "datasets": rows})
        return
    body = [[r["name"], "yes" if r["cached"] else "no", f"{r['cache_bytes'] / 1e6:.1f}" if r["cached"] else "-",
             r["source"], r["description"]] for r in rows]
    typer.echo(table(["name", "cached", "size MB", "source", "description"], body, right=[2]))
    typer.echo(f"cache: {cache_dir()}  (set DIGITCLF_DATA to move it)")


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="mnist or fashion-mnist"),
    force: bool = typer.Option(False, "--force", help="Fetch again even if cached (replaces a damaged cache)."),
) -> None:
    """Download a data set from OpenML once and store it in the cache.

    Example: digitclf data fetch mnist
    """
    from digitclf.datasets import cache_load, fetch_to_cache

    if not force:
        try:
            if cache_load(name) is not None:
                typer.echo(f"{name} is already cached; use --force to fetch it again")
                return
        except Exception:  # damaged entry: fetch again
            pass
    typer.echo(f"cached {name} at {fetch_to_cache(name, progress=info)}")


@data_app.command("import")
def import_cmd(
    name: str = typer.Argument(..., help="The data set it is: mnist or fashion-mnist (other data: dataset: {name: idx, path: PATH} in a config)."),
    path: Path = typer.Argument(..., help="A folder with the four IDX files, or a Keras-style .npz."),
) -> None:
    """Import local IDX files or an .npz into the cache (no network needed).

    Example: digitclf data import fashion-mnist /usr/share/datasets/fashion-mnist
    """
    import re

    from digitclf.datasets import import_to_cache
    from digitclf.errors import ConfigError, InputError

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise ConfigError(f"{name!r} is not a usable cache name; use letters, digits, '.', '_' or '-'")
    if not path.exists():
        raise InputError(f"{str(path)!r} does not exist; give a folder with the four IDX files or an .npz file")
    typer.echo(f"cached {name} at {import_to_cache(name, path)}")
