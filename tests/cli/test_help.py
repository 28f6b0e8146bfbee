"""What --help shows around the options."""

from __future__ import annotations

import pytest

from test_docs import command_paths


@pytest.mark.parametrize("path", list(command_paths()), ids=" ".join)
def test_flags_show_no_value_type_and_help_keeps_its_short_form(cli, path):
    shown = cli(*path, "--help", prog_name="digitclf", terminal_width=120)
    assert shown.exit_code == 0
    assert "<bool>" not in shown.stdout
    assert any(line.split()[1:3] == ["--help", "-h"] for line in shown.stdout.splitlines() if "--help" in line)
