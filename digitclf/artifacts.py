"""Writing a finished run's artifacts into its folder: model, split.npz, plots, predictions, metrics.

Each file is written atomically through ``RunDir.add_artifact`` (its sha256 is recorded when the
run finishes); metrics.json goes last, so a folder with it holds everything else too.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from digitclf.runs import RunDir

if TYPE_CHECKING:
    from digitclf.plots import Renderer
    from digitclf.runner import RunResult


def save_model(model: Any, run: RunDir, fmt: str) -> None:
    if fmt == "skops":
        import skops.io as sio  # presence checked by checks.preflight

        run.add_artifact("model.skops", lambda fh: fh.write(sio.dumps(model)))
    else:
        import joblib

        run.add_artifact("model.joblib", lambda fh: joblib.dump(model, fh))


def save(result: "RunResult", test_images: np.ndarray, test_rows: Any, class_names: Any,
         renderer: "Renderer | None" = None) -> None:
    """model, split.npz (what evaluate and plot-errors need), plots, predictions.csv, then the metrics.

    The plots are drawn by ``renderer`` (default: in this process) while the model, split, predictions
    and flat metrics are written.
    """
    from digitclf import plots

    run, cfg, m = result.run, result.config, result.metrics
    wrong = np.flatnonzero(result.y_test != result.y_pred)
    pngs = None
    if cfg.output.plots:
        shown = wrong[: cfg.output.misclassified]
        confidence = result.proba[shown].max(axis=1) if result.proba is not None else None
        labels = [class_names[int(label)] for label in m.labels] if class_names else list(m.labels)
        pngs = (renderer or plots.Renderer(process=False)).draw([
            (plots.confusion_matrix_png, (m.confusion_matrix, labels), {"accuracy": m.accuracy}),
            (plots.misclassified_png, (np.asarray(test_images[shown]), result.y_test[shown], result.y_pred[shown],
                                       result.image_shape), {"confidence": confidence, "class_names": class_names})])
    save_model(result.model, run, cfg.output.model_format)
    test_index = np.arange(test_rows.start, test_rows.stop) if isinstance(test_rows, slice) else np.asarray(test_rows)

    def write_split(fh: Any) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, test_index=test_index, y_test=result.y_test, y_pred=result.y_pred,
            proba=result.proba if result.proba is not None else np.zeros((0, 0), np.float32),
            error_index=wrong, error_images=np.asarray(test_images[wrong]),
            image_shape=np.asarray(result.image_shape), labels=np.asarray(m.labels))
        fh.write(buffer.getvalue())

    run.add_artifact("split.npz", write_split)
    run.add_artifact("predictions.csv", lambda fh: fh.write(predictions_csv(result.y_test, result.y_pred)))
    run.add_artifact("metrics_flat.json", lambda fh: fh.write(json_bytes(m.flat())))
    run.add_artifact("timings_flat.json", lambda fh: fh.write(json_bytes(m.flat_timings())))
    if pngs is not None:  # as late as can be: the drawing overlaps every write before
        confusion_png, misclassified_png = pngs()
        run.add_artifact("confusion_matrix.png", lambda fh: fh.write(confusion_png))
        run.add_artifact("misclassified.png", lambda fh: fh.write(misclassified_png))
    run.add_artifact("metrics.json", lambda fh: fh.write(json_bytes(m.to_json())))


def predictions_csv(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    """One row per test image: actual,predicted (DVC's confusion template reads these two columns)."""
    rows = "".join(f"{a},{p}\n" for a, p in zip(y_true.tolist(), y_pred.tolist()))
    return ("actual,predicted\n" + rows).encode()


def json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()
