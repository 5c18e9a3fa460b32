"""``s2d validate FILE``: check a plan without running anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.contracts import Plan, load_plan
from s2d.argtypes import examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check a plan YAML without running it",
        description="Check a plan YAML file and print its stages and label split, or each problem with its field and fix. A scenario YAML is checked too.",
        epilog=examples(
            "s2d validate examples/toy_plan.yaml",
            "s2d validate examples/paper_scenario.yaml",
        ),
    )
    p.add_argument("file", type=Path, help="plan YAML (or scenario YAML)")
    p.add_argument(
        "--profile",
        default=None,
        help="response profile YAML a scenario is checked against (from s2d calibrate); default: the shipped one",
    )
    p.set_defaults(func=run)


def describe_plan(plan: Plan) -> list[str]:
    lab = plan.labels
    teacher = plan.teacher.name if plan.teacher else "none (direct GRPO on the student)"
    lines = [
        f"plan {plan.name!r}: student {plan.student.name}, teacher {teacher}",
        f"labels: pool {lab.pool}, stage 1 {lab.stage1}, stage 3 {lab.stage3}, unallocated {lab.pool - lab.stage1 - lab.stage3}; {lab.prompts} unlabeled prompts; split seed {lab.seed}",
        "stages:",
    ]
    for i, s in enumerate(plan.stages, 1):
        budget = ""
        if s.budget is not None:
            b = s.budget
            budget = f" {b.steps} steps x {b.prompts_per_step} prompts x {b.samples_per_prompt} samples, <= {b.max_new_tokens} new tokens"
        data = f" on {s.data}" if s.data else ""
        lines.append(
            f"  {i}. {s.id} [{s.kind}] trains {s.model}{data}{budget}"
            if s.trains
            else f"  {i}. {s.id} [eval]"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    from planner.contracts import load_yaml_text, read_text
    from planner.scenario import is_scenario_data, scenario_from_dict

    data = load_yaml_text(read_text(args.file, "plan"), str(args.file))
    if is_scenario_data(data):
        from planner.simulator import Simulator

        sc = scenario_from_dict(data, str(args.file), base_dir=args.file.parent)
        Simulator.create(
            sc, args.profile
        )  # the response profile must describe the scenario's benchmark
        teachers = ", ".join(t.name for t in sc.teachers) or "none"
        print(
            f"{args.file}: valid scenario {sc.name!r}: student {sc.student.name}, teachers {teachers}, {sc.labels} labels, {sc.prompts} prompts, budget {sc.budget:g} {sc.compute_unit} on {sc.hardware.count} x {sc.hardware.name}, objective {sc.benchmark}"
        )
        return 0
    plan = load_plan(args.file)
    print(f"{args.file}: valid plan")
    print("\n".join(describe_plan(plan)))
    return 0
