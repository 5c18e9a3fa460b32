"""``s2d simulate PLAN.yaml``: predicted accuracy after each stage and cost of a given plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2d.argtypes import examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="predict accuracy and cost of a plan under a scenario",
        description="Price a plan with the cost model and predict its accuracy after each stage with the response model. The scenario gives the hardware, model facts and benchmark (the plan's own stages, budgets and label split are used as written).",
        epilog=examples(
            "s2d simulate examples/qwen3_math_plan.yaml --scenario examples/paper_scenario.yaml",
            "s2d simulate plans/paper/best.yaml --scenario examples/paper_scenario.yaml --json",
        ),
    )
    p.add_argument("plan", type=Path, help="plan YAML")
    p.add_argument(
        "--scenario",
        type=Path,
        required=True,
        help="scenario YAML the plan runs under (hardware, model priors, benchmark)",
    )
    p.add_argument(
        "--profile",
        default=None,
        help="response profile YAML, or a shipped one's name (v2: the second model); default: the world's first-model profile",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from planner.contracts import load_plan
    from planner.scenario import load_scenario
    from planner.search import plan_summary, print_plan
    from planner.simulator import Simulator, simulate_plan
    from planner.simulator.plans import evidence_warnings, memory_warnings

    plan = load_plan(args.plan)
    problem = Simulator.create(load_scenario(args.scenario), args.profile)
    predicted = simulate_plan(problem, plan)
    # a prediction still: the exit status stays 0
    for line in memory_warnings(problem, plan) + evidence_warnings(problem, plan):
        print(f"warning: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(plan_summary(predicted), indent=2))
    else:
        from s2d.console import stdout_console

        print_plan(predicted, stdout_console())
    return 0
