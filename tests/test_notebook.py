"""README's Python API snippet in a real Jupyter kernel (nbclient + ipykernel), as a notebook user runs it:
figures appear as image outputs, with and without ``ax=``, and the runs table has real datetimes."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]


def readme_snippet() -> str:
    section = ROOT.joinpath("README.md").read_text().split("## Using it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def images(cell) -> list[tuple[int, int]]:
    """(width, height) of every PNG the cell displayed."""
    from PIL import Image

    found = []
    for output in cell.outputs:
        data = output.get("data", {})
        if "image/png" in data:
            found.append(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).size)
    return found


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


@pytest.mark.slow  # starts a kernel and trains
def test_readme_api_snippet_runs_in_a_kernel_and_shows_its_figures(tmp_path):
    cells = [
        readme_snippet(),
        "first = run.id",
        readme_snippet(),  # the same cell run again in the same kernel: a second run, its own figure
        "print(len(table), run.id != first, same.id == run.id)",
        "run.plot_confusion_matrix()",  # no ax: a figure of its own, shown inline like any matplotlib plot
        "run.plot_errors(n=10);",
        "print(table['date'].dtype)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    snippet, _, again, counted, matrix, grid, dates = notebook.cells
    for cell in notebook.cells:
        assert errors(cell) == []
    (size,) = images(snippet)  # the README's 16x8 figure, both panels in it
    assert size[0] > 1.8 * size[1]
    assert images(again) == [size]
    assert "".join(o.get("text", "") for o in counted.outputs).split() == ["2", "True", "True"]
    (matrix_size,) = images(matrix)
    assert min(matrix_size) > 300
    (grid_size,) = images(grid)
    assert grid_size[0] > 300
    assert "datetime64" in "".join(o.get("text", "") for o in dates.outputs)


@pytest.mark.slow  # registers a kernel and starts it
def test_readmes_kernel_registration_gives_a_kernel_of_this_environment_that_runs_the_snippet(tmp_path, monkeypatch):
    import json
    import os
    import subprocess
    import sys

    section = ROOT.joinpath("README.md").read_text().split("## Using it from Python", 1)[1].split("\n## ", 1)[0]
    (line,) = [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S) if "ipykernel install" in b]
    register = line.split("&&", 1)[1].strip()  # ipykernel is installed here: the part after `pip install`
    home = tmp_path / "home"  # --user writes under $HOME: a home of the test's own
    monkeypatch.setenv("HOME", str(home))
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_PATH"):
        monkeypatch.delenv(name, raising=False)
    bindir = Path(sys.executable).parent
    done = subprocess.run(["bash", "-c", register], env={**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (spec,) = home.glob(".local/share/jupyter/kernels/digitclf/kernel.json")
    assert Path(json.loads(spec.read_text())["argv"][0]).parent == bindir  # this environment's Python
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(readme_snippet())])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="digitclf",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    (cell,) = notebook.cells
    assert errors(cell) == [] and len(images(cell)) == 1
