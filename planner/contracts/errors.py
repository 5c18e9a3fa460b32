"""User-facing errors.

Every mistake a user can fix (a bad file, a bad flag, a plan that cannot run)
is raised as a :class:`UserError`. The CLI prints its message as one paragraph
and exits with code 2; nothing else turns into a traceback for the user.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

# The longest a quoted value or a field path runs in a message: a value a user got wrong can
# be a megabyte string or an alias bomb that expands to millions of items.
EXCERPT_CHARS = 80
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = EXCERPT_CHARS
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxlevel = 3


def excerpt(value: Any) -> str:
    """A short repr of ``value`` for a message, never longer than EXCERPT_CHARS (and cheap to make)."""
    text = _REPR.repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class UserError(Exception):
    """Bad input: the message says what is wrong, where, and how to fix it."""

    exit_code = 2


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a document, at a dotted field path."""

    field: str
    message: str
    fix: str = ""

    def __post_init__(self) -> None:  # a backstop: callers quote values with excerpt()
        object.__setattr__(self, "field", _cap(self.field, 2 * EXCERPT_CHARS))
        object.__setattr__(self, "message", _cap(self.message, 4 * EXCERPT_CHARS))
        object.__setattr__(self, "fix", _cap(self.fix, 6 * EXCERPT_CHARS))

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}" if self.field else self.message
        return f"{text} ({self.fix})" if self.fix else text


class ValidationError(UserError):
    """A document (plan, scenario, profile) failed validation."""

    def __init__(self, source: str, problems: list[FieldProblem]):
        self.source = source
        self.problems = list(problems)
        lines = [f"{source} is not valid ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
