"""The comparison's table: one row per run, a column per stage, final accuracy, spend and labels.

Rows and cell texts come from :mod:`tui.compare`; this widget only lays them
out. It is rebuilt only when what it shows changed, keeping the row under the
cursor, which ``enter`` opens as the run's own dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from tui.compare import CompareRow, Layout, cell_text, column_widths
from tui.run_state import ERROR, INTERRUPTED, OK, RUNNING, STARTED, WAITING

# One color per run, the same in the table and the chart (plotext and Rich both know these).
PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "red")
STATUS_STYLE = {
    WAITING: "dim",
    STARTED: "yellow",
    RUNNING: "bold yellow",
    OK: "bold green",
    ERROR: "bold red",
    INTERRUPTED: "bold magenta",
}


def run_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


class CompareTable(DataTable[Text]):
    BINDINGS = [Binding("enter", "select_cursor", "Open run", show=True)]

    def __init__(self, **kwargs: object):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._shown: object = None

    def show(self, rows: Sequence[CompareRow], layout: Layout) -> None:
        cells = [[cell_text(r, c, layout) for c in layout.columns] for r in rows]
        signature = (layout, [r.name for r in rows], cells)
        if signature == self._shown:
            return
        self._shown = signature
        cursor = self.cursor_row
        self.clear(columns=True)
        # Widths set here, as layout_columns measured them: the table's own measuring missed
        # rows added again before it ran, and kept header widths.
        for column, width in zip(layout.columns, column_widths(rows, layout), strict=True):
            self.add_column(
                Text(column.header, justify="right" if column.right else "left"),
                key=column.key,
                width=width,
            )
        for i, (row, texts) in enumerate(zip(rows, cells, strict=True)):
            out = []
            for column, text in zip(layout.columns, texts, strict=True):
                style = ""
                if column.key == "run":
                    style = f"bold {run_color(i)}"
                elif column.key == "status":
                    style = STATUS_STYLE.get(row.status, "")
                elif column.key == "final":
                    style = "bold"
                out.append(Text(text, style=style, justify="right" if column.right else "left"))
            self.add_row(*out, key=row.name)
        if rows:
            self.move_cursor(row=min(max(cursor, 0), len(rows) - 1), animate=False)
