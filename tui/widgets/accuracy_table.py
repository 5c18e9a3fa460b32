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
        # Narrow (under 70 columns): predicted without its band, measured with its interval.
        compact = 0 < self.size.width < 70
        table.add_column("after stage" if not compact else "stage", no_wrap=True, style="bold")
        table.add_column("predicted" if not compact else "pred", justify="right", no_wrap=True)
        table.add_column("measured" if not compact else "meas ±95%", justify="right", no_wrap=True)
        if not compact:
            table.add_column("95%", justify="right", no_wrap=True, style="dim")
            table.add_column("n×k", justify="right", no_wrap=True, style="dim")
        table.add_column("Δ", justify="right", no_wrap=True)
        if not compact:
            table.add_column("greedy", justify="right", no_wrap=True, style="dim")
        for r in rows:
            band = (
                f" ({r.low * 100:.0f}–{r.high * 100:.0f})"
                if r.low is not None and r.high is not None
                else ""
            )
            inside = r.inside_band
            diff_style = "" if inside is None else ("green" if inside else "bold red")
            interval = "—" if r.half_width is None else f"±{r.half_width * 100:.1f}"
            if compact:
                measured = fmt.pct(r.measured) + ("" if r.half_width is None else f" {interval}")
                tiny = self.size.width < 50  # the band and the unit go too
                table.add_row(
                    Text(r.stage),
                    fmt.pct(r.predicted, 0) if tiny else f"{fmt.pct(r.predicted)}{band}",
                    measured,
                    Text(
                        fmt.points(r.difference).replace(" pt", "" if tiny else " pt"), diff_style
                    ),
                )
                continue
            table.add_row(
                Text(r.stage),
                f"{fmt.pct(r.predicted)}{band}",
                fmt.pct(r.measured),
                interval,
                f"{r.n}×{r.k}" if r.n else "—",
                Text(fmt.points(r.difference), diff_style),
                fmt.pct(r.greedy),
            )
        self.update(table)
