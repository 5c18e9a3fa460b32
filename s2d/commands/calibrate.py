"""``s2d calibrate RUN_DIR... --out PROFILE.yaml``: refit the simulator to measured runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from s2d.argtypes import examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="refit the response model (and utilisation factors) to measured runs",
        description="Read finished or partial run directories (plan.yaml + events.jsonl), fit the response model's parameters to the measured accuracy after each stage and the hardware's utilisation to the measured compute, print the fit error per point, and write a profile for `s2d plan --profile`.",
        epilog=examples(
            "s2d calibrate runs/toy-rl-teacher-bridge --scenario examples/toy_scenario.yaml --out cal.yaml",
            "s2d plan examples/toy_scenario.yaml --profile cal.yaml   # then plan with it",
        ),
    )
    p.add_argument("runs", nargs="+", type=Path, help="run directories (runs/<name>)")
    p.add_argument(
        "--scenario",
        type=Path,
        required=True,
        help="the scenario the runs were planned for (hardware, model facts, benchmark)",
    )
    p.add_argument("--out", type=Path, required=True, help="profile YAML to write")
    p.add_argument(
        "--profile",
        default=None,
        help="starting profile (default: the world's first-model one); v2 (or a second-model file) refits the second model on the packaged measured runs plus these",
    )
    p.add_argument("--json", action="store_true", help="print the fit report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from planner.calibrate import calibrate_from_runs
    from planner.contracts import atomic_write_text
    from planner.contracts.files import check_output_path
    from planner.scenario import load_scenario
    from planner.simulator import Simulator, dump_profile

    check_output_path(args.out, "file", "--out")
    problem = Simulator.create(load_scenario(args.scenario), args.profile)
    report = calibrate_from_runs(problem, args.runs)
    atomic_write_text(args.out, dump_profile(report.profile))
    if args.json:
        print(
            json.dumps(
                {
                    "out": str(args.out),
                    "points": report.points,
                    "hardware": report.hardware,
                    "fitted": report.fitted,
                },
                indent=2,
            )
        )
        return 0
    from rich.table import Table

    from s2d.console import make_console

    table = Table(
        title=f"fit to {len(args.runs)} run(s): accuracy after each stage", title_justify="left"
    )
    for col in ("run", "stage", "measured", "before fit", "after fit", "error (points)"):
        table.add_column(col, justify="left" if col in ("run", "stage") else "right")
    for r in report.points:
        table.add_row(
            r["run"],
            r["stage"],
            f"{100 * r['measured']:.1f}",
            f"{100 * r['prior']:.1f}",
            f"{100 * r['predicted']:.1f}",
            f"{r['error']:+.2f}",
        )
    console = make_console()
    console.print(table)
    for name, h in report.hardware.items():
        console.print(
            f"{name}: {h['before']:.4g} -> {h['after']:.4g} (compute measured/predicted {h['ratio']:.3g})"
        )
    console.print(f"wrote {args.out}; plan with it: s2d plan SCENARIO --profile {args.out}")
    return 0
