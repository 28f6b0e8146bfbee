"""The shape of the package, checked from its source: no import cycles, every module imports on its own,
records are read as attributes (no ``.get()`` on record dicts), and a config is checked exactly once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import digitclf
from digitclf import checks, runner
from digitclf.config import load_config

PACKAGE_DIR = Path(digitclf.__file__).resolve().parent
# an entry point, not a module: importing it runs the CLI
ENTRY_POINTS = {"digitclf.__main__"}


def module_files(package_dir: Path) -> dict[str, Path]:
    """Every module of the package under ``package_dir``, by dotted name (a package is its __init__)."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import and ImportFrom nodes anywhere (module level and inside functions), except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (``from pkg import sub`` is an edge to ``pkg.sub``)."""
    modules = module_files(package_dir)
    package = package_dir.name
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[:len(here) - (node.level - 1)]
                    base = ".".join([*here, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                if target == package or target.startswith(package + "."):
                    while target not in modules and "." in target:  # import pkg.mod.attr: the module pkg.mod
                        target = target.rsplit(".", 1)[0]
                    if target != name:
                        graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


# ---------------------------------------------------------------- import cycles


def test_the_cycle_checker_finds_a_cycle_and_skips_type_checking_imports(tmp_path):
    pkg = tmp_path / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from fakepkg import b\n")
    (pkg / "b.py").write_text("def later():\n    import fakepkg.a\n")  # inside a function counts
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fakepkg import a\n"
                                      "from .. import sub\nfrom . import d\n")
    (pkg / "sub" / "d.py").write_text("from fakepkg.b import later\n")
    graph = import_graph(pkg)
    assert graph["fakepkg.a"] == {"fakepkg.b"} and graph["fakepkg.b"] == {"fakepkg.a"}
    assert graph["fakepkg.sub.c"] == {"fakepkg.sub", "fakepkg.sub.d"}  # the TYPE_CHECKING import is left out
    assert graph["fakepkg.sub.d"] == {"fakepkg.b"}
    assert find_cycle(graph) == ["fakepkg.a", "fakepkg.b", "fakepkg.a"]
    (pkg / "b.py").write_text("def later():\n    pass\n")
    assert find_cycle(import_graph(pkg)) is None


def test_no_import_cycle_among_digitclf_modules():
    graph = import_graph(PACKAGE_DIR)
    assert {"digitclf.runner", "digitclf.cli.app", "digitclf.saved.evaluate"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.slow  # one fresh interpreter per module
@pytest.mark.parametrize("module", sorted(set(module_files(PACKAGE_DIR)) - ENTRY_POINTS))
def test_each_module_imports_alone(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- records are read as attributes

RECORD_NAMES = {"record", "records", "metrics", "m", "manifest", "summary", "row", "rows", "saved", "split", "entry",
                "data", "trained_on", "spec", "result", "info"}


def _root_name(node: ast.expr) -> str | None:
    """The leftmost Name of an attribute chain, subscript or call: ``record.config["x"]`` -> record."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_get_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"


def dict_gets(path: Path, rel: str) -> list[str]:
    """``rel:line: what`` for each .get() on a record-like name, and each chained .get(...).get(."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not _is_get_call(node):
            continue
        receiver = node.func.value
        if _is_get_call(receiver):
            found.append(f"{rel}:{node.lineno}: chained .get(...).get(: {ast.unparse(node)[:80]}")
        elif _root_name(receiver) in RECORD_NAMES:
            found.append(f"{rel}:{node.lineno}: .get() on {_root_name(receiver)}: {ast.unparse(node)[:80]}")
    return sorted(found, key=lambda line: int(line.split(":")[1]))


def test_the_get_checker_flags_record_dicts_and_chains(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("a = record.get('x')\nb = self.cache.get('y')\nc = d.get('p').get('q')\n"
                      "e = summary['points'][0].get('z')\nf = os.environ.get('HOME')\n")
    assert [line.split(": ")[0] for line in dict_gets(source, "x.py")] == ["x.py:1", "x.py:3", "x.py:4"]


def test_no_dict_get_on_records_outside_the_record_models():
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR.parent).as_posix()
        if rel != "digitclf/records.py":
            found += dict_gets(path, rel)
    assert found == [], "\n".join(found)


# ---------------------------------------------------------------- the estimator is checked once


@pytest.fixture
def estimator_checks(monkeypatch) -> list:
    """Every call of checks.check_estimator (it still runs)."""
    calls: list = []
    real = checks.check_estimator

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "check_estimator", counted)
    return calls


def test_train_on_a_plain_config_checks_the_estimator_once(estimator_checks):
    runner.train(load_config("digits_lbfgs", ["output.plots=false", "model.params.max_iter=5"]))
    assert len(estimator_checks) == 1


def test_train_command_checks_the_estimator_once(estimator_checks, cli):
    result = cli("train", "-q", "-c", "digits_lbfgs", "--set", "output.plots=false", "--set", "model.params.max_iter=5")
    assert result.exit_code == 0, result.output
    assert len(estimator_checks) == 1


def test_train_on_a_checked_config_does_not_check_again(estimator_checks):
    checked = checks.preflight(load_config("digits_lbfgs", ["output.plots=false", "model.params.max_iter=5"]))
    runner.train(checked)
    assert len(estimator_checks) == 1
