"""Types for command-line options: a number out of its range is refused when the line is parsed.

Every whole-number option of every subcommand takes :func:`whole` (with its own bounds) and
every real-valued one :func:`positive`, so ``--save-every -1``, ``--seed -1`` or
``--workers 100000`` is one message naming the option and the allowed range, before any work;
argparse reports it through :class:`Parser`, in the same one-line form as every other refusal.
"""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Callable
from typing import Any, NoReturn

from planner.contracts.errors import excerpt
from planner.contracts.schema import SEED_MAX


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default shown by argparse, and examples kept as written.

    An option's default is appended as ``(default: X)`` unless it has none worth showing
    (None: its help says what happens without it; True/False: a switch). A paragraph of
    the description or epilog whose lines are indented (the ``examples:`` command lines)
    is printed as written, as RawDescriptionHelpFormatter does; other paragraphs are
    wrapped to the terminal as usual.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool) or not action.option_strings:
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if len(lines) > 1 and all(line.startswith(" ") for line in lines[1:]):
                out.append("\n".join(indent + line for line in lines))  # a heading and its lines
            else:
                out.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(out)


def examples(*lines: str) -> str:
    """A parser's epilog: ``examples:`` and its command lines, as --help shows them."""
    return "examples:\n" + "\n".join(textwrap.indent(line, "  ") for line in lines)


class Parser(argparse.ArgumentParser):
    """argparse's parser with its usage errors worded as every other refusal: one line, exit 2.

    ``s2d run: error: argument --save-every: must be 0 or more (got -1); see s2d run --help``
    (the usage block argparse prints first is left out: the message says what to change).
    Its help shows defaults and examples through :class:`HelpFormatter`; subcommands'
    parsers are of this class too, so theirs do.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        words = self.prog.split()
        command = " ".join(words[:2])  # "s2d toy build" reports as "s2d toy", as its UserErrors do
        self.exit(2, f"{command}: error: {message}; see `{self.prog} --help`\n")


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An option's type: a whole number from ``low`` (to ``high``, when given)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {excerpt(text)}"
            ) from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be between {low} and {high} (got {excerpt(value)})"
            )
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more (got {value})")
        return value

    parse.__name__ = "whole number"
    return parse


def positive(text: str) -> float:
    """An option's type: a finite number above 0 (seconds, a budget)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number (got {excerpt(text)})")
    return value


SEED = whole(0, SEED_MAX)  # numpy and torch seeds are 32-bit
WORKERS = whole(1, 1024)  # processes: more than a machine can hold is a typo
TRIALS = whole(1, 10**8)
LABELS = whole(1, 10**9)
