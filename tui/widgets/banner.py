"""A notice above the dashboard: waiting for a run, not a run directory, unreadable plan, errors."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class Banner(Static):
    """Hidden while it has nothing to say.

    Messages are shown as written (markup off): an error naming ``stages[1].budget`` keeps
    its brackets.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, markup=False, **kwargs)

    def say(self, message: str | None, level: str = "info") -> None:
        self.set_class(bool(message), "shown")
        for name in ("info", "warning", "error"):
            self.set_class(name == level, f"-{name}")
        self.update(message or "")
