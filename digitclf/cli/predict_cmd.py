"""``digitclf predict``: the digit in PNG/JPEG files, under a saved model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from digitclf.cli.app import JsonOpt, OutputsOpt, TrustOpt, app, echo_json, info, resolve
from digitclf.cli.completion import complete_run


def split_run_and_images(args: list[str]) -> tuple[Optional[str], list[str]]:
    """``[RUN] IMAGE...``: the first argument is a run when it is a run folder, or names no existing file."""
    from digitclf.errors import InputError
    from digitclf.images import SUFFIXES

    first = Path(args[0])
    is_run = (first / "run.json").is_file() or not (first.exists() or first.suffix.lower() in SUFFIXES)
    if is_run and len(args) == 1:
        raise InputError(f"no images given, or {args[0]!r} does not exist; usage: digitclf predict [RUN] IMAGE...")
    return (args[0], args[1:]) if is_run else (None, args)


def _no_run_among(images: list[str], outputs: Optional[Path]) -> None:
    """A run named after the images (``predict digit.png RUN``) is said to go first, not 'image does not exist'."""
    from digitclf.cli.app import DEFAULT_OUTPUTS
    from digitclf.errors import DigitclfError, InputError
    from digitclf.images import SUFFIXES
    from digitclf.runs import resolve_run

    for given in images:
        if os.path.lexists(given) or Path(given).suffix.lower() in SUFFIXES or not given.strip():
            continue
        try:
            resolve_run(given, outputs or DEFAULT_OUTPUTS, complete=False)
        except DigitclfError:
            continue
        raise InputError(f"{given!r} is a run, not an image; the run goes first: digitclf predict {given} IMAGE...")


@app.command()
def predict(
    args: list[str] = typer.Argument(..., metavar="[RUN] IMAGE...", autocompletion=complete_run,
                                     help="Optional run (folder or id; default: latest), then PNG/JPEG files or folders."),
    multi: bool = typer.Option(False, "--multi", help="Read every digit in an image, left to right, as a number "
                                                     "(without it, an image with several digits is refused)."),
    explain: Optional[Path] = typer.Option(None, "--explain", metavar="FOLDER",
                                           help="Write FOLDER/<image>.explain.png per image: the picture with the "
                                                "digits found, each digit as the model saw it, its top 3 (a file "
                                                "there that digitclf did not draw is never replaced)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", min=0.0, max=1.0, metavar="P",
                                                   help="Answer 'unsure' when the top probability is under P "
                                                        "(0-1)."),
    deskew: bool = typer.Option(False, "--deskew", help="Straighten slanted digits by image moments first "
                                                        "(off by default: it lowers accuracy for models trained "
                                                        "on plain MNIST)."),
    json_: bool = JsonOpt,
    outputs: Optional[Path] = OutputsOpt,
    trust: bool = TrustOpt,
) -> None:
    """Predict the digit(s) in PNG/JPEG photos or scans with a saved model: label, top 3, flags per image.

    Example: digitclf predict my_digit.png photos/ --json; digitclf predict number.jpg --multi --explain seen/
    """
    from digitclf.imports import import_sklearn
    from digitclf.saved.predict import predict_images

    import_sklearn()  # the model's unpickling imports scikit-learn: without pandas, as train does
    run, images = split_run_and_images(args)
    _no_run_among(images, outputs)
    result = predict_images(resolve(run, outputs), images, trust=trust, multi=multi,
                            min_confidence=min_confidence, deskew=deskew, explain=explain)
    for note in result["notes"]:
        info(f"note: {note}")
    for warning in result["warnings"]:
        info(f"warning: {warning}")
    if json_:
        echo_json(result)
        return
    kind = result["ranked_by"]
    width = max(4, *(len(row["file"]) for row in result["predictions"]))
    labels = max(5, *(len(str(row["label"])) for row in result["predictions"]))
    typer.echo(f"{'file':<{width}}  {'label':<{labels}}  " + (f"per digit: top 1 ({kind})" if multi else
                                                             f"top 3 ({kind})"))
    for row in result["predictions"]:
        if "error" in row:
            typer.echo(f"{row['file']:<{width}}  {'-':<{labels}}  Error: {row['error']}")
            continue
        if multi:
            ranked = "  ".join(f"{d['top'][0]['label']} ({d['top'][0][kind]:.3f})" for d in row["digits"])
        else:
            ranked = "  ".join(f"{t['label']}{' ' + t['class_name'] if 'class_name' in t else ''} "
                               f"({t[kind]:.3f})" for t in row["top"])
        flags = f"  [{', '.join(row['flags'])}]" if row["flags"] else ""
        typer.echo(f"{row['file']:<{width}}  {row['label']!s:<{labels}}  {ranked}{flags}")
