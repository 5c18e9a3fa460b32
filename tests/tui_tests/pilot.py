"""Driving the Textual apps headless: the terminal size, the screen as text, waits that poll."""

from __future__ import annotations

import time
from collections.abc import Callable

SIZE = (120, 40)


async def wait_until(pilot, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not reach the expected state in time")
        await pilot.pause(0.02)
    await pilot.pause(0.05)  # let the layout settle (a banner shown or hidden)


def screen_text(app) -> str:
    """The screen as plain text, the way a user reads it."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        record=True,
        legacy_windows=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def wait_for_text(pilot, *needles: str, timeout_s: float = 5.0) -> str:
    """Wait until every needle is on screen (line breaks ignored); return the screen text."""
    text = ""

    def shown() -> bool:
        nonlocal text
        text = screen_text(pilot.app)
        flat = " ".join(text.split())  # a message wrapped over lines still matches
        return all(n in text or " ".join(n.split()) in flat for n in needles)

    try:
        await wait_until(pilot, shown, timeout_s)
    except AssertionError:
        missing = [n for n in needles if " ".join(n.split()) not in " ".join(text.split())]
        raise AssertionError(f"not on screen: {missing}\n{text}") from None
    return text
