"""The complete trials, sortable by any column (press ``o`` to cycle, or click a header).

Columns, most important first (a narrow terminal scrolls to the rest): trial,
front (★; the best trial of a single-objective study), accuracy, cost,
teacher, the label split (labels to stage 1 and stage 3, prompts) and the
stage budgets (steps, then predicted compute, of teacher RL, warmup, OPD and
student RL). Headers are two lines, a name over its unit; the objectives'
names come from the study when it has them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from tui.study import STAGES, StudyView, TrialRow

# Short names of the stages in headers.
STAGE_SHORT = {
    "teacher_rl": "teach.RL",
    "warmup": "warmup",
    "opd": "OPD",
    "student_rl": "stud.RL",
}
# Columns where a higher value is better: sorted high to low first.
DESCENDING_FIRST = {"front", "accuracy"}


@dataclass(frozen=True, order=True)
class Cell:
    """A value that sorts by number and shows as formatted text."""

    value: float
    text: str = field(compare=False)

    def __rich__(self) -> Text:
        return Text(self.text, justify="right")


@dataclass(frozen=True)
class Column:
    key: str
    header: tuple[str, str]  # name, unit (the header's two lines)
    value: Callable[[TrialRow], Any]  # a Cell, a Text, or None (blank, sorted last)


def _num(value: float | None, text: Callable[[float], str]) -> Cell | None:
    return None if value is None else Cell(value, text(value))


def _count(n: float) -> str:
    return f"{n:,.0f}" if n else "–"


def _amount(x: float) -> str:
    if not x:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _front(r: TrialRow) -> Any:
    if r.on_front:
        return Text("★", "green", justify="center")
    return "" if r.valid else Text("invalid", "red")


def _steps(stage: str) -> Callable[[TrialRow], Cell | None]:
    return lambda r: _num(r.stage_steps(stage), _count)


def _compute(stage: str) -> Callable[[TrialRow], Cell | None]:
    return lambda r: _num(r.stage_compute(stage), _amount)


def columns(study: StudyView) -> list[Column]:
    acc_name, acc_unit = study.accuracy_label
    cost_name, cost_unit = study.cost_label
    cols = [
        Column("trial", ("#", ""), lambda r: Cell(r.number, str(r.number))),
        Column("front", ("front" if study.pareto else "best", ""), _front),
        Column(
            "accuracy",
            (acc_name, acc_unit),
            lambda r: _num(r.accuracy, lambda a: f"{a * 100:.1f}"),
        ),
        Column("cost", (cost_name, cost_unit), lambda r: _num(r.cost, _amount)),
        Column("teacher", ("teacher", ""), lambda r: Text(r.teacher or "")),
        Column("stage1", ("labels", "stage 1"), lambda r: _num(r.labels("stage1"), _count)),
        Column("stage3", ("labels", "stage 3"), lambda r: _num(r.labels("stage3"), _count)),
        Column("prompts", ("prompts", ""), lambda r: _num(r.labels("prompts"), _count)),
    ]
    for stage in STAGES:
        cols.append(
            Column(
                f"steps_{stage}",
                (STAGE_SHORT[stage], "steps"),
                _steps(stage),
            )
        )
    for stage in STAGES:
        cols.append(
            Column(
                f"compute_{stage}",
                (STAGE_SHORT[stage], cost_unit),
                _compute(stage),
            )
        )
    return cols


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Cell):
        return value.text
    return value.plain if isinstance(value, Text) else str(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Missing values sort last in either direction of numbers."""
    if value is None or value == "":
        return (1, 0)
    if isinstance(value, Text):
        return (0, value.plain)
    return (0, value)


class TrialsTable(DataTable[Any]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, header_height=2, **kwargs)
        self.sort_column = "accuracy"
        self.sort_reverse = True
        self.keys: list[str] = []

    def show(self, study: StudyView) -> None:
        self.clear(columns=True)
        cols = columns(study)
        self.keys = [c.key for c in cols]
        cells = [[c.value(r) for c in cols] for r in study.trials]
        for i, c in enumerate(cols):
            name, unit = c.header
            width = max([len(name), len(unit)] + [len(_text(row[i])) for row in cells])
            self.add_column(Text(f"{name}\n{unit}", justify="right"), key=c.key, width=width)
        for r, row in zip(study.trials, cells, strict=True):
            self.add_row(*row, key=str(r.number))
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
        keys = self.keys
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)])

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    @property
    def selected_trial(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key) if key is not None else None
