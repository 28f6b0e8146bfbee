"""A sweep's summary in its folder: summary.json (``records.SweepSummary``), summary.csv and tradeoff.png."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitclf.runs import write_json, write_text
from digitclf.sweep.plan import point_label

if TYPE_CHECKING:
    from digitclf.sweep.execute import SweepResult

CSV_RESULTS = ("status", "action", "scored_on", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high", "fit_seconds",
               "n_iter", "converged", "selected", "pruned", "run_id", "run", "error")


def write_summary(result: "SweepResult") -> dict[str, Path]:
    """summary.json, summary.csv (one row per point) and tradeoff.png in the sweep folder."""
    folder = result.plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "summary.json", result.summary().to_json())
    write_text(folder / "summary.csv", summary_csv(result))
    from digitclf.plots import save, tradeoff

    points = [{**row.model_dump(include={"index", "accuracy", "accuracy_ci95", "fit_seconds"}),
               "label": f"{row.index}: {point_label(row.values, result.plan.keys)}"}
              for row in result.rows if row.status == "complete" and row.fit_seconds is not None and not row.selected
              and not row.pruned]  # a pruned trial's accuracy is its model's when it was stopped
    scored = "" if not result.plan.selects else " (accuracy on the validation split)"
    save(tradeoff(points, title=f"sweep {result.plan.id}{scored}"), folder / "tradeoff.png")
    return {"json": folder / "summary.json", "csv": folder / "summary.csv", "png": folder / "tradeoff.png"}


def summary_csv(result: "SweepResult") -> str:
    """One line per point: its index, the swept values (one column per key), status and results."""
    keys = result.plan.keys
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", *keys, *CSV_RESULTS])
    for row in result.rows:
        low, high = row.accuracy_ci95 or (None, None)
        cells = [row.index, *[_csv_value(row.values[k]) if k in row.values else None for k in keys], row.status,
                 row.action, row.scored_on, row.accuracy, low, high, row.fit_seconds, row.n_iter, row.converged,
                 row.selected, row.pruned, row.run_id, row.run, row.error]
        writer.writerow(["" if c is None else c for c in cells])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value
