"""``s2d watch``: the Textual app around :class:`~tui.screens.watch_screen.WatchScreen`.

:func:`make_app` is the one way to build it, used by the CLI and by the tests
(posting's pattern). With ``screenshot`` set, the app reads what the run has
written so far, saves the screen as SVG and exits, for sharing a run or
putting it in a report. It always exits: once the reader has caught up, or has
stopped on an error (shown on the screen it saves), and at the latest after
``SCREENSHOT_TIMEOUT_S``, when it saves what it has and exits with code 1.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from tui.messages import RunChanged
from tui.screens.watch_screen import WatchScreen

CSS_FILE = Path(__file__).with_name("s2d.tcss")
SCREENSHOT_TIMEOUT_S = 60.0


class WatchApp(App[None]):
    CSS_PATH = CSS_FILE
    TITLE = "s2d watch"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(
        self,
        run_dir: Path,
        *,
        follow: bool = True,
        poll_interval_s: float = 0.25,
        screenshot: Path | None = None,
        screenshot_timeout_s: float = SCREENSHOT_TIMEOUT_S,
    ):
        super().__init__()
        self.run_dir = run_dir
        self.follow = follow
        self.poll_interval_s = poll_interval_s
        self.screenshot = screenshot
        self.sub_title = str(run_dir)
        self.screenshot_timeout_s = screenshot_timeout_s
        self._shot_taken = False
        self.timed_out = False

    def on_mount(self) -> None:
        if self.screenshot is not None:
            self.set_timer(self.screenshot_timeout_s, self._give_up)

    def _give_up(self) -> None:
        """The backstop: the reader never caught up; save what is shown and fail."""
        if self._shot_taken:
            return
        self._shot_taken = self.timed_out = True
        self._save_and_exit(return_code=1)

    def get_default_screen(self) -> WatchScreen:
        return WatchScreen(self.run_dir, follow=self.follow, poll_interval_s=self.poll_interval_s)

    @property
    def watch_screen(self) -> WatchScreen:
        screen = self.screen
        assert isinstance(screen, WatchScreen)
        return screen

    def on_run_changed(self, message: RunChanged) -> None:
        """Bubbled up from the screen after it redrew: time to take the screenshot?"""
        if self.screenshot is None or self._shot_taken:
            return
        if self.watch_screen.done_reading:
            self._shot_taken = True
            self.call_after_refresh(self._save_and_exit)

    def _save_and_exit(self, return_code: int = 0) -> None:
        assert self.screenshot is not None
        self.save_screenshot(filename=self.screenshot.name, path=str(self.screenshot.parent or "."))
        self.exit(return_code=return_code)


def make_app(
    run_dir: str | os.PathLike[str],
    *,
    follow: bool = True,
    poll_interval_s: float = 0.25,
    screenshot: str | os.PathLike[str] | None = None,
) -> WatchApp:
    return WatchApp(
        Path(run_dir),
        follow=follow,
        poll_interval_s=poll_interval_s,
        screenshot=Path(screenshot) if screenshot else None,
    )
