"""Browse a planner study: the chart of its trials, the trials, the chosen allocation.

Moving through the table selects a trial; its point is marked on the chart and
its allocation shown beside it. ``w`` writes the selected trial's plan as
YAML, validated on the way out like any plan.

The layout follows the terminal's width (``HORIZONTAL_BREAKPOINTS``; the rules
are in s2d.tcss): from 120 columns the chart and a full allocation share the
top and the table spans the bottom; from 70 the same with a compact
allocation, so an 80x24 terminal still has a chart half the screen wide and a
table of the leading columns (the rest scroll); below 70 the three stack.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from planner.contracts import UserError, save_plan
from tui import format as fmt
from tui.study import StudyView, TrialRow
from tui.widgets.pareto_chart import ParetoChart
from tui.widgets.plan_allocation import PlanAllocation
from tui.widgets.trials_table import TrialsTable


class ExploreScreen(Screen[None]):
    BINDINGS = [
        Binding("w", "write_plan", "Write YAML"),
        Binding("o", "next_sort", "Sort"),
        Binding("r", "reverse_sort", "Reverse"),
        Binding("s", "save_screenshot", "Save SVG"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-stacked"), (70, "-narrow"), (120, "-wide")]

    def __init__(self, study: StudyView, out_dir: Path):
        super().__init__()
        self.study = study
        self.out_dir = out_dir
        self.rows = {r.number: r for r in study.trials}
        self.selected: int | None = None
        self.written: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        with Grid(id="explore-body"):
            yield ParetoChart(id="pareto")
            yield PlanAllocation(id="allocation")
            table = TrialsTable(id="trials")
            table.border_title = "trials (o: sort column, r: reverse, click a header)"
            yield table
        yield Footer()

    def on_mount(self) -> None:
        s = self.study
        header = Text(no_wrap=True, overflow="ellipsis")
        header.append(" s2d explore ", "bold reverse")
        header.append(f" {s.name}", "bold")
        header.append(f" · {len(s.trials)} trials")
        if s.pareto:
            header.append(f", {sum(r.on_front for r in s.trials)} on the Pareto front")
        else:
            best = next((r for r in s.trials if r.on_front), None)
            if best is not None:
                header.append(f", best {fmt.pct(best.accuracy)} (trial {best.number})")
        header.append(f" · {s.storage_label}", "dim")
        self.query_one("#header", Static).update(header)
        table = self.query_one(TrialsTable)
        table.show(s)
        table.focus()
        self.select(table.selected_trial)

    def select(self, number: int | None) -> None:
        self.selected = number
        row = self.rows.get(number) if number is not None else None
        self.query_one(ParetoChart).show(self.study, number)
        self.query_one(PlanAllocation).show(row, self.study.cost_unit)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Read the cursor, not the event: a highlight queued before a sort names a stale row.
        self.select(self.query_one(TrialsTable).selected_trial)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.call_after_refresh(lambda: self.select(self.query_one(TrialsTable).selected_trial))

    @property
    def selected_row(self) -> TrialRow | None:
        return self.rows.get(self.selected) if self.selected is not None else None

    def action_next_sort(self) -> None:
        table = self.query_one(TrialsTable)
        table.next_sort()
        self.select(table.selected_trial)

    def action_reverse_sort(self) -> None:
        table = self.query_one(TrialsTable)
        table.sort_by(table.sort_column)
        self.select(table.selected_trial)

    def action_write_plan(self) -> None:
        row = self.selected_row
        if row is None:
            self.notify("Select a trial first", severity="warning")
            return
        try:
            plan = row.plan(f"study {self.study.name}")
            path = save_plan(plan, self.out_dir / f"{self.study.name}-trial{row.number}.yaml")
        except UserError as e:
            self.notify(str(e), severity="error", timeout=10, markup=False)
            return
        except OSError as e:
            self.notify(
                f"cannot write into {self.out_dir}: {e.strerror}; pass --out DIR with a writable folder.",
                severity="error",
                timeout=10,
                markup=False,
            )
            return
        self.written.append(path)
        self.notify(f"Wrote {path} (run it with: s2d run {path})", markup=False)

    def action_save_screenshot(self) -> None:
        path = self.app.save_screenshot(filename=f"{self.study.name}.svg")
        self.notify(f"Saved {path}", markup=False)
