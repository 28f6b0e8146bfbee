"""CLI tests: one file per command, as digitclf/cli/ has one file per command."""


