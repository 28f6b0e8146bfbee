"""Docs are checked: every command has help with an example, README's commands parse, the schema works."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from digitclf.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def all_commands(group=None, path=()):
    group = group or get_command(app)
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if getattr(command, "commands", None):
            yield from all_commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_has_a_summary_and_an_example():
    commands = dict(all_commands())
    assert {("train",), ("config", "show"), ("config", "validate"), ("config", "schema"), ("data", "list")} <= set(commands)
    for path, command in commands.items():
        help_text = command.help or ""
        assert help_text.strip(), path
        assert "Example: digitclf " + " ".join(path) in help_text, path


def command_paths(group=None, path=()):
    """The app itself, every group and every command, as argument paths: (), ("config",), ("config", "show"), ..."""
    group = group or get_command(app)
    yield path
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield from command_paths(command, (*path, name))


@pytest.mark.parametrize("path", [pytest.param(path, id=" ".join(("digitclf", *path))) for path in command_paths()])
def test_rendered_help_has_an_example_line(cli, path):
    """What ``digitclf [GROUP] [COMMAND] --help`` prints (the check above reads the docstrings of leaf commands)."""
    result = cli(*path, "--help", prog_name="digitclf")
    assert result.exit_code == 0, result.output
    lines = [line.strip(" \u2502") for line in result.stdout.splitlines()]
    assert any(line.strip() for line in lines if not line.startswith("Usage:")), result.stdout
    assert any(line.startswith("Example: digitclf") for line in lines), result.stdout


def parse(args: list[str]):
    """Parse a command line exactly as digitclf would, without running it."""
    ctx = get_command(app).make_context("digitclf", list(args))
    while getattr(ctx.command, "commands", None):
        name, command, rest = ctx.command.resolve_command(ctx, ctx._protected_args + ctx.args)
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx


def readme_command_lines() -> list[str]:
    blocks, current, language = [], None, None
    for line in README.splitlines():
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if language in ("bash", "console", ""):
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    found = []
    for block in blocks:
        for match in re.finditer(r"(?:^|\$ |&& |; do |\| )(digitclf [^;&|#\n]*)", block, flags=re.M):
            found.append(match.group(1).strip())
    return found


def test_readme_commands_parse():
    lines = readme_command_lines()
    assert len(lines) >= 10
    for line in lines:
        command = re.split(r"\s(?:\d?>|\|)", line)[0]  # the shell's redirections and pipes are not ours
        args = shlex.split(command.replace("$s", "lbfgs"))[1:]
        parse(args)  # raises on an unknown command, option or bad value


@pytest.mark.slow  # a fresh interpreter
def test_python_dash_m_works_like_the_console_script():
    done = subprocess.run([sys.executable, "-m", "digitclf", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "train" in done.stdout


@pytest.mark.slow  # a fresh interpreter
def test_help_does_not_import_the_heavy_stack():
    code = ("import atexit, sys\nfrom digitclf.cli import main\nsys.argv=['digitclf','--help']\n"
            "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'sklearn','matplotlib','seaborn','pandas','scipy'}), file=sys.stderr))\n"
            "main()")  # main ends the process; its atexit functions run last
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_readme_yaml_language_server_line_points_at_the_schema():
    assert "# yaml-language-server: $schema=" in README
