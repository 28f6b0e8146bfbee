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
