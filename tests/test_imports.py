"""``imports.import_sklearn``: scikit-learn imported without pandas, and only where that is safe."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys


def test_sklearn_utils_fixes_uses_its_module_level_pandas_nowhere():
    """The premise: ``sklearn.utils.fixes`` binds ``pd`` at module level and reads it nowhere outside a
    function that takes ``pd`` as a parameter.  The day a scikit-learn release reads it, this fails."""
    import sklearn.utils.fixes

    tree = ast.parse(inspect.getsource(sklearn.utils.fixes))
    shadowed: set[int] = set()
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.Lambda)) and "pd" in [a.arg for a in func.args.args]:
            shadowed |= {id(node) for node in ast.walk(func)}
    reads = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "pd"
             and isinstance(node.ctx, ast.Load) and id(node) not in shadowed]
    assert reads == []
    binds = [node for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "pd"
             and isinstance(node.ctx, ast.Store)] + [alias for node in ast.walk(tree) if isinstance(node, ast.Import)
                                                     for alias in node.names if alias.asname == "pd"]
    assert binds  # it still imports pandas (else this whole module could go)


def child(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_train_run_loads_no_pandas_and_pandas_still_imports_after(tmp_path):
    seen = child(f"""
import json, sys
from digitclf.cli import app
code = app(["train", "--quiet", "--set", "output.dir={tmp_path}"], prog_name="digitclf", standalone_mode=False)
after_run = "pandas" in sys.modules
import pandas
print(json.dumps({{"code": code, "after_run": after_run, "fixes_pd": sys.modules["sklearn.utils.fixes"].pd,
                  "pandas": pandas.DataFrame({{"a": [1]}}).shape[0]}}))
""")
    assert seen == {"code": 0, "after_run": False, "fixes_pd": None, "pandas": 1}
    assert (next((tmp_path / "digits_lbfgs").iterdir()) / "metrics.json").is_file()


def test_nothing_changes_when_pandas_or_sklearn_came_first():
    seen = child("""
import json, sys
import pandas
from digitclf.imports import import_sklearn
import_sklearn()
import sklearn.utils.fixes
print(json.dumps({"fixes_pd_is_pandas": sklearn.utils.fixes.pd is pandas}))
""")
    assert seen == {"fixes_pd_is_pandas": True}
    seen = child("""
import json, sys
import sklearn.utils.fixes
from digitclf.imports import import_sklearn
import_sklearn()
print(json.dumps({"pandas": "pandas" in sys.modules and sys.modules["pandas"] is not None}))
""")
    assert seen == {"pandas": True}


def test_a_failed_import_leaves_pandas_importable(monkeypatch):
    """An import error inside (a broken scikit-learn) must not leave pandas hidden for the rest of the process."""
    seen = child("""
import json, sys
sys.modules["sklearn"] = None  # `import sklearn` raises ImportError
from digitclf.imports import import_sklearn
try:
    import_sklearn()
    raised = False
except ImportError:
    raised = True
import pandas
print(json.dumps({"raised": raised, "pandas": pandas.__name__}))
""")
    assert seen == {"raised": True, "pandas": "pandas"}


def test_predict_loads_no_pandas_either(tmp_path):
    import numpy as np
    from PIL import Image

    pixels = np.zeros((8, 8), np.uint8)
    pixels[1:7, 3:5] = 255
    Image.fromarray(pixels).save(tmp_path / "one.png")
    train = subprocess.run([sys.executable, "-m", "digitclf", "train", "--quiet", "--set",
                            f"output.dir={tmp_path}/outputs"], capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr
    seen = child(f"""
import json, sys
from digitclf.cli import app
code = app(["predict", "--outputs", "{tmp_path}/outputs", "--json", "{tmp_path}/one.png"], prog_name="digitclf",
           standalone_mode=False)
print(json.dumps({{"code": code, "pandas": "pandas" in sys.modules, "sklearn": "sklearn" in sys.modules}}))
""")
    assert seen == {"code": 0, "pandas": False, "sklearn": True}
