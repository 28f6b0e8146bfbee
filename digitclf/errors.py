"""The few exception types the CLI knows how to show as one ``Error:`` line."""

from __future__ import annotations

from typing import Any


class DigitclfError(Exception):
    """Base class: a problem the user can fix, shown without a traceback."""

    exit_code = 1


class ConfigError(DigitclfError):
    """The config file, an override or a command-line value is invalid."""

    exit_code = 2


class DatasetError(DigitclfError):
    """A data set cannot be found, read or trusted."""

    exit_code = 1


class RunNotFoundError(DigitclfError):
    """No saved run matches what the user asked for."""

    exit_code = 2


class RunError(DigitclfError):
    """A saved run is incomplete, altered or unusable."""

    exit_code = 2


class RunBusyError(RunError):
    """A run of that id is still running; wait for it, or choose another id."""

    exit_code = 1


class InputError(DigitclfError):
    """A file given on the command line (an image, a path) cannot be used."""

    exit_code = 2


class TrackingError(DigitclfError):
    """Logging to MLflow failed (bad tracking URI, server down, ...); the run folder itself is intact."""

    exit_code = 1


def suggest(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    import difflib

    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
