"""The selected trial's allocation: teacher, labels per stage, budget and predicted accuracy per stage."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.study import TrialRow


class PlanAllocation(Static):
    def show(self, row: TrialRow | None, cost_unit: str) -> None:
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
            self.update(Group(head, Text(""), params, Text(""), note))
            return
        self.update(Group(head, Text(""), *_plan_tables(plan, cost_unit)))


def _plan_tables(plan: dict[str, Any], cost_unit: str) -> list[Any]:
    teacher = (plan.get("teacher") or {}).get("name") or "none (direct GRPO)"
    student = (plan.get("student") or {}).get("name", "?")
    labels = plan.get("labels") or {}
    lines = Text()
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
    for name, width in (("steps", 5), ("batch", 5), ("compute", 11), ("predicted", 13)):
        table.add_column(name, justify="right", no_wrap=True, min_width=width)
    for s in plan.get("stages") or []:
        b = s.get("budget") or {}
        p = prediction.get(s.get("id")) or {}
        acc = p.get("accuracy")
        band = (
            f" ({p['low'] * 100:.0f}–{p['high'] * 100:.0f})" if "low" in p and "high" in p else ""
        )
        stage = Text(str(s.get("id")), "bold")
        stage.append(
            f"\n{s.get('kind')}·{s.get('model', 'student')} on {s.get('data') or 'eval sets'}",
            "dim",
        )
        table.add_row(
            stage,
            str(b.get("steps", "")),
            f"{b.get('prompts_per_step', '')}×{b.get('samples_per_prompt', '')}" if b else "",
            fmt.compute(p.get("compute"), cost_unit) if p else "—",
            f"{fmt.pct(acc)}{band}" if acc is not None else "—",
        )
    return [lines, Text(""), table]
