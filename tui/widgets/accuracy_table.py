"""Predicted accuracy (with the simulator's band) beside measured, after each stage."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.run_state import RunState
from tui.views import accuracy_rows


class AccuracyTable(Static):
    def show(self, state: RunState) -> None:
        rows = accuracy_rows(state)
        bench = state.main_benchmark
        if not rows:
            self.update(Text("no prediction in the plan and no eval yet", style="dim"))
            return
        table = Table(
            box=None,
            padding=(0, 1),
            expand=True,
            show_edge=False,
            caption=Text(f"on {bench}", style="dim") if bench else None,
            caption_style="dim",
        )
        table.add_column("after stage", no_wrap=True, style="bold")
        table.add_column("predicted", justify="right", no_wrap=True)
        table.add_column("measured", justify="right", no_wrap=True)
        table.add_column("Δ", justify="right", no_wrap=True)
        table.add_column("greedy", justify="right", no_wrap=True, style="dim")
        for r in rows:
            band = (
                f" ({r.low * 100:.0f}–{r.high * 100:.0f})"
                if r.low is not None and r.high is not None
                else ""
            )
            inside = r.inside_band
            diff_style = "" if inside is None else ("green" if inside else "bold red")
            table.add_row(
                Text(r.stage),
                f"{fmt.pct(r.predicted)}{band}",
                fmt.pct(r.measured),
                Text(fmt.points(r.difference), diff_style),
                fmt.pct(r.greedy),
            )
        self.update(table)
