"""Show plans and their predictions: a rich table for people, plain dicts for --json.

Accuracy is 0..1 everywhere inside; only these tables print percent.
"""

from __future__ import annotations

from typing import Any

from planner.contracts.plan import Plan


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def plan_summary(plan: Plan) -> dict[str, Any]:
    pred = plan.prediction
    stages = []
    for s in plan.stages:
        row: dict[str, Any] = {"id": s.id, "kind": s.kind, "model": s.model, "data": s.data}
        if s.budget is not None:
            row["steps"] = s.budget.steps
        if pred and s.id in pred.stages:
            sp = pred.stages[s.id]
            row.update(
                accuracy=sp.accuracy,
                low=sp.low,
                high=sp.high,
                compute=sp.compute,
                memory_gib=sp.memory_gib,
                sharding=sp.sharding,
            )
        stages.append(row)
    return {
        "name": plan.name,
        "student": plan.student.name,
        "teacher": plan.teacher.name if plan.teacher else None,
        "labels": {
            "pool": plan.labels.pool,
            "stage1": plan.labels.stage1,
            "stage3": plan.labels.stage3,
            "prompts": plan.labels.prompts,
        },
        "stages": stages,
        "benchmark": pred.benchmark if pred else None,
        "final_accuracy": pred.final_accuracy if pred else None,
        "total_compute": pred.total_compute if pred else None,
        "compute_unit": pred.compute_unit if pred else None,
        "profile": pred.source if pred else None,
    }


def plan_table(plan: Plan, title: str | None = None) -> Any:
    from rich.table import Table

    pred = plan.prediction
    unit = pred.compute_unit.replace("_", "-") if pred else ""
    teacher = plan.teacher.name if plan.teacher else "none (direct GRPO)"
    table = Table(
        title=title or f"{plan.name}: teacher {teacher}, student {plan.student.name}",
        title_justify="left",
    )
    for col in ("stage", "trains", "reads", "labels", "steps", unit, "acc %", "90% band"):
        table.add_column(
            col,
            justify="right" if col not in ("stage", "trains", "reads") else "left",
            no_wrap=True,
        )
    for s in plan.stages:
        labels = str(getattr(plan.labels, s.label_source)) if s.label_source else "-"
        sp = pred.stages.get(s.id) if pred else None
        acc = _pct(sp.accuracy) if sp else "-"
        band = f"{_pct(sp.low)}-{_pct(sp.high)}" if sp else "-"
        compute = f"{sp.compute:,.1f}" if sp else "-"
        table.add_row(
            s.id,
            s.model,
            s.data or "-",
            labels,
            str(s.budget.steps if s.budget else "-"),
            compute,
            acc,
            band,
        )
    if pred:
        table.add_row(
            "total",
            "",
            pred.benchmark,
            str(pred.labels_used),
            "",
            f"{pred.total_compute:,.1f}",
            _pct(pred.final_accuracy),
            "",
            style="bold",
        )
    return table


def print_plan(plan: Plan, console: Any = None, title: str | None = None) -> None:
    from rich.console import Console

    # markup off: a plan or stage name with brackets is shown as written
    (console or Console(markup=False, emoji=False)).print(plan_table(plan, title))
