"""Shell completion: run ids, bare config names, data set and estimator names, ``--set`` keys and values.

Each function takes what the user has typed so far and returns the candidates; they are attached
to the shared options in ``cli/app.py``.  Nothing here may fail loudly: a completion that cannot
be computed offers nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

DEFAULT_OUTPUTS = Path("outputs")


def complete_config(incomplete: str) -> list[str]:
    """Bare names of the YAML files in ./ and configs/ (what ``--config NAME`` looks up), or paths once a
    folder is typed."""
    from digitclf.config import CONFIG_DIRS

    if "/" in incomplete:
        folder = Path(incomplete).parent
        found = sorted(str(p) for p in folder.glob("*.y*ml")) if folder.is_dir() else []
        return [p for p in found if p.startswith(incomplete)]
    names = {p.stem for d in CONFIG_DIRS if d.is_dir() for p in d.glob("*.y*ml")}
    return sorted(n for n in names if n.startswith(incomplete))


def complete_run(ctx: typer.Context, incomplete: str) -> list[str]:
    """Run ids under the outputs folder (``--outputs`` if given), newest first; also run names."""
    from digitclf.runs import iter_runs

    outputs = (ctx.params.get("outputs") if ctx is not None else None) or DEFAULT_OUTPUTS
    runs = list(reversed(iter_runs(Path(outputs))))
    names = dict.fromkeys(r.path.parent.name for r in runs)
    return [c for c in [*(r.id for r in runs), *names] if c.startswith(incomplete)]


def complete_dataset(incomplete: str) -> list[str]:
    from digitclf.datasets import DATASETS

    return [name for name in DATASETS if name.startswith(incomplete)]


def complete_set(ctx: typer.Context, incomplete: str) -> list[str]:
    """``KEY.PATH=`` for every config key (``model.params.*`` of the configured estimator), then its
    allowed values once ``=`` is typed."""
    key, eq, value = incomplete.partition("=")
    leaves = _leaves(_configured_estimator(ctx))
    if not eq:
        return [f"{k}=" for k in leaves if k.startswith(incomplete)]
    return [f"{key}={v}" for v in _values(leaves.get(key, {})) if v.startswith(value)]


def _configured_estimator(ctx: Any) -> str:
    """The estimator of the --config and --set typed so far (logistic_regression if none can be read)."""
    from digitclf.config import load_config, read_config_file

    params = ctx.params if ctx is not None else {}
    try:
        data = read_config_file(params["config"])[0] if params.get("config") else {}
        data.pop("sweep", None)
        return load_config(data=data, overrides=list(params.get("set_") or [])).model.estimator
    except Exception:  # a half-typed command line: complete against the default
        return "logistic_regression"


def _leaves(estimator: str) -> dict[str, dict[str, Any]]:
    """Dotted key -> its JSON Schema, for every leaf of the config's structure."""
    from digitclf.schema import estimator_params_schema, structure_schema

    schema = structure_schema()
    defs = schema["$defs"]
    out: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        node = _resolve(node, defs)
        if prefix in ("model.params", "sweep"):
            return
        if "properties" in node:
            for key, sub in node["properties"].items():
                walk(sub, f"{prefix}.{key}" if prefix else key)
        else:
            out[prefix] = node

    walk(schema, "")
    try:
        params = estimator_params_schema(estimator)["properties"]
    except Exception:
        params = {}
    out.update({f"model.params.{key}": sub for key, sub in params.items()})
    return out


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow a $ref, and an optional section (anyOf [a mapping, null]) to the mapping."""
    if "$ref" in node:
        return _resolve(defs[node["$ref"].rpartition("/")[2]], defs)
    mappings = [_resolve(n, defs) for n in node.get("anyOf", []) if "$ref" in n]
    return mappings[0] if len(mappings) == 1 else node


def _values(node: dict[str, Any]) -> list[str]:
    options = [node, *node.get("anyOf", [])]
    values = [str(v) for o in options for v in o.get("enum", [])]
    if any(o.get("type") == "boolean" for o in options):
        values += ["true", "false"]
    if any(o.get("type") == "null" for o in options):
        values.append("null")
    return list(dict.fromkeys(values))


# ---------------------------------------------------------------- bash: KEY=VALUE across bash's word breaks

BASH_SCRIPT = """
%(complete_func)s() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \\
                   COMP_CWORD=$COMP_CWORD \\
                   %(autocomplete_var)s=complete_bash $1 ) )
    # a --set key completes to KEY= : leave the cursor there for the value
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then compopt -o nospace; fi
    # config paths: readline quotes them as file names (a space, a quote)
    if [[ "${COMPREPLY[*]}" == */* ]]; then compopt -o filenames; fi
    return 0
}

complete -o default -F %(complete_func)s %(prog_name)s
"""


def register_bash() -> None:
    """Use digitclf's bash completion (``digitclf --install-completion`` / ``--show-completion``).

    bash splits ``--set model.params.solver=sa`` at ``=`` into three words; the words are joined
    back before Click parses them, and the candidates are cut to the part bash replaces.
    """
    import os

    from typer import _completion_shared
    from typer._click.shell_completion import add_completion_class, split_arg_string
    from typer._completion_classes import BashComplete

    _completion_shared._completion_scripts["bash"] = BASH_SCRIPT  # what --show/--install-completion write

    class DigitclfBash(BashComplete):
        source_template = BASH_SCRIPT
        cut = ""

        def get_completion_args(self) -> tuple[list[str], str]:
            words = split_arg_string(os.environ["COMP_WORDS"])
            cword = int(os.environ["COMP_CWORD"])
            words = words[:cword + 1] + ([""] if cword >= len(words) else [])
            joined: list[str] = []
            for i, word in enumerate(words):
                glue = joined and (word == "=" or (i > 0 and words[i - 1] == "=" and len(joined[-1]) > 1
                                                   and joined[-1].endswith("=")))
                if glue and word == "=" and not joined[-1].endswith("="):
                    joined[-1] += "="
                elif glue and word != "=":
                    joined[-1] += word
                else:
                    joined.append(word)
            incomplete = joined[-1]
            current = words[-1]
            # readline replaces only what follows the last '=' (bash's word '=' itself is not replaced)
            self.cut = incomplete[:len(incomplete) - len(current)] if current != "=" else incomplete
            return joined[1:-1], incomplete

        def format_completion(self, item: Any) -> str:
            value = str(item.value)
            return value[len(self.cut):] if self.cut and value.startswith(self.cut) else value

    add_completion_class(DigitclfBash, "bash")
