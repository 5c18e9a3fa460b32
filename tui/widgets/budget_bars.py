"""Budget per stage, spent against planned: compute (GPU-hours or CPU-seconds), tokens, labels.

A bar turns red when a stage has spent more than planned; a dash stands for a
plan that does not say.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.run_state import RunState
from tui.views import budget_rows

UNIT_HEADING = {"gpu_hours": "GPU-hours", "cpu_seconds": "CPU-seconds"}


def _cell(spent: float, planned: float | None, width: int, show: str) -> Text:
    if not planned:
        return Text(f"{'·' * width} {show}", "dim")
    frac = spent / planned
    style = "red" if frac > 1.0 + 1e-9 else "cyan"
    text = Text(fmt.bar(frac, width), f"{style} on grey23")
    text.append(f" {show}", "red" if style == "red" else "")
    return text


def _seconds(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"  # a tiny run's 0.3 s is not 0


class BudgetBars(Static):
    def show(self, state: RunState) -> None:
        unit = state.compute_unit
        rows = budget_rows(state)
        if not rows:
            self.update(Text("no training stages yet", style="dim"))
            return
        compact = 0 < self.size.width < 60  # narrow: compute and labels, no tokens
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
        table.add_column("stage", no_wrap=True, style="bold")
        heading = UNIT_HEADING.get(unit, unit)
        table.add_column(
            heading.replace("seconds", "s").replace("hours", "h") if compact else heading,
            no_wrap=True,
        )
        if not compact:
            table.add_column("tokens", no_wrap=True)
        table.add_column("labels", no_wrap=True)
        short = "GPU-h" if unit == "gpu_hours" else "s"
        for r in rows:
            spent_c = f"{r.compute_spent:.3g}" if unit == "gpu_hours" else _seconds(r.compute_spent)
            planned_c = (
                "—"
                if r.compute_planned is None
                else (
                    f"{r.compute_planned:.3g}"
                    if unit == "gpu_hours"
                    else _seconds(r.compute_planned)
                )
            )
            tokens = _cell(
                r.tokens_spent,
                r.tokens_planned,
                4,
                f"{fmt.count(r.tokens_spent)}/{fmt.count(r.tokens_planned)}",
            )
            table.add_row(
                Text(r.stage),
                _cell(
                    r.compute_spent,
                    r.compute_planned,
                    3 if compact else 6,
                    f"{spent_c}/{planned_c}{'' if compact else short}",
                ),
                *([] if compact else [tokens]),
                _cell(
                    r.labels_spent,
                    r.labels_planned,
                    3,
                    f"{r.labels_spent}/{'—' if r.labels_planned is None else r.labels_planned}",
                ),
            )
        self.update(table)
