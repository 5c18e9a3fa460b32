"""The selected trial's allocation: teacher, labels per stage, budget and predicted accuracy per stage.

Narrower than :data:`COMPACT_BELOW` cells, or stacked between the chart and
the table on a narrow terminal, it drops the blank lines, each stage's kind and data, the batch
shape and the accuracy band, so that the allocation fits in a dozen lines.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events
from textual.widgets import Static

from tui import format as fmt
from tui.study import TrialRow

COMPACT_BELOW = 56


class PlanAllocation(Static):
    row: TrialRow | None = None
    cost_unit = "gpu_hours"

    def show(self, row: TrialRow | None, cost_unit: str) -> None:
        self.row, self.cost_unit = row, cost_unit
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        self._draw()

    @property
    def compact(self) -> bool:
        width = self.content_size.width
        return 0 < width < COMPACT_BELOW or self.screen.has_class("-stacked")

    def _draw(self) -> None:
        row, cost_unit, compact = self.row, self.cost_unit, self.compact
        gap = [] if compact else [Text("")]
        if row is None:
            self.border_title = "allocation"
            self.update(Text("no trial selected", style="dim"))
            return
        self.border_title = f"allocation · trial {row.number}"
        head = Text()
        head.append(f"predicted {fmt.pct(row.accuracy)}", "bold green")
        head.append(f" for {fmt.compute(row.cost, cost_unit)}")
        if not row.valid:
            head.append("  (over budget or label limits)", "red")
        plan = row.plan_data
        if plan is None:
            params = Table.grid(padding=(0, 1))
            for k, v in sorted(row.params.items()):
                params.add_row(Text(k, "dim"), f"{v:.3g}" if isinstance(v, float) else str(v))
            note = Text(
                "This trial carries no plan, so it cannot be written as YAML; these are its search parameters.",
                "yellow",
            )
            self.update(Group(head, *gap, params, *gap, note))
            return
        self.update(Group(head, *gap, *_plan_tables(plan, cost_unit, compact)))


def _plan_tables(plan: dict[str, Any], cost_unit: str, compact: bool = False) -> list[Any]:
    teacher = (plan.get("teacher") or {}).get("name") or "none (direct GRPO)"
    student = (plan.get("student") or {}).get("name", "?")
    labels = plan.get("labels") or {}
    lines = Text()
    if compact:  # one line: teacher → student
        lines.append(str(teacher), "bold")
        lines.append(" → ", "dim")
        lines.append(str(student), "bold")
    else:
        lines.append("teacher ", "dim")
        lines.append(str(teacher), "bold")
        lines.append("  student ", "dim")
        lines.append(str(student), "bold")
    lines.append(
        f"\nlabels: pool {labels.get('pool', '—')}, stage 1 {labels.get('stage1', 0)}, stage 3 {labels.get('stage3', 0)}; prompts {labels.get('prompts', 0)}"
    )
    prediction = (plan.get("prediction") or {}).get("stages") or {}
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("stage", ratio=1)
    short = {"gpu_hours": "GPU-h", "cpu_seconds": "CPU-s"}.get(cost_unit, cost_unit)
    shown: tuple[tuple[str, int], ...] = (("steps", 5), (short, 5), ("acc", 5))
    if not compact:
        shown = (("steps", 5), ("batch", 5), ("compute", 11), ("predicted", 13))
    for name, width in shown:
        table.add_column(name, justify="right", no_wrap=True, min_width=width)
    for s in plan.get("stages") or []:
        b = s.get("budget") or {}
        p = prediction.get(s.get("id")) or {}
        acc = p.get("accuracy")
        band = (
            f" ({p['low'] * 100:.0f}–{p['high'] * 100:.0f})"
            if "low" in p and "high" in p and not compact
            else ""
        )
        stage = Text(str(s.get("id")), "bold")
        if not compact:
            stage.append(
                f"\n{s.get('kind')}·{s.get('model', 'student')} on {s.get('data') or 'eval sets'}",
                "dim",
            )
        batch = f"{b.get('prompts_per_step', '')}×{b.get('samples_per_prompt', '')}" if b else ""
        cells = [
            str(b.get("steps", "")),
            *([] if compact else [batch]),
            _compute(p.get("compute"), cost_unit, compact) if p else "—",
            f"{fmt.pct(acc)}{band}" if acc is not None else "—",
        ]
        table.add_row(stage, *cells)
    return [lines, *([] if compact else [Text("")]), table]


def _compute(value: float | None, unit: str, compact: bool) -> str:
    """With its unit, or (compact: the unit is the column's header) the bare number."""
    text = fmt.compute(value, unit)
    return text.split()[0] if compact else text
