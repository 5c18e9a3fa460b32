"""Run messages, warnings and errors, appended as they arrive (time relative to the run start)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from tui import format as fmt
from tui.run_state import RunState

LEVEL_STYLE = {
    "info": ("info ", "dim"),
    "warning": ("WARN ", "bold yellow"),
    "error": ("ERROR", "bold red"),
}


class LogPane(RichLog):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(wrap=True, markup=False, max_lines=2000, min_width=20, **kwargs)  # type: ignore[arg-type]
        self.shown = 0  # state.log_total already written

    def show(self, state: RunState) -> None:
        new = state.log_total - self.shown
        if new <= 0:
            return
        lines = list(state.log)[-min(new, len(state.log)) :]
        start = state.started_t or 0.0
        for line in lines:
            label, style = LEVEL_STYLE.get(line.level, (line.level, ""))
            text = Text(f"{'+' + fmt.duration(line.t - start):>9} ", "dim")
            text.append(label, style)
            text.append(f" {line.stage or '-':<11} ", "cyan")
            text.append(
                line.text,
                "red" if line.level == "error" else ("yellow" if line.level == "warning" else ""),
            )
            self.write(text, width=self.scrollable_content_region.width or None)
        self.shown = state.log_total
