"""``digitclf evaluate``: score a saved model again, on its own test split or another data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from digitclf.choices import Normalize, Split, Style
from digitclf.cli.app import (JsonOpt, NormalizeOpt, OutputsOpt, RunArg, StyleOpt, TrustOpt, app, echo_json, info,
                              resolve)
from digitclf.cli.completion import complete_dataset


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
    if "matches_recorded" in result and result["recorded_accuracy"] is not None:
        same = "same as" if result["matches_recorded"] else "DIFFERENT from"
        lines[-1] += f"; {same} train time ({result['recorded_accuracy']:.4f})"
    names = result["class_names"]
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
    dataset: Optional[str] = typer.Option(None, "--dataset", autocompletion=complete_dataset, help="Score the model on another data set with the "
                                          "same image size: a name (mnist) or a path (IDX folder or .npz)."),
    split: Split = typer.Option("test", "--split", help="Which rows to score: the test split, the training rows, "
                                "or all of them."),
    style: Style = StyleOpt,
    normalize: Optional[Normalize] = NormalizeOpt,
    json_: bool = JsonOpt,
    outputs: Optional[Path] = OutputsOpt,
    trust: bool = TrustOpt,
) -> None:
    """Reload a saved model, rebuild its test split and score it again (accuracy, per-class report, confusion matrix).

    Example: digitclf evaluate --dataset ./emnist-digits --json
    """
    from digitclf.saved.evaluate import evaluate as evaluate_run

    result = evaluate_run(resolve(run, outputs), dataset=dataset, split=split, style=style, normalize=normalize,
                          trust=trust, progress=info)
    for note in result["notes"]:
        info(f"note: {note}")
    if json_:
        echo_json(result)
        return
    typer.echo(format_evaluation(result))
    info(f"wrote {', '.join(result['files'])} in {result['run_path']}")
