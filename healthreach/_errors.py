"""Errors the command line turns into readable reports and exit codes."""
from __future__ import annotations


class InputError(ValueError):
    """Invalid input data or project file (exit code 1).

    The message names the file, the feature (row number and id), the field and what was expected.
    """


class UsageError(ValueError):
    """A command was called in a way that cannot work (exit code 2)."""
