"""Commands on saved runs (they never retrain): evaluate, plot-errors, plot-samples, predict, runs, compare, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

import typer

from digitclf.cli.app import JsonOpt, app, echo_json, info

RunArg = typer.Argument(None, metavar="[RUN]",
                        help="A run folder, a run id (a unique prefix is enough); default: the latest complete run.")
RunsOutputsOpt = typer.Option(Path("outputs"), "--outputs", "-o", help="Outputs folder that holds the runs.")
StyleOpt = typer.Option("seaborn", "--style", help="Confusion matrix: annotated seaborn heatmap or plain matplotlib.")
NormalizeOpt = typer.Option(None, "--normalize",
                            help="Show the confusion matrix as fractions of each actual (true) or predicted "
                                 "(pred) class, or of all images.")
Style = Literal["seaborn", "matplotlib"]  # digitclf.plots.STYLES
Normalize = Optional[Literal["true", "pred", "all"]]  # digitclf.plots.NORMALIZE


def _resolve(ref: Optional[str], outputs: Path) -> Any:
    from digitclf.runs import resolve_run

    return resolve_run(ref, outputs)


# ---------------------------------------------------------------- evaluate


def format_evaluation(result: dict[str, Any]) -> str:
    """The evaluation as text: accuracy line, per-class report, confusion matrix table."""
    low, high = result["accuracy_ci95"]
    data = result["dataset"]
    rows = {"test": "test rows", "train": "training rows", "all": "all rows"}[result["split"]]
    where = ("the test split saved with the run" if data["same_as_training"] and result["split"] == "test"
             else f"{rows} of {data['source']}")
    lines = [f"run       {result['run_path']}  ({result['model']})",
             f"data      {data['name']}, {where}: {result['n_test']:,} images",
             f"accuracy  {result['accuracy']:.4f}  (95% CI {low:.4f}-{high:.4f}, {result['n_errors']} errors)"]
    if "matches_recorded" in result:
        same = "same as" if result["matches_recorded"] else "DIFFERENT from"
        lines[-1] += f"; {same} train time ({result['recorded_accuracy']:.4f})"
    names = result.get("class_names")
    label_width = max(5, *(len(_label(label, names)) for label in result["labels"]))
    lines += ["", f"{'class':<{label_width}}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'support':>7}"]
    for label in result["labels"]:
        row = result["per_class"][str(label)]
        lines.append(f"{_label(label, names):<{label_width}}  {row['precision']:>9.3f}  {row['recall']:>6.3f}  "
                     f"{row['f1']:>6.3f}  {row['support']:>7}")
    lines += [f"{'macro f1':<{label_width}}  {'':>9}  {'':>6}  {result['macro_f1']:>6.3f}", "",
              "confusion matrix (rows: actual, columns: predicted)"]
    cm = result["confusion_matrix"]
    width = max(3, *(len(str(v)) for row in cm for v in row), *(len(str(label)) for label in result["labels"]))
    lines.append(" " * label_width + "".join(f" {label:>{width}}" for label in result["labels"]))
    for label, row in zip(result["labels"], cm):
        lines.append(f"{_label(label, names):<{label_width}}" + "".join(f" {v:>{width}}" for v in row))
    return "\n".join(lines)


def _label(label: Any, names: Any) -> str:
    return f"{label} {names[int(label)]}" if names else str(label)


@app.command()
def evaluate(
    run: Optional[str] = RunArg,
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Score the model on another data set with the "
                                          "same image size: a name (mnist) or a path (IDX folder or .npz)."),
    split: Literal["test", "train", "all"] = typer.Option("test", "--split", help="Which rows to score: the test "
                                                          "split, the training rows, or all of them."),
    style: Style = StyleOpt,
    normalize: Normalize = NormalizeOpt,
    json_: bool = JsonOpt,
    outputs: Path = RunsOutputsOpt,
) -> None:
    """Reload a saved model, rebuild its test split and score it again (accuracy, per-class report, confusion matrix).

    Example: digitclf evaluate --dataset ./emnist-digits --json
    """
    from digitclf.evaluate import evaluate as evaluate_run

    result = evaluate_run(_resolve(run, outputs), dataset=dataset, split=split, style=style, normalize=normalize,
                          progress=info)
    for note in result["notes"]:
        info(f"note: {note}")
    if json_:
        echo_json(result)
        return
    typer.echo(format_evaluation(result))
    info(f"wrote {', '.join(result['files'])} in {result['run_path']}")


# ---------------------------------------------------------------- plots


@app.command("plot-errors")
def plot_errors(
    run: Optional[str] = RunArg,
    n: int = typer.Option(25, "--n", min=1, help="How many misclassified images to show."),
    cols: int = typer.Option(5, "--cols", min=1, help="Images per row."),
    sort: Literal["index", "confidence"] = typer.Option("index", "--sort", help="Test order, or the most "
                                                        "confident mistakes first."),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG file to write (default: misclassified-<run-id>.png)."),
    outputs: Path = RunsOutputsOpt,
) -> None:
    """Draw a grid of misclassified test images, each titled "Predicted: p, Actual: a" with its probability.

    Example: digitclf plot-errors --n 10 --sort confidence --out errors.png
    """
    from digitclf import plots
    from digitclf.evaluate import error_grid

    found = _resolve(run, outputs)
    path = plots.save(error_grid(found, n=n, cols=cols, sort=sort), out or Path(f"misclassified-{found.id}.png"))
    typer.echo(str(path))


@app.command("plot-samples")
def plot_samples(
    dataset: str = typer.Option(..., "--dataset", help="A data set name (digits, mnist, ...) or a path "
                                "(IDX folder or .npz)."),
    n: int = typer.Option(5, "--n", min=1, help="How many images (the first ones of the data set)."),
    cols: int = typer.Option(5, "--cols", min=1, help="Images per row."),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG file to write (default: samples-<dataset>.png)."),
) -> None:
    """Draw the first N images of a data set with their labels (the seed tutorial's first figure).

    Example: digitclf plot-samples --dataset digits --n 5 --out samples.png
    """
    from digitclf import plots
    from digitclf.evaluate import sample_grid

    default = Path(f"samples-{Path(dataset).name or 'data'}.png")
    typer.echo(str(plots.save(sample_grid(dataset, n=n, cols=cols), out or default)))


# ---------------------------------------------------------------- predict


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
    outputs: Path = RunsOutputsOpt,
) -> None:
    """Predict the digit in PNG/JPEG files with a saved model: label and top-3 probabilities per image.

    Example: digitclf predict my_digit.png photos/ --json
    """
    from digitclf.evaluate import predict_images

    run, images = split_run_and_images(args)
    result = predict_images(_resolve(run, outputs), images)
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


# ---------------------------------------------------------------- runs


@app.command()
def runs(
    name: Optional[str] = typer.Option(None, "--name", help="Only runs with this name (a glob like 'digits_*' works)."),
    status: Optional[str] = typer.Option(None, "--status", help="Only runs with this status: running, complete, "
                                         "failed, interrupted, abandoned (process gone) or damaged."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Only the points of this sweep (its id or a prefix)."),
    sort: str = typer.Option("date", "--sort", help="Column to sort by: id, name, dataset, model, accuracy, "
                             "fit_seconds, converged, status, date."),
    reverse: bool = typer.Option(False, "--reverse", "-r", help="Sort in descending order."),
    fmt: Literal["table", "csv", "json", "md"] = typer.Option("table", "--format", help="Output format."),
    prune: bool = typer.Option(False, "--prune", help="Delete the listed runs that can never finish "
                               "(abandoned, failed, interrupted), after confirmation."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --prune: do not ask for confirmation (for scripts)."),
    outputs: Path = RunsOutputsOpt,
) -> None:
    """List saved runs: id, name, data set, model, accuracy, fit time, convergence, status, date.

    Example: digitclf runs --name 'mnist_*' --sort accuracy --reverse --format md
    """
    from digitclf import listing

    rows = listing.list_runs(outputs, name=name, status=status, sweep=sweep, sort=sort, reverse=reverse)
    if prune:
        doomed = listing.prunable(rows)
        if not doomed:
            info(f"nothing to prune: no abandoned, failed or interrupted runs{' match' if rows else ''} in {outputs}/")
            return
        info(listing.render(doomed, "table"))
        if not yes and not typer.confirm(f"Delete these {len(doomed)} run folder(s)?", err=True):
            info("nothing deleted")
            return
        deleted = listing.prune(doomed, outputs)
        if fmt == "json":
            echo_json([str(path) for path in deleted])
        else:
            typer.echo("\n".join(f"deleted {path}" for path in deleted) or "nothing deleted")
        return
    if not rows:
        info(f"no runs match in {outputs}/")
    if rows or fmt == "json":
        typer.echo(listing.render(rows, fmt))


# ---------------------------------------------------------------- compare


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
    """Runs as columns A, B, ...; one row per key, changed keys marked with '*'; then the McNemar tests."""
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
    if tested:
        lines += ["", tested[0]["method"] + ":"]
    for test in result["tests"]:
        pair = f"{by_id[test['a']]} vs {by_id[test['b']]}"
        if "p_value" not in test:
            lines.append(f"  {pair}: not tested ({test['skipped']})")
            continue
        verdict = "a real difference at the 5% level" if test["p_value"] < 0.05 else \
            "no evidence of a difference at the 5% level"
        lines.append(f"  {pair}: {test['a_only_correct']} images only {by_id[test['a']]} got right, "
                     f"{test['b_only_correct']} only {by_id[test['b']]}; accuracy difference "
                     f"{test['accuracy_difference']:+.4f}, p = {test['p_value']:.4g} ({verdict})")
    return "\n".join(lines)


@app.command()
def compare(
    refs: list[str] = typer.Argument(..., metavar="RUN RUN...", help="Two or more runs (folders or ids)."),
    only_changed: bool = typer.Option(False, "--only-changed", help="Show only the keys that differ."),
    json_: bool = JsonOpt,
    outputs: Path = RunsOutputsOpt,
) -> None:
    """Compare runs side by side (config, data, metrics) with McNemar's test for runs on the same test images.

    Example: digitclf compare 20261127-2220 20261127-2231 --only-changed
    """
    from digitclf.evaluate import compare as compare_runs

    result = compare_runs([_resolve(ref, outputs) for ref in refs], only_changed=only_changed)
    if json_:
        echo_json(result)
    else:
        typer.echo(format_comparison(result))


# ---------------------------------------------------------------- report


@app.command()
def report(
    refs: Optional[list[str]] = typer.Argument(None, metavar="[RUN...]", help="Runs to include (default: every "
                                               "complete run in the outputs folder)."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write."),
    errors: int = typer.Option(10, "--errors", min=0, help="Misclassified images shown per run."),
    style: Style = StyleOpt,
    normalize: Normalize = NormalizeOpt,
    outputs: Path = RunsOutputsOpt,
) -> None:
    """Write one self-contained HTML page (images embedded, no JavaScript) about saved runs.

    Example: digitclf report --out report.html
    """
    from digitclf import report as report_mod
    from digitclf.errors import RunNotFoundError
    from digitclf.runs import iter_runs

    if refs:
        chosen = [_resolve(ref, outputs) for ref in refs]
    else:
        chosen = [run for run in iter_runs(outputs) if _complete(run)]
        if not chosen:
            raise RunNotFoundError(f"no complete run in {outputs}/; train one first: "
                                   "digitclf train --config configs/digits_lbfgs.yaml")
    typer.echo(str(report_mod.write(chosen, out, errors=errors, style=style, normalize=normalize)))


def _complete(run: Any) -> bool:
    from digitclf.errors import RunError

    try:
        return run.status() == "complete"
    except RunError:
        return False
