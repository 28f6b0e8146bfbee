"""``digitclf compare``: runs side by side, with McNemar's test for runs on the same test images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from digitclf.cli.app import JsonOpt, OutputsOpt, app, echo_json, resolve
from digitclf.cli.completion import complete_run


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, list):
        return json.dumps([round(v, 4) if isinstance(v, float) else v for v in value])
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_comparison(result: dict[str, Any]) -> str:
    """Runs as columns A, B, ...; one row per key, changed keys marked with '*'; then the paired tests
(McNemar for runs on the same test images, the corrected t-test for runs cross-validated on the same folds)."""
    letters = [chr(ord("A") + i) if i < 26 else f"R{i}" for i in range(len(result["runs"]))]
    lines = [f"{letter} = {run['name']}/{run['id']}" for letter, run in zip(letters, result["runs"])]
    changed = set(result["changed"])
    for section, table in result["sections"].items():
        if not table:
            continue
        cells = {key: [_value(v) for v in values] for key, values in table.items()}
        key_width = max(len(key) for key in cells) + 2
        widths = [max(len(letter), *(len(values[i]) for values in cells.values())) for i, letter in enumerate(letters)]
        header = f"{section:<{key_width + 2}}" + "  ".join(f"{l:<{w}}" for l, w in zip(letters, widths))
        lines += ["", header.rstrip()]
        for key, values in cells.items():
            mark = "*" if f"{section}:{key}" in changed else " "
            lines.append(f"{mark} {key:<{key_width}}" + "  ".join(f"{v:<{w}}" for v, w in zip(values, widths)).rstrip())
    lines += ["", f"* = differs ({len(changed)} key{'s' if len(changed) != 1 else ''})"]
    by_id = dict(zip((run["id"] for run in result["runs"]), letters))
    tested = [t for t in result["tests"] if "p_value" in t]
    method = tested[0]["method"] if tested else None
    if method:
        lines += ["", method + ":"]
    for test in result["tests"]:
        if "p_value" not in test:
            lines.append(f"  {by_id[test['a']]} vs {by_id[test['b']]}: not tested ({test['skipped']})")
            continue
        if test["method"] != method:  # McNemar for some pairs, the corrected t-test for others
            method = test["method"]
            lines += ["", method + ":"]
        lines.append(_test_line(test, by_id))
    return "\n".join(lines)


def _test_line(test: dict[str, Any], by_id: dict[str, str]) -> str:
    pair = f"{by_id[test['a']]} vs {by_id[test['b']]}"
    verdict = "a real difference at the 5% level" if test["p_value"] < 0.05 else \
        "no evidence of a difference at the 5% level"
    if "folds" in test:
        return (f"  {pair}: mean fold accuracy difference {test['accuracy_difference']:+.4f} over {test['folds']} "
                f"folds, t = {test['t']:.3g}, p = {test['p_value']:.4g} ({verdict}; {test['why']})")
    return (f"  {pair}: {test['a_only_correct']} images only {by_id[test['a']]} got right, "
            f"{test['b_only_correct']} only {by_id[test['b']]}; accuracy difference "
            f"{test['accuracy_difference']:+.4f}, p = {test['p_value']:.4g} ({verdict})")


@app.command()
def compare(
    refs: list[str] = typer.Argument(..., metavar="RUN RUN...", autocompletion=complete_run, help="Two or more runs (folders, ids or names)."),
    only_changed: bool = typer.Option(False, "--only-changed", help="Show only the keys that differ."),
    json_: bool = JsonOpt,
    outputs: Optional[Path] = OutputsOpt,
) -> None:
    """Compare runs side by side (config, data, metrics) with McNemar's test for runs on the same test images
    and the corrected resampled t-test (Nadeau and Bengio) for runs cross-validated on the same folds.

    Example: digitclf compare 20261127-2220 20261127-2231 --only-changed
    """
    from digitclf.saved.compare import compare as compare_runs

    result = compare_runs([resolve(ref, outputs) for ref in refs], only_changed=only_changed)
    if json_:
        echo_json(result)
    else:
        typer.echo(format_comparison(result))
