"""``s2d watch``: the Textual app around :class:`~tui.screens.watch_screen.WatchScreen`.

:func:`make_app` is the one way to build it, used by the CLI and by the tests
(posting's pattern); :func:`make_compare_app` builds it around
:class:`~tui.screens.compare_screen.CompareScreen` for several runs side by
side, whose rows open a run's own screen (``escape`` comes back). With
``screenshot`` set, the app reads what the runs have written so far, saves the
screen as SVG and exits, for sharing a run or putting it in a report. It
always exits: once the reader has caught up, or has stopped on an error (shown
on the screen it saves), and at the latest after ``SCREENSHOT_TIMEOUT_S``,
when it saves what it has and exits with code 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from tui.compare import Sources
from tui.messages import RunChanged
from tui.screens.compare_screen import CompareScreen
from tui.screens.watch_screen import WatchScreen

CSS_FILE = Path(__file__).with_name("s2d.tcss")
SCREENSHOT_TIMEOUT_S = 60.0


class WatchApp(App[None]):
    CSS_PATH = CSS_FILE
    TITLE = "s2d watch"
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("escape", "back", "Back")]

    def __init__(
        self,
        run_dir: Path,
        *,
        follow: bool = True,
        poll_interval_s: float = 0.25,
        screenshot: Path | None = None,
        screenshot_timeout_s: float = SCREENSHOT_TIMEOUT_S,
        compare: Sources | None = None,
    ):
        super().__init__()
        self.compare = compare
        self.run_dir = run_dir
        self.follow = follow
        self.poll_interval_s = poll_interval_s
        self.screenshot = screenshot
        self.sub_title = str(run_dir)
        if compare is not None:
            self.sub_title = ", ".join(str(p) for p in compare.parents or compare.runs)
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

    def get_default_screen(self) -> Screen[None]:
        if self.compare is not None:
            return CompareScreen(
                self.compare.runs,
                parents=self.compare.parents,
                follow=self.follow,
                poll_interval_s=self.poll_interval_s,
            )
        return WatchScreen(self.run_dir, follow=self.follow, poll_interval_s=self.poll_interval_s)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":  # only over the comparison, back to it
            return len(self.screen_stack) > 1
        return True

    @property
    def compare_screen(self) -> CompareScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, CompareScreen)
        return screen

    @property
    def watch_screen(self) -> WatchScreen:
        screen = self.screen
        assert isinstance(screen, WatchScreen)
        return screen

    def on_run_changed(self, message: RunChanged) -> None:
        """Bubbled up from the screen after it redrew: time to take the screenshot?"""
        if self.screenshot is None or self._shot_taken:
            return
        if getattr(self.screen, "done_reading", True):
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


def make_compare_app(
    sources: Sources,
    *,
    follow: bool = True,
    poll_interval_s: float = 0.25,
    screenshot: str | os.PathLike[str] | None = None,
) -> WatchApp:
    """The app showing several runs side by side (``s2d watch DIR DIR...`` or a folder of runs)."""
    return WatchApp(
        sources.parents[0] if sources.parents else sources.runs[0],
        follow=follow,
        poll_interval_s=poll_interval_s,
        screenshot=Path(screenshot) if screenshot else None,
        compare=sources,
    )


def compare_app_for(
    paths: Sequence[str | os.PathLike[str]], *, follow: bool = True, poll_interval_s: float = 0.25
) -> WatchApp:
    """Tests' shortcut: the comparison app of these paths (as the CLI resolves them)."""
    from tui.compare import resolve_sources

    return make_compare_app(
        resolve_sources(paths, follow=follow), follow=follow, poll_interval_s=poll_interval_s
    )
