"""``s2d explore``: the Textual app around :class:`~tui.screens.explore_screen.ExploreScreen`.

:func:`make_app` builds it from an already loaded :class:`~tui.study.StudyView`
(the CLI loads the study first, so a bad storage is a plain error, not a
screen); the tests build the same app from a study they create.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from tui.screens.explore_screen import ExploreScreen
from tui.study import StudyView

CSS_FILE = Path(__file__).with_name("s2d.tcss")


class ExploreApp(App[None]):
    CSS_PATH = CSS_FILE
    TITLE = "s2d explore"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, study: StudyView, out_dir: Path, screenshot: Path | None = None):
        super().__init__()
        self.study = study
        self.out_dir = out_dir
        self.screenshot = screenshot

    def get_default_screen(self) -> ExploreScreen:
        return ExploreScreen(self.study, self.out_dir)

    @property
    def explore_screen(self) -> ExploreScreen:
        screen = self.screen
        assert isinstance(screen, ExploreScreen)
        return screen

    def on_mount(self) -> None:
        if self.screenshot is not None:
            self.call_after_refresh(self._save_and_exit)

    def _save_and_exit(self) -> None:
        assert self.screenshot is not None
        self.save_screenshot(filename=self.screenshot.name, path=str(self.screenshot.parent or "."))
        self.exit()


def make_app(
    study: StudyView,
    *,
    out_dir: str | os.PathLike[str] = "plans",
    screenshot: str | os.PathLike[str] | None = None,
) -> ExploreApp:
    return ExploreApp(study, Path(out_dir), Path(screenshot) if screenshot else None)
