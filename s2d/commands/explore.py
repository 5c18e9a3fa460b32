"""``s2d explore STUDY``: browse the planner's trials and write a chosen plan as YAML."""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.contracts import UserError
from s2d.argtypes import examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explore",
        help="browse a planner study: Pareto front, trials, allocations",
        description=(
            "Show an Optuna study written by `s2d plan`: accuracy against cost with the Pareto front (a "
            "single-objective study: accuracy by trial, with the best so far), a sortable table of trials "
            "(teacher, label split, steps and compute per stage), and the selected trial's allocation "
            "(teacher, labels, budget and predicted accuracy per stage). Press w to write the selected plan as YAML."
        ),
        epilog=examples(
            "s2d explore plans/paper   # the study `s2d plan examples/paper_scenario.yaml --out plans/paper` wrote",
            "s2d explore plans/paper/study.journal --out plans/chosen",
            "s2d explore plans/paper --screenshot study.svg",
        ),
    )
    p.add_argument(
        "study",
        metavar="STUDY",
        help="the study's journal or SQLite file, a folder holding one, or an RDB URL",
    )
    p.add_argument(
        "--study",
        dest="study_name",
        metavar="NAME",
        help="which study, when the storage holds several",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("plans"),
        metavar="DIR",
        help="where w writes plans",
    )
    p.add_argument(
        "--screenshot", type=Path, metavar="FILE.svg", help="write the screen as SVG and exit"
    )
    p.add_argument(
        "--size",
        default="120x40",
        metavar="WxH",
        help="terminal size for --screenshot",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from planner.contracts.files import check_output_path
    from s2d.commands.watch import check_screenshot_path, parse_size
    from tui.study import load_study

    check_screenshot_path(args.screenshot)
    check_output_path(args.out, "dir", "--out", writable=False)  # w writes there
    size = parse_size(args.size)
    study = load_study(args.study, args.study_name)
    if not study.trials:
        raise UserError(
            f"study {study.name} in {study.storage_label} has no complete trial yet; wait for `s2d plan` to finish some."
        )

    from tui.explore_app import make_app

    app = make_app(study, out_dir=args.out, screenshot=args.screenshot)
    if args.screenshot is not None:
        app.run(headless=True, size=size)
        if app.return_code:
            return app.return_code
        print(f"wrote {args.screenshot}")
    else:
        app.run()
    return app.return_code or 0
