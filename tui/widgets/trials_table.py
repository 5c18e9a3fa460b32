"""The complete trials, sortable by any column (press ``o`` to cycle, or click a header)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from tui import format as fmt
from tui.study import TrialRow

COLUMNS = (
    ("trial", "#"),
    ("front", "front"),
    ("accuracy", "accuracy"),
    ("cost", "cost"),
    ("teacher", "teacher"),
)
# Columns where a higher value is better: sorted high to low first.
DESCENDING_FIRST = {"front", "accuracy"}


@dataclass(frozen=True, order=True)
class Cell:
    """A value that sorts by number and shows as formatted text."""

    value: float
    text: str = field(compare=False)

    def __rich__(self) -> Text:
        return Text(self.text, justify="right")


def _sort_key(value: Any) -> tuple[int, Any]:
    """Missing values sort last in either direction of numbers."""
    if value is None or value == "":
        return (1, 0)
    if isinstance(value, Text):
        return (0, value.plain)
    return (0, value)


class TrialsTable(DataTable[Any]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_column = "accuracy"
        self.sort_reverse = True

    def show(self, rows: list[TrialRow], cost_unit: str) -> None:
        self.clear(columns=True)
        for key, label in COLUMNS:
            self.add_column(
                label
                if key != "cost"
                else f"cost ({'GPU-h' if cost_unit == 'gpu_hours' else 'CPU-s'})",
                key=key,
            )
        for r in rows:
            teacher = r.params.get("teacher")
            if teacher is None and r.plan_data:
                teacher = (r.plan_data.get("teacher") or {}).get("name") or "none"
            self.add_row(
                Cell(r.number, str(r.number)),
                Text("★", "green") if r.on_front else ("" if r.valid else Text("invalid", "red")),
                None if r.accuracy is None else Cell(r.accuracy, fmt.pct(r.accuracy)),
                None if r.cost is None else Cell(r.cost, f"{r.cost:,.1f}"),
                Text(str(teacher or "")),
                key=str(r.number),
            )
        self._apply_sort()
        self.move_cursor(row=0)

    def _apply_sort(self) -> None:
        """Sort, keeping the cursor on the trial it was on."""
        keep = self.selected_trial
        self.sort(self.sort_column, key=_sort_key, reverse=self.sort_reverse)
        if keep is not None:
            self.move_cursor(row=self.get_row_index(str(keep)), scroll=True)

    def sort_by(self, column: str) -> None:
        """Sort by ``column``; the same column again flips the direction."""
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column in DESCENDING_FIRST
        self._apply_sort()

    def next_sort(self) -> None:
        keys = [k for k, _ in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)])

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    @property
    def selected_trial(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key) if key is not None else None
