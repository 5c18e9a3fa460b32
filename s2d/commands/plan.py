"""``s2d plan SCENARIO.yaml``: search allocations with Optuna and write the best plan(s)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s2d.argtypes import SEED, TRIALS, WORKERS, examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="choose teacher, label split and stage budgets for a scenario; write plan YAMLs",
        description="Search teacher choice (or none), the split of labels between teacher RL and student RL, and the compute of each stage under the scenario's budget. Writes the best plan (and with --pareto the accuracy-vs-cost front) as plan YAMLs carrying their predictions, and keeps every trial in an Optuna study.",
        epilog=examples(
            "s2d plan examples/paper_scenario.yaml --out plans/paper --check",
            "s2d plan examples/paper_scenario.yaml --out plans/paper-front --pareto --trials 400",
            "s2d plan examples/toy_scenario.yaml --storage sqlite:///toy.db --workers 2 --json",
        ),
    )
    p.add_argument("scenario", type=Path, help="scenario YAML (see examples/paper_scenario.yaml)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for the plans and the default study journal (default: plans/<scenario name>)",
    )
    p.add_argument("--trials", type=TRIALS, default=200, help="trials to add to the study")
    p.add_argument(
        "--seed",
        type=SEED,
        default=0,
        help="sampler seed; the same seed and storage give the same plan",
    )
    p.add_argument(
        "--sampler",
        choices=["s2d", "tpe"],
        default="s2d",
        help="s2d: an in-memory search priced in batches (a vectorised coarse pass seeding TPE, batched TPE rounds, vectorised local rounds), every trial then written to the study at once; tpe: plain Optuna TPE, trial by trial",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL (sqlite:///f.db, postgresql://..., journal:FILE); default: a journal file in --out",
    )
    p.add_argument(
        "--study",
        default=None,
        help="study name (default: s2d-<scenario name>[-pareto]); an existing study is resumed",
    )
    p.add_argument(
        "--workers", type=WORKERS, default=1, help="processes running trials on the same study"
    )
    p.add_argument(
        "--pareto",
        action="store_true",
        help="multi-objective: accuracy vs compute; write the front",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="also score a discretised grid of the space and report the gap to its best",
    )
    p.add_argument(
        "--profile",
        default=None,
        help="response profile YAML (from s2d calibrate), or a shipped one's name (v2: the second model); default: the world's first-model profile",
    )
    p.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of tables"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from planner.contracts import save_plan
    from planner.scenario import load_scenario
    from s2d.console import working
    from trainer.data_report import check_scenario_fit

    start = time.perf_counter()
    # Refused before the search when the data cannot hold the split (nothing is written).
    data_note = check_scenario_fit(load_scenario(args.scenario))
    what = "pareto front" if args.pareto else "best plan"
    with working(f"searching {args.trials} trials for the {what} of {args.scenario}"):
        result = _search(args)
    written = []
    out = result.out_dir
    if result.best is not None:
        written.append(save_plan(result.best, out / "best.yaml"))
    for i, plan in enumerate(result.front):
        written.append(save_plan(plan, out / "pareto" / f"plan-{i:02d}.yaml"))
    return _report(args, result, written, data_note, time.perf_counter() - start)


def _search(args: argparse.Namespace) -> Any:
    from planner.search import make_plans

    return make_plans(
        args.scenario,
        out=args.out,
        trials=args.trials,
        seed=args.seed,
        sampler=args.sampler,
        storage=args.storage,
        study=args.study,
        workers=args.workers,
        pareto=args.pareto,
        check=args.check,
        profile=args.profile,
    )


def _report(
    args: argparse.Namespace, result: Any, written: list[Any], data_note: str, seconds: float
) -> int:
    import json

    from planner.search import mask_url, plan_summary, print_plan

    if args.json:
        doc = {
            "scenario": str(args.scenario),
            "storage": mask_url(result.storage_url),
            "study": result.study_name,
            "trials": result.n_trials,
            "seconds": round(seconds, 3),
            "best": plan_summary(result.best) if result.best else None,
            "pareto": [plan_summary(p) for p in result.front],
            "files": [str(w) for w in written],
            "notes": [data_note, *result.notes],
        }
        if result.check is not None:
            doc["check"] = result.check
        print(json.dumps(doc, indent=2))
        return 0
    from s2d.console import stdout_console

    console = stdout_console()
    if result.best is not None:
        print_plan(result.best, console)
    for i, plan in enumerate(result.front):
        print_plan(
            plan,
            console,
            title=f"pareto {i:02d}: {plan.teacher.name if plan.teacher else 'direct GRPO'}",
        )
    for note in [data_note, *result.notes]:
        console.print(f"note: {note}")
    if result.check is not None:
        c = result.check
        console.print(
            f"check: search best {100 * c['search_best']:.2f}, grid best {100 * c['grid_best']:.2f} ({c['grid_points']:,} points in {c['grid_seconds']:.2f} s): the search is {100 * c['gap']:+.2f} points from the grid"
        )
    console.print(
        f"{result.n_trials} trials in study {result.study_name!r} at {mask_url(result.storage_url)} ({seconds:.1f} s); wrote {', '.join(str(w) for w in written)}"
    )
    return 0
