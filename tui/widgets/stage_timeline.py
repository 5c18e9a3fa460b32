"""The plan's stages in order, with status, step progress and time spent; the selected one marked."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.run_state import RunState

ICONS = {
    "pending": ("○", "dim"),
    "running": ("●", "bold yellow"),
    "ok": ("✔", "green"),
    "skipped": ("↷", "cyan"),
    "error": ("✖", "bold red"),
    "interrupted": ("■", "magenta"),
}
BAR_WIDTH = 12


class StageTimeline(Static):
    def show(self, state: RunState, selected: str | None) -> None:
        # Narrow (under 60 columns): no kind·model column, a shorter bar.
        compact = 0 < self.size.width < 60
        bar_width = BAR_WIDTH // 2 if compact else BAR_WIDTH
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(no_wrap=True, ratio=1)
        if not compact:
            table.add_column(no_wrap=True)
        table.add_column(width=bar_width, no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        if not state.stages:
            self.update(Text("no stages yet", style="dim"))
            return
        for view in state.stages.values():
            icon, icon_style = ICONS.get(view.status, ("?", ""))
            row_style = "reverse" if view.id == selected else ""
            bar_style = (
                "red" if view.status == "error" else ("green" if view.status == "ok" else "yellow")
            )
            steps = (
                f"{view.step}/{view.total_steps}"
                if view.total_steps
                else (str(view.step) if view.step else "")
            )
            progress = view.progress
            if view.phase is not None and view.status == "running":
                # rollouts or an eval: its own progress, not the steps'
                steps = f"{view.phase.label} {view.phase.done}/{view.phase.total}"
                progress = view.phase.done / max(1, view.phase.total)
            if view.started_t is not None:
                end = view.ended_t if view.ended_t is not None else state.last_t
                took = fmt.duration((end or view.started_t) - view.started_t)
            else:
                took = ""
            cells: list[Text | str] = [
                Text(icon, icon_style),
                Text(view.id, "bold" if view.status == "running" else ""),
                *([] if compact else [Text(f"{view.kind}·{view.model}", "dim")]),
                Text(fmt.bar(progress, bar_width), f"{bar_style} on grey23"),
                steps,
                took,
            ]
            table.add_row(*cells, style=row_style)
        self.update(table)
