"""Errors the engine raises for bad input.

Every error for bad input carries one line a person can act on: what was wrong, where (file, field),
and what would be accepted. The CLI maps :class:`InputError` to exit code 2; anything else is an
internal error (exit code 1).
"""

from __future__ import annotations

from pathlib import Path


class SpA2VError(Exception):
    """Base class of the engine's own errors."""


class InputError(SpA2VError):
    """The user's input (a file, an argument, a setting) cannot be used as it is."""


class AudioInputError(InputError):
    """An audio file cannot be read or analysed. The message names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class Cancelled(SpA2VError):
    """Long work was stopped because the user asked for it."""
