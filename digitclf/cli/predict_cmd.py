"""``digitclf predict``: the digit in PNG/JPEG files, under a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitclf.cli.app import JsonOpt, OutputsOpt, TrustOpt, app, echo_json, info, resolve


def split_run_and_images(args: list[str]) -> tuple[Optional[str], list[str]]:
    """``[RUN] IMAGE...``: the first argument is a run when it is a run folder, or names no existing file."""
    from digitclf.errors import InputError
    from digitclf.images import SUFFIXES

    first = Path(args[0])
    is_run = (first / "run.json").is_file() or not (first.exists() or first.suffix.lower() in SUFFIXES)
    if is_run and len(args) == 1:
        raise InputError(f"no images given, or {args[0]!r} does not exist; usage: digitclf predict [RUN] IMAGE...")
    return (args[0], args[1:]) if is_run else (None, args)


@app.command()
def predict(
    args: list[str] = typer.Argument(..., metavar="[RUN] IMAGE...",
                                     help="Optional run (folder or id; default: latest), then PNG/JPEG files or folders."),
    json_: bool = JsonOpt,
    outputs: Optional[Path] = OutputsOpt,
    trust: bool = TrustOpt,
) -> None:
    """Predict the digit in PNG/JPEG files with a saved model: label and top-3 probabilities per image.

    Example: digitclf predict my_digit.png photos/ --json
    """
    from digitclf.saved.predict import predict_images

    run, images = split_run_and_images(args)
    result = predict_images(resolve(run, outputs), images, trust=trust)
    for note in result["notes"]:
        info(f"note: {note}")
    if json_:
        echo_json(result)
        return
    width = max(4, *(len(row["file"]) for row in result["predictions"]))
    typer.echo(f"{'file':<{width}}  {'label':<5}  top 3 ({result['ranked_by']})")
    for row in result["predictions"]:
        ranked = "  ".join(f"{t['label']}{' ' + t['class_name'] if 'class_name' in t else ''} "
                           f"({t[result['ranked_by']]:.3f})" for t in row["top"])
        typer.echo(f"{row['file']:<{width}}  {row['label']!s:<5}  {ranked}")
