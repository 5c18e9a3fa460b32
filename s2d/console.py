"""Rich consoles that print text as it is written.

rich reads ``[...]`` in a printed string (and in a table's cells and title) as a
markup tag and ``:name:`` as an emoji code, so a stage id, a plan name, a path
or a message with brackets would lose them: ``[teacher_rl] step 1/2`` would show
as `` step 1/2``. Every console of the command line is made here with markup
and emoji codes off; styling is given as :class:`rich.text.Text` styles instead.
"""

from __future__ import annotations

import sys
from typing import Any


def make_console(**kwargs: Any) -> Any:
    """A rich Console that shows every string verbatim (no markup, no emoji codes)."""
    from rich.console import Console

    return Console(markup=False, emoji=False, **kwargs)


def working(what: str) -> Any:
    """A spinner on stderr saying what is being done, while the block runs (a terminal only:
    piped or redirected, nothing is drawn, so logs and ``--json`` output stay clean)."""
    from contextlib import nullcontext

    if not sys.stderr.isatty():
        return nullcontext()
    return make_console(stderr=True).status(what, spinner="dots")


def stdout_console() -> Any:
    """The console of a command's report: the terminal's width, or 120 columns when piped."""
    return make_console() if sys.stdout.isatty() else make_console(width=120)
