"""The pause key both dashboards share: stop reading the run(s), keep the screen as it is."""

from __future__ import annotations

import threading
from typing import Any


class Pausing:
    """``action_pause`` for a screen with ``paused`` and ``_wake`` events and a ``redraw``."""

    paused: threading.Event
    _wake: threading.Event
    notify: Any
    redraw: Any

    def action_pause(self) -> None:
        if self.paused.is_set():
            self.paused.clear()
            self.notify("Following again")
        else:
            self.paused.set()
            self.notify("Paused: the screen stays as it is until you press p again")
        self._wake.set()
        self.redraw()
