"""A notice above the dashboard: waiting for a run, not a run directory, unreadable plan, errors."""

from __future__ import annotations

from textual.widgets import Static


class Banner(Static):
    """Hidden while it has nothing to say."""

    def say(self, message: str | None, level: str = "info") -> None:
        self.set_class(bool(message), "shown")
        for name in ("info", "warning", "error"):
            self.set_class(name == level, f"-{name}")
        self.update(message or "")
