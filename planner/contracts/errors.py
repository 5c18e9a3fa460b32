"""User-facing errors.

Every mistake a user can fix (a bad file, a bad flag, a plan that cannot run)
is raised as a :class:`UserError`. The CLI prints its message as one paragraph
and exits with code 2; nothing else turns into a traceback for the user.
"""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """Bad input: the message says what is wrong, where, and how to fix it."""

    exit_code = 2


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a document, at a dotted field path."""

    field: str
    message: str
    fix: str = ""

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
