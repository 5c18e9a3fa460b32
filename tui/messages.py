"""Messages from the file-reading worker thread to the screens.

A message says only that the shared state moved on (the state itself holds
every event's effect), so a newer one can replace any still queued: a burst of
metric lines costs one redraw, not one per line, and nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class RunChanged(Message):
    """The run state reached ``version``; redraw from it."""

    version: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunChanged)
