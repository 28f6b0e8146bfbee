"""``sweep --curves``: every point's validation accuracy against fit seconds, in one figure (curves.png).

Points fitted with per-iteration callbacks (lbfgs) bring their own curve.csv.  Iterative
estimators without callbacks (saga, sag, newton-cg, liblinear one-vs-rest) get points on the same
axes from a doubling ``max_iter`` ladder, as benchopt does: the point's config refitted with
``max_iter`` 1, 2, 4, ... up to its own, each rung a run of its own under the sweep folder's
``ladder/`` (its validation slice carved exactly as the point's).  What the ladder cost is returned
so the CLI can print it.  Estimators without ``max_iter`` show their single final point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from digitclf.records import CurvePoint
from digitclf.sweep.plan import point_label

if TYPE_CHECKING:
    from digitclf.config import RunConfig
    from digitclf.sweep.execute import SweepResult

CURVE_OVERRIDE = "output.curve=true"  # what --curves sets on every point (in its identity: a slice is held out)


@dataclass
class SweepCurves:
    """The figure's curves and what the ladder cost."""

    path: Path
    curves: list[dict[str, Any]] = field(default_factory=list)
    ladder_fits: int = 0
    ladder_seconds: float = 0.0


def ladder(max_iter: int) -> list[int]:
    """1, 2, 4, ... below ``max_iter``, then ``max_iter`` itself."""
    rungs, k = [], 1
    while k < max_iter:
        rungs.append(k)
        k *= 2
    return [*rungs, max_iter]


def _max_iter(config: "RunConfig") -> int | None:
    from digitclf import models

    params = {**models.default_params(models.estimator_class(config.model.estimator)), **config.model.params}
    value = params.get("max_iter")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _run_ladder(config: "RunConfig", outputs: Path, run_id: str, label: str,
                note: Callable[[str], None]) -> tuple[list[CurvePoint], int]:
    """The rungs' final points and how many fits ran now (the ladder ends early once a rung converges:
    a higher max_iter would fit the same model).  A rung complete from an earlier ``--curves`` is reused."""
    from digitclf.config import apply_overrides, from_dict
    from digitclf.records import read_curve
    from digitclf.runner import train
    from digitclf.runs import RunDir

    points, fits = [], 0
    for k in ladder(_max_iter(config) or 1):
        data = apply_overrides(config.to_dict(), [f"model.params.max_iter={k}", CURVE_OVERRIDE,
                                                  "output.plots=false"])
        rung = RunDir(outputs / config.name / f"{run_id}-max_iter{k}")
        if not (rung.path.is_dir() and rung.status() == "complete"):
            rung = train(from_dict(data), outputs=outputs, run_id=rung.id).run
            fits += 1
        curve = rung.file("curve.csv")
        if curve.exists():
            final = read_curve(curve)[-1]
            points.append(CurvePoint(iteration=k, wall_seconds=final.wall_seconds, val_accuracy=final.val_accuracy,
                                     val_log_loss=final.val_log_loss))
            note(f"ladder: point {label} max_iter={k}: validation accuracy {final.val_accuracy:.4f}, "
                 f"fit {final.wall_seconds:.2f}s")
        ran = rung.metrics().n_iter
        if ran is not None and ran < k:
            break
    return points, fits


def write_curves(result: "SweepResult", note: Callable[[str], None] = lambda message: None) -> SweepCurves:
    """curves.png in the sweep folder: each complete point's curve, laddered where it has none."""
    from digitclf.plots import save, sweep_curves
    from digitclf.records import read_curve
    from digitclf.runs import RunDir

    folder = result.plan.folder
    out = SweepCurves(folder / "curves.png")
    points = {p.index: p for p in result.plan.points}
    for row in result.rows:
        if row.status != "complete":
            continue
        run = RunDir(Path(row.run))
        curve_file = run.file("curve.csv")
        curve = read_curve(curve_file) if curve_file.exists() else []
        laddered = False
        config = points[row.index].config
        label = f"{row.index}: {point_label(row.values, result.plan.keys)}"
        if len(curve) < 2 and (_max_iter(config) or 0) > 1:
            started = time.perf_counter()
            curve, fits = _run_ladder(config, folder / "ladder", row.run_id, label, note)
            out.ladder_seconds += time.perf_counter() - started
            out.ladder_fits += fits
            laddered = True
        curve = [p for p in curve if p.wall_seconds is not None]
        if curve:
            out.curves.append({"label": label,
                               "seconds": [p.wall_seconds for p in curve],
                               "accuracy": [p.val_accuracy for p in curve], "ladder": laddered})
    save(sweep_curves(out.curves, title=f"sweep {result.plan.id}"), out.path)
    return out
