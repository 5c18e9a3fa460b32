"""``s2d demo``: plan, run and compare the sparse-to-dense workflow on the offline toy world."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2d.argtypes import LABELS, SEED, examples, positive


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole story on the offline toy world, in minutes on a CPU",
        description="Build or reuse the toy zoo, plan on the toy scenario, run the best four-stage workflow with the direct-GRPO, raw-teacher and replay arms (and the planner's own plan beside them when it is another workflow), and print the paper's table with predicted and measured accuracy and whether the planner's choice measured best.",
        epilog=examples(
            "s2d demo",
            "s2d demo --no-tui --seed 1 --budget 300",
            "s2d demo --preset tiny --no-tui --out runs/smoke   # seconds, meaningless accuracies",
        ),
    )
    p.add_argument(
        "--seed",
        type=SEED,
        default=0,
        help="seed of the plan, the label split and every stage",
    )
    p.add_argument("--out", type=Path, help="output directory (default: runs/demo-seed<SEED>)")
    p.add_argument(
        "--budget",
        type=positive,
        default=200.0,
        metavar="CPU_SECONDS",
        help="CPU-seconds the planner may allocate to the workflow",
    )
    p.add_argument(
        "--labels",
        type=LABELS,
        default=400,
        help="labeled problems available (scarce ones: the setting the workflow is for)",
    )
    p.add_argument(
        "--no-tui", action="store_true", help="print a summary instead of opening `s2d watch`"
    )
    p.add_argument("--cache-dir", type=Path, help="toy zoo cache (default $S2D_HOME/toy)")
    p.add_argument(
        "--preset",
        choices=["default", "tiny"],
        default="default",
        help="toy zoo preset; tiny is a seconds-long smoke run with meaningless accuracies",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from planner.contracts.files import check_output_path
    from s2d.console import stdout_console
    from s2d.demo import DemoConfig, run_demo

    if args.out is not None:
        check_output_path(args.out, "dir", "--out")
    if args.cache_dir is not None:
        check_output_path(args.cache_dir, "dir", "--cache-dir")
    cfg = DemoConfig(
        seed=args.seed,
        out=args.out or Path("runs") / f"demo-seed{args.seed}",
        budget_cpu_seconds=args.budget,
        labels=args.labels,
        tui=not args.no_tui and sys.stdout.isatty() and sys.stdin.isatty(),
        cache_dir=args.cache_dir,
        preset=args.preset,
    )
    # A table in the paper's shape needs room; piped output gets a fixed width.
    return run_demo(cfg, stdout_console())
