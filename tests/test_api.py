"""The Python API: README's example runs as written; values agree with the saved files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import digitclf

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def readme_python_example() -> str:
    section = README[README.index("## Using it from Python"):]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


@pytest.mark.slow
def test_readme_python_example_runs(capsys):
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {}
    exec(compile(readme_python_example(), "README.md", "exec"), namespace)
    run, same, table = namespace["run"], namespace["same"], namespace["table"]
    saved = json.loads((run.path / "metrics.json").read_text())
    assert run.metrics.to_json() == saved and same.metrics.to_json() == saved
    assert list(table["id"]) == [run.id] and table["accuracy"].iloc[0] == pytest.approx(saved["accuracy"])
    np.testing.assert_array_equal(namespace["labels"], same.predictions.y_pred[same.predictions.error_index])
    assert run.config.model.params["C"] == 0.5
    left, right = namespace["left"], namespace["right"]
    cells = [t.get_text() for t in left.texts]
    assert len(cells) == 100  # 10 x 10 annotated confusion-matrix cells, drawn into the given Axes
    assert [int(c) for c in cells] == np.ravel(saved["confusion_matrix"]).tolist()
    assert len(right.images) == len(right.texts) == 10  # the 10 most confident mistakes, each titled


@pytest.mark.slow  # a fresh interpreter
def test_import_is_light_and_attributes_resolve():
    import subprocess
    import sys

    code = ("import sys, digitclf\nprint(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sklearn','matplotlib','seaborn','pandas','scipy','pydantic','yaml'}))\n"
            "digitclf.load_run\nprint(hasattr(digitclf, 'Run'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        digitclf.nope  # noqa: B018


def test_load_run_errors_are_the_projects_own():
    from digitclf.errors import RunNotFoundError

    with pytest.raises(RunNotFoundError, match="no complete run in outputs/"):
        digitclf.load_run()
    with pytest.raises(RunNotFoundError, match="no complete run in outputs/"):
        digitclf.load_run(outputs=None)  # was TypeError: Path(None)


def test_load_run_takes_outputs_none_and_a_run_id_given_as_a_number(cli):
    assert cli("train", "--run-id", "20261202", "--quiet").exit_code == 0
    by_number = digitclf.load_run(20261202, outputs=None)  # was AttributeError: int has no startswith
    assert by_number.path == digitclf.load_run("20261202").path == Path("outputs/digits_lbfgs/20261202")
    assert by_number.metrics.run_id == "20261202"


# Zalando's names for Fashion-MNIST's labels 0-9 (github.com/zalandoresearch/fashion-mnist, "Labels")
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]


def tick_labels(ax) -> tuple[list[str], list[str]]:
    return [t.get_text() for t in ax.get_xticklabels()], [t.get_text() for t in ax.get_yticklabels()]


def confusion_axes_drawn(monkeypatch, config: str, *overrides: str, cli=None) -> dict[str, list]:
    """Train ``config`` in this process, then draw its confusion matrix through the API and evaluate: the
    Axes every path drew, captured from plots.confusion_matrix (the one function they all call)."""
    import matplotlib

    matplotlib.use("Agg")
    from digitclf import plots

    drawn: list = []
    real = plots.confusion_matrix

    def spy(*args, **kwargs):
        drawn.append(real(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(plots, "confusion_matrix", spy)
    run = digitclf.train(digitclf.load_config(config, list(overrides)))  # no renderer: drawn here
    out = {"saved": drawn[:]}
    out["api"] = [run.plot_confusion_matrix(), digitclf.load_run(run.id).plot_confusion_matrix(style="matplotlib")]
    drawn.clear()
    result = cli("evaluate", run.id, "--json")
    assert result.exit_code == 0, result.output
    out["evaluate"] = drawn[:]
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_confusion_matrices_name_the_classes(monkeypatch, cli):
    """A tiny Fashion-MNIST run (500 training images, the canonical 10,000 test images): the matrix saved with
    the run, the API's (seaborn and matplotlib) and the one evaluate refreshes all label rows and columns by name."""
    drawn = confusion_axes_drawn(monkeypatch, "fashion_mnist_lbfgs", "split.train_size=500",
                                 "model.estimator=knn", "model.params={}", "model.blas_threads=auto", cli=cli)
    assert [len(axes) for axes in drawn.values()] == [1, 2, 1]
    for path, axes in drawn.items():
        for ax in axes:
            assert tick_labels(ax) == (FASHION_NAMES, FASHION_NAMES), path


def test_digits_confusion_matrices_are_labelled_0_to_9(monkeypatch, cli):
    drawn = confusion_axes_drawn(monkeypatch, "digits_lbfgs", "model.params.max_iter=20", cli=cli)
    digits = [str(d) for d in range(10)]
    assert [len(axes) for axes in drawn.values()] == [1, 2, 1]
    for path, axes in drawn.items():
        for ax in axes:
            assert tick_labels(ax) == (digits, digits), path
