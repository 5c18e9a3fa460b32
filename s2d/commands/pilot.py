"""``s2d pilot SCENARIO --out DIR``: short runs of the contending workflows, a refit, a new decision."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from s2d.argtypes import examples, whole


def share(text: str) -> float:
    """An option's type: a fraction of the budget, above 0 and at most 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(
            f"must be a fraction of the budget above 0 and at most 1, e.g. 0.2 (got {text[:40]!r})"
        )
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pilot",
        help="run short pilots of the workflows that could change the plan, refit, plan again",
        description=(
            "Score every workflow (direct GRPO; for each teacher the raw bridge, the RL-teacher bridge, "
            "each with or without stage 3) on the planner's grid and take the best as the decision. "
            "Pilot the decision and the rivals likely to beat it under the model's bands: each pilot is "
            "its workflow's plan with every stage shortened by one factor, all pilots together spending "
            "--share of the budget. Run them with s2d run (resumable), refit the response model on what "
            "they measured (s2d calibrate), score the workflows again, and print how the decision and "
            "the predictions moved. Writes DIR/before.yaml, DIR/pilots/, DIR/calibrated.yaml and "
            "DIR/best.yaml (the plan chosen after the pilots)."
        ),
        epilog=examples(
            "s2d pilot examples/toy_scenario.yaml --out pilots/toy",
            "s2d pilot examples/toy_scenario.yaml --out pilots/toy --dry-run   # propose only",
            "s2d pilot examples/toy_scenario.yaml --out pilots/toy --share 0.3 --max-pilots 2",
        ),
    )
    p.add_argument("scenario", type=Path, help="scenario YAML")
    p.add_argument(
        "--out", type=Path, required=True, help="directory for plans, runs and the refit"
    )
    p.add_argument(
        "--profile",
        default="v2",
        help="response profile to start from: a file or a shipped name (v2: the second model)",
    )
    p.add_argument(
        "--share",
        type=share,
        default=0.5,
        help="share of the budget all pilots spend",
    )
    p.add_argument(
        "--max-pilots",
        type=whole(1, 16),
        default=3,
        help="pilots at most, the decision's own included",
    )
    p.add_argument(
        "--min-chance",
        type=share,
        default=0.1,
        help="a rival is piloted when its chance of beating the decision is at least this",
    )
    p.add_argument("--lanes", type=whole(1, 64), default=2, help="pilot runs at a time")
    p.add_argument(
        "--dry-run", action="store_true", help="propose and write the pilots, run nothing"
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def _decision_row(c: Any) -> dict[str, Any]:
    return {
        "workflow": c.workflow,
        "final_accuracy": c.final,
        "sd": c.sd,
        "chance_better": c.chance,
        "compute": c.plan.prediction.total_compute if c.plan.prediction else None,
    }


def run(args: argparse.Namespace) -> int:
    import json

    from planner.contracts import save_plan
    from planner.contracts.files import check_output_path
    from planner.scenario import load_scenario
    from planner.search.pilot import contenders, propose
    from planner.simulator import Simulator

    check_output_path(args.out, "dir", "--out")
    sc = load_scenario(args.scenario)
    problem = Simulator.create(sc, args.profile)
    ranked, pilots = propose(problem, args.share, args.max_pilots, args.min_chance)
    if not ranked:
        from planner.contracts.errors import UserError

        raise UserError(f"{args.scenario}: no plan fits the budget; see `s2d plan` for why.")
    decision = ranked[0]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    save_plan(decision.plan, out / "before.yaml")
    doc: dict[str, Any] = {
        "scenario": str(args.scenario),
        "profile": problem.profile.name,
        "before": [_decision_row(c) for c in ranked],
        "pilots": [],
    }
    for p in pilots:
        save_plan(p.plan, out / "pilots" / "plans" / f"{p.plan.name}.yaml")
        doc["pilots"].append(
            {
                "name": p.plan.name,
                "workflow": p.contender.workflow,
                "steps": {s.id: s.budget.steps for s in p.plan.stages if s.budget},
                "compute": p.compute,
            }
        )
    show = _Printer(args.json, sc.compute_unit.replace("_", "-"))
    show.decisions("the workflows before the pilots", ranked)
    if not pilots:
        save_plan(decision.plan, out / "best.yaml")
        show.line(
            f"no rival has a {100 * args.min_chance:.0f}% chance of beating {decision.workflow}: nothing to pilot; wrote {out / 'best.yaml'}"
        )
        return show.done(doc)
    show.pilots(pilots)
    if args.dry_run:
        show.line(f"dry run: pilot plans in {out / 'pilots' / 'plans'}; nothing was run")
        return show.done(doc)

    from planner.calibrate import calibrate_from_runs
    from planner.calibrate.from_runs import record_of_run
    from planner.contracts import atomic_write_text
    from planner.search.pilot import student_learned
    from planner.simulator import dump_profile

    zoo = Path(sc.zoo) if sc.world == "toy" and sc.zoo else None
    dirs = execute_pilots(
        [p.plan for p in pilots],
        out / "pilots",
        zoo,
        args.lanes,
        None if args.json else show.finished,
    )
    report = calibrate_from_runs(problem, dirs)
    atomic_write_text(out / "calibrated.yaml", dump_profile(report.profile))
    after_problem = Simulator.create(sc, str(out / "calibrated.yaml"))
    after = contenders(after_problem)
    informative = student_learned([record_of_run(problem, d) for d in dirs])
    best = after[0] if informative else decision
    save_plan(best.plan, out / "best.yaml")
    doc.update(
        points=report.points,
        after=[_decision_row(c) for c in after],
        informative=informative,
        changed=best.workflow != decision.workflow,
    )
    show.points(report.points)
    show.decisions("the workflows after the pilots", after)
    if not informative:
        show.line(
            f"the pilots were too short for the student to move above its base at any stage, so the refit extrapolates from nothing: the decision stays {decision.workflow}; wrote it to {out / 'best.yaml'} ({out / 'calibrated.yaml'} holds the refit). Pilot again with a larger --share."
        )
    else:
        verb = "changed" if doc["changed"] else "stayed"
        show.line(
            f"decision {verb}: {decision.workflow} ({100 * decision.final:.1f} predicted) -> {best.workflow} ({100 * best.final:.1f} predicted); wrote {out / 'best.yaml'} and {out / 'calibrated.yaml'}"
        )
    if args.json:
        print(json.dumps(doc, indent=2))
    return 0


def execute_pilots(
    plans: list[Any], out: Path, zoo: Path | None, lanes: int, on_finish: Any = None
) -> list[Path]:
    """Run the pilot plans with ``s2d run`` (``lanes`` at a time, resuming); their run directories."""
    from s2d.compare import Comparison, execute

    comp = Comparison(plan=plans[0], out=out, runs={p.name: p for p in plans})
    execute(comp, zoo, lanes, on_finish=on_finish)
    return [comp.run_dir(p.name) for p in plans]


class _Printer:
    """Tables on the terminal, or nothing until the JSON document at the end."""

    def __init__(self, as_json: bool, unit: str):
        self.as_json, self.unit = as_json, unit
        if not as_json:
            from s2d.console import make_console

            self.console = make_console()

    def line(self, text: str) -> None:
        if not self.as_json:
            self.console.print(text, highlight=False)

    def done(self, doc: dict[str, Any]) -> int:
        if self.as_json:
            import json

            print(json.dumps(doc, indent=2))
        return 0

    def finished(self, outcome: Any) -> None:
        self.line(f"  {outcome.name}: exit {outcome.returncode} in {outcome.seconds:.0f} s")

    def decisions(self, title: str, ranked: list[Any]) -> None:
        if self.as_json:
            return
        from rich.table import Table

        t = Table(title=title, title_justify="left")
        for col in ("workflow", "predicted %", "90% band", self.unit, "chance it beats the first"):
            t.add_column(col, justify="left" if col == "workflow" else "right")
        for i, c in enumerate(ranked):
            low = 100 * max(c.final - 1.645 * c.sd, 0.0)
            high = 100 * min(c.final + 1.645 * c.sd, 1.0)
            t.add_row(
                c.workflow,
                f"{100 * c.final:.1f}",
                f"{low:.1f}-{high:.1f}",
                f"{c.plan.prediction.total_compute:.4g}" if c.plan.prediction else "-",
                "-" if i == 0 else f"{100 * c.chance:.0f}%",
            )
        self.console.print(t)

    def pilots(self, pilots: list[Any]) -> None:
        if self.as_json:
            return
        from rich.table import Table

        t = Table(title="pilots", title_justify="left")
        for col in ("pilot", "steps per stage", self.unit):
            t.add_column(col, justify="left" if col != self.unit else "right")
        for p in pilots:
            steps = ", ".join(f"{s.id} {s.budget.steps}" for s in p.plan.stages if s.budget)
            t.add_row(p.plan.name, steps, f"{p.compute:.4g}")
        self.console.print(t)

    def points(self, points: list[dict[str, Any]]) -> None:
        if self.as_json:
            return
        from rich.table import Table

        t = Table(title="what the pilots measured", title_justify="left")
        for col in ("pilot", "stage", "measured %", "predicted before %", "after refit %"):
            t.add_column(col, justify="left" if col in ("pilot", "stage") else "right")
        for r in points:
            t.add_row(
                r["run"],
                r["stage"],
                f"{100 * r['measured']:.1f}",
                f"{100 * r['prior']:.1f}",
                f"{100 * r['predicted']:.1f}",
            )
        self.console.print(t)
