"""``s2d watch RUN_DIR...``: follow a run live in the terminal (or save it as an SVG and exit).

Two or more run directories, or a folder holding run directories (such as the
one ``s2d demo`` writes), show the runs side by side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from planner.contracts import UserError
from s2d.argtypes import examples, positive

if TYPE_CHECKING:
    from tui.watch_app import WatchApp


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="follow a run live in the terminal",
        description=(
            "Show a run directory (runs/<name>) as a dashboard: the stages with their progress, budget spent "
            "against planned, live curves, predicted beside measured accuracy, and the log. It follows "
            "events.jsonl as it grows, and waits for a run directory that does not exist yet. "
            "Several run directories, or a folder of them (such as the one `s2d demo` writes), "
            "show side by side: accuracy after each stage against the prediction, spend and labels "
            "per run, and one metric's curves overlaid; enter opens a run's own dashboard."
        ),
        epilog=examples(
            "s2d watch runs/toy-rl-teacher-bridge   # the run `s2d run examples/toy_plan.yaml` writes",
            "s2d watch runs/demo   # the demo's runs side by side",
            "s2d watch tests/tui_tests/fixtures/real_run --screenshot run.svg --size 80x24   # a recorded run",
        ),
    )
    p.add_argument(
        "run_dirs",
        type=Path,
        nargs="+",
        metavar="RUN_DIR",
        help="the run directory (or its events.jsonl); several, or a folder of runs, side by side",
    )
    p.add_argument(
        "--no-follow",
        dest="follow",
        action="store_false",
        help="show what is written now; do not follow or wait",
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="FILE.svg",
        help="write the screen as SVG and exit (implies --no-follow)",
    )
    p.add_argument(
        "--size",
        default="120x40",
        metavar="WxH",
        help="terminal size for --screenshot",
    )
    p.add_argument(
        "--interval",
        type=positive,
        default=0.25,
        metavar="SECONDS",
        help="how often to look for new events",
    )
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {text!r} is not WIDTHxHEIGHT; use e.g. --size 120x40.") from None
    if w < 40 or h < 12:
        raise UserError(
            f"--size {text} is too small to draw the dashboard; use at least 40x12 (120x40 is best)."
        )
    return w, h


def check_screenshot_path(path: Path | None) -> None:
    from planner.contracts.files import check_output_path

    if path is None:
        return
    if path.suffix.lower() != ".svg":
        raise UserError(
            f"--screenshot {path}: the screen is saved as SVG; give a file name ending in .svg."
        )
    if not path.parent.exists() and str(path.parent) != "":
        raise UserError(
            f"--screenshot {path}: the folder {path.parent} does not exist; create it first."
        )
    check_output_path(path, "file", "--screenshot")


def run(args: argparse.Namespace) -> int:
    from tui.compare import resolve_sources
    from tui.run_dir import EVENTS_FILE, DirKind, inspect_run_dir, resolve_run_path

    check_screenshot_path(args.screenshot)
    follow = args.follow and args.screenshot is None
    sources = resolve_sources(args.run_dirs, follow=follow)
    if sources.is_comparison:
        from tui.watch_app import make_compare_app

        app = make_compare_app(
            sources, follow=follow, poll_interval_s=args.interval, screenshot=args.screenshot
        )
        return _run_app(app, args, ", ".join(str(p) for p in args.run_dirs))
    run_dir = resolve_run_path(args.run_dirs[0])
    status = inspect_run_dir(run_dir)
    if status.kind in (DirKind.FILE, DirKind.NOT_RUN) or (not follow and not status.is_run):
        raise UserError(status.describe(following=False))
    events = run_dir / EVENTS_FILE
    if not follow and events.exists() and not events.is_file():
        raise UserError(
            f"{events} is not a regular file; a run writes its events there (give the run directory of `s2d run`)."
        )

    from tui.watch_app import make_app

    app = make_app(
        run_dir, follow=follow, poll_interval_s=args.interval, screenshot=args.screenshot
    )
    return _run_app(app, args, str(run_dir))


def _run_app(app: WatchApp, args: argparse.Namespace, shown: str) -> int:
    if args.screenshot is not None:
        app.run(headless=True, size=parse_size(args.size))
        if app.timed_out:
            print(
                f"s2d watch: error: {shown} could not be read to the end within "
                f"{app.screenshot_timeout_s:.0f} s; {args.screenshot} shows what was read.",
                file=sys.stderr,
            )
            return 1
        if app.return_code:
            return app.return_code
        print(f"wrote {args.screenshot}")
    else:
        app.run()
    return app.return_code or 0
