"""One self-contained static HTML page about saved runs: no JavaScript, every image embedded as a data URI.

The page holds the runs table, an accuracy-versus-fit-time scatter across the runs, and for each
run its confusion matrix, its most confident mistakes and its convergence curve (when it recorded
one), drawn from what the run saved.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any, Sequence

from digitclf.runs import RunDir, load_split, write_text

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: min(96vw, 1800px); color: #222; padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
/* figures side by side while the window is wide enough, each at most its natural size (titles stay readable) */
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0.5em 0; flex: 0 1 auto; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
section { border-top: 2px solid #eee; margin-top: 2em; }
.muted { color: #777; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _figure(png: bytes, caption: str) -> str:
    return f"<figure>{_img(png, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _runs_table(rows: Sequence[dict[str, Any]]) -> str:
    from digitclf.listing import COLUMNS, NUMERIC, cell

    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in COLUMNS)
    body = []
    for row in rows:
        cells = []
        for column in COLUMNS:
            text = html.escape(cell(column, row[column]))
            if column == "id":
                text = f'<a href="#run-{html.escape(row["id"])}">{text}</a>'
            numeric = ' class="num"' if column in NUMERIC else ""
            cells.append(f"<td{numeric}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _run_section(run: RunDir, *, errors: int, style: str, normalize: str | None, dpi: int) -> str:
    from digitclf import plots
    from digitclf.saved.grids import error_grid

    metrics = run.metrics()
    low, high = metrics.accuracy_ci95
    summary = (f"{html.escape(metrics.dataset)}: {metrics.n_train:,} train / {metrics.n_test:,} test; "
               f"{html.escape(metrics.model_label)}; accuracy {metrics.accuracy:.4f} "
               f"(95% CI {low:.4f}-{high:.4f}, {metrics.n_errors} errors); fit {metrics.fit_seconds:.2f} s")
    cm = plots.confusion_matrix(metrics.confusion_matrix, metrics.labels, accuracy=metrics.accuracy,
                                style=style, normalize=normalize)
    has_proba = load_split(run).proba is not None
    sort = "confidence" if has_proba else "index"
    caption = f"Misclassified test images (up to {errors}, {'most confident first' if has_proba else 'in test order'})"
    grid = _figure(plots.png_bytes(error_grid(run, n=errors, cols=5, sort=sort), dpi), caption) if errors else ""
    from digitclf.curves import has_curve, plot_run

    curve = _figure(plots.png_bytes(plot_run(run), dpi), "Validation accuracy and log-loss at each iteration "
                    "(curve.csv)") if has_curve(run) else ""
    return (f'<section id="run-{html.escape(run.id)}"><h2>{html.escape(run.name)} / {html.escape(run.id)}</h2>'
            f'<p>{summary}</p><p class="muted">{html.escape(str(run.path))}</p>'
            f"<div class=\"figures\">{_figure(plots.png_bytes(cm, dpi), 'Confusion matrix')}"
            f"{grid}{curve}</div></section>")


def _check_options(errors: int = 10, style: str = "seaborn", normalize: str | None = None, **_: Any) -> None:
    from digitclf.choices import NORMALIZE, STYLES
    from digitclf.errors import ConfigError

    if not isinstance(errors, int) or errors < 0:
        raise ConfigError(f"--errors: {errors!r}; give how many mistakes to show per run, 0 or more")
    for option, value, allowed in (("--style", style, STYLES), ("--normalize", normalize, (None, *NORMALIZE))):
        if value not in allowed:
            raise ConfigError(f"{option}: {value!r} is not one of {', '.join(a for a in allowed if a)}")


def build(runs: Sequence[RunDir], *, errors: int = 10, style: str = "seaborn", normalize: str | None = None,
          dpi: int = 72, title: str = "digitclf report") -> str:
    """The report as one HTML string (complete runs only: resolve them with ``resolve_run``)."""
    from digitclf import plots
    from digitclf.listing import run_row

    _check_options(errors=errors, style=style, normalize=normalize)
    seen: set[Path] = set()
    for run in runs:  # one section (and one #run-<id> anchor) per run
        if run.path.resolve() in seen:
            from digitclf.errors import ConfigError

            raise ConfigError(f"run {run.id} is given twice; name each run once")
        seen.add(run.path.resolve())

    rows = [run_row(run) for run in runs]
    points = [{"label": f"{r['name']} {r['id'][-6:]}", "fit_seconds": r["fit_seconds"], "accuracy": r["accuracy"],
               "accuracy_ci95": run.metrics().accuracy_ci95} for run, r in zip(runs, rows)]
    scatter = plots.accuracy_vs_time(points)
    sections = "".join(_run_section(run, errors=errors, style=style, normalize=normalize, dpi=dpi) for run in runs)
    generated = time.strftime("%Y-%m-%d %H:%M:%S %z")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="digitclf">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"muted\">{len(runs)} run{'s' if len(runs) != 1 else ''}, "
            f"generated {html.escape(generated)}</p>"
            f"<h2>Runs</h2>{_runs_table(rows)}"
            f"<h2>Accuracy versus fit time</h2>{_figure(plots.png_bytes(scatter, dpi), 'Test accuracy against fit seconds, one point per run')}"
            f"{sections}</body></html>\n")


def write(runs: Sequence[RunDir], out: str | Path, **options: Any) -> Path:
    """Build the report and write it atomically to ``out``."""
    from digitclf.paths import check_output

    _check_options(**options)

    out = check_output(out, "html")  # before drawing anything
    page = build(runs, **options)
    # a path that is not UTF-8 (an outputs folder named in Latin-1) holds lone surrogates: shown as U+FFFD
    write_text(out, page.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return out
