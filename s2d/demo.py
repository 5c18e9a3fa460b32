"""``s2d demo``: the whole story on the offline toy world, in minutes on a laptop CPU.

1. Build (or reuse) the toy zoo.
2. Plan on the toy scenario with the local-CPU profile: which teacher, how to
   split the scarce labels, how many steps per stage. On the default zoo the
   planner's response profile is the one fitted to the toy replication's
   measured runs (planner/profiles/response_toy_measured.yaml).
3. Run the plan's workflow and the arms it is judged against (direct GRPO with
   the same labels, the bridge from a raw teacher, the replay control), two
   runs side by side. The table needs a four-stage plan; when the planner's
   best plan is another workflow (say, every label on teacher RL and no stage
   3), the demo runs the best four-stage trial for the table and the planner's
   own plan beside it, at its own allocation.
4. Show the runs live, side by side, in ``s2d watch`` on a terminal (the same view as
   ``s2d watch OUT``; a line summary otherwise).
5. Print the paper's table, predicted beside measured, with labels and compute,
   and whether the planner's choice measured best of the workflows run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from planner.calibrate import PAPER_ROWS, check_workflow
from planner.calibrate.arms import ROWS, WORKFLOW_ROWS, Row, row_of
from planner.contracts import Plan, UserError, atomic_write_text
from planner.scenario import PROFILE_DIR

DEMO_LABELS = 400
DEMO_PROMPTS = 2000
# student and teacher per toy preset ("tiny" is the test suite's two-model zoo)
PAIRS = {"default": ("toy:s", "toy:m"), "tiny": ("toy:xs", "toy:s")}
MEASURED_PROFILE = PROFILE_DIR / "response_toy_measured.yaml"
# the table compares stage 3 with the replay control: a plan that holds back a
# handful of labels for stage 3, or never reads them all, would make that row meaningless
MIN_STAGE3_SHARE = 0.25
# the run of the planner's own plan when it is not the four-stage plan the table needs
# (a run and a row of its own: no arm's run or row may share the name)
CHOSEN_RUN = "chosen"
assert CHOSEN_RUN not in {r.key for r in ROWS} | {r.run for r in ROWS}
ROW_LABELS = {r.key: r.label for r in ROWS}


@dataclass
class DemoConfig:
    seed: int = 0
    out: Path = Path("runs/demo")
    budget_cpu_seconds: float = 200.0
    labels: int = DEMO_LABELS
    trials: int = 80
    lanes: int = 2
    tui: bool = True
    cache_dir: Path | None = None
    preset: str = "default"


def scenario_dict(zoo_root: Path, cfg: DemoConfig) -> dict[str, Any]:
    return {
        "kind": "scenario",
        "name": f"toy-demo-seed{cfg.seed}",
        "world": "toy",
        "zoo": str(zoo_root),
        "student": PAIRS[cfg.preset][0],
        "teachers": [PAIRS[cfg.preset][1]],
        "labels": min(cfg.labels, _pool_size(zoo_root, "train")),
        "prompts": min(DEMO_PROMPTS, _pool_size(zoo_root, "prompts")),
        "hardware": {"device": "cpu", "count": cfg.lanes, "probe": False},
        "budget": {"cpu_seconds": cfg.budget_cpu_seconds},
        "seed": cfg.seed,
        # the default zoo's profile is fitted to measured toy runs; the tiny test zoo has none
        **({"profile": str(MEASURED_PROFILE)} if cfg.preset == "default" else {}),
    }


def _pool_size(zoo_root: Path, name: str) -> int:
    with open(zoo_root / "data" / f"{name}.jsonl", encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


@dataclass
class Choice:
    """What the demo runs, and what the planner chose."""

    plan: Plan  # the four-stage plan the demo runs (with the comparison arms built from it)
    best: Plan  # the planner's best plan
    ran_best: bool  # plan is best (eval settings aside); else best runs beside it as CHOSEN_RUN
    notes: list[str]

    def extra_runs(self) -> dict[str, Plan]:
        """The planner's own plan, when the four-stage comparison does not already run it."""
        return {} if self.ran_best else {CHOSEN_RUN: _with_eval_settings(self.best)}

    def extra_predictions(self) -> dict[str, float]:
        """The planner's own prediction for its run beside the comparison."""
        if self.ran_best or self.best.prediction is None:
            return {}
        return {CHOSEN_RUN: self.best.prediction.final_accuracy}

    def extra_rows(self) -> tuple[Row, ...]:
        if self.ran_best:
            return ()
        kind = row_of(self.best)
        what = ROW_LABELS[kind] if kind else self.best.name
        last = [s.id for s in self.best.stages if s.kind != "eval"][-1]
        sources = sorted({s.label_source for s in self.best.stages if s.label_source})
        return (
            Row(
                CHOSEN_RUN,
                f"planner's choice: {what}, own allocation",
                CHOSEN_RUN,
                last,
                " + ".join(f"stage {src.removeprefix('stage')}" for src in sources) or "none",
            ),
        )


def choose_plan(scenario_path: Path, out: Path, cfg: DemoConfig) -> Choice:
    """The planner's best plan if it is a workflow with a real stage 3, else the best such trial."""
    from planner.search import make_plans

    result = make_plans(scenario_path, out=out, trials=cfg.trials, seed=cfg.seed)
    best = result.best
    notes = list(result.notes)
    if best is None:
        raise UserError("the planner found no feasible plan for the demo scenario")
    if _is_demo_workflow(best):
        return Choice(_with_eval_settings(best), best, True, notes)
    workflow = _best_workflow(result)
    if workflow is None:
        raise UserError(
            f"the planner produced no four-stage plan that holds back at least {MIN_STAGE3_SHARE:.0%} of the labels for a stage 3 that reads them all; raise --budget"
        )
    predicted = 100 * best.prediction.final_accuracy if best.prediction else float("nan")
    notes.append(
        f"the planner's best plan is {best.name} (predicted {predicted:.1f}%), not a four-stage plan; the demo runs it as '{CHOSEN_RUN}' beside the best four-stage plan that holds back at least {MIN_STAGE3_SHARE:.0%} of the labels for a stage 3 that reads them all, and the comparison arms built from that"
    )
    # the two plans come from one study and share the scenario's name: tell them apart
    workflow = replace(workflow, name=f"{workflow.name}-four-stage")
    return Choice(_with_eval_settings(workflow), best, False, notes)


def verdict(rows: list[dict[str, Any]], choice: Choice) -> tuple[str, dict[str, Any]]:
    """Whether the planner's choice measured best of the workflows run (the replay control aside).

    The planner's choice is the four-stage plan's ``full`` row when that plan is the
    planner's best, else its own run beside it (CHOSEN_RUN). ``planner_choice`` is that
    row's key, so it equals ``measured_best`` exactly when the regret is 0;
    ``planner_kind`` is which workflow the plan is (planner.calibrate.arms.row_of).
    """
    four_stage = "" if choice.ran_best else "the four-stage plan's "
    labels = {r.key: four_stage + r.label for r in ROWS}
    labels[CHOSEN_RUN] = "the planner's own plan"
    measured = {
        r["key"]: float(r["measured"])
        for r in rows
        if r["key"] in (*WORKFLOW_ROWS, CHOSEN_RUN) and r["measured"] is not None
    }
    kind = row_of(choice.best)
    mine = "full" if choice.ran_best else CHOSEN_RUN  # a best plan the demo runs is four-stage
    out: dict[str, Any] = {
        "planner_plan": choice.best.name,
        "planner_kind": kind,
        "planner_choice": mine,
    }
    if not measured:
        return "no workflow was measured: nothing to judge the planner's choice by", out
    best = max(measured, key=measured.__getitem__)
    if measured.get(mine) == measured[best]:
        best = mine  # on a tie the planner's choice is the one measured best
    out["measured_best"] = best
    top = f"{labels[best]} measured best ({100 * measured[best]:.1f}%)"
    if choice.ran_best:
        what = f"the planner chose the {labels['full']}"
    else:
        shape = f"the {ROW_LABELS[kind]}" if kind else "none of the paper's workflows"
        what = f"the planner's own plan ({choice.best.name}: {shape}, run at its own allocation)"
    if mine not in measured:
        return f"{what}, which was not measured; {top}", out
    regret = 100 * (measured[best] - measured[mine])
    out["regret_points"] = round(regret, 2)
    if regret <= 0:
        return f"{what}: it measured best of the workflows ({100 * measured[mine]:.1f}%)", out
    return f"{what}: {100 * measured[mine]:.1f}%, {regret:.1f} points under the best; {top}", out


def _is_demo_workflow(plan: Plan) -> bool:
    """Four stages with a stage 3 worth comparing against the replay control."""
    try:
        check_workflow(plan)
    except UserError:
        return False
    rl = plan.stage("student_rl").budget
    assert rl is not None
    return (
        plan.labels.stage3 >= MIN_STAGE3_SHARE * plan.labels.pool
        and rl.steps * rl.prompts_per_step >= plan.labels.stage3  # reads each of its labels
    )


def _best_workflow(result: Any) -> Plan | None:
    """The best demo workflow among the study's trials (each trial carries its plan)."""
    import optuna

    from planner.contracts import plan_from_dict
    from planner.search import open_storage

    study = optuna.load_study(
        study_name=result.study_name, storage=open_storage(result.storage_url)
    )
    best: tuple[float, Plan] | None = None
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        data = trial.user_attrs.get("plan")
        if not data:
            continue
        plan = plan_from_dict(data, f"trial {trial.number}")
        if not _is_demo_workflow(plan):
            continue
        acc = plan.prediction.final_accuracy if plan.prediction else 0.0
        if best is None or acc > best[0]:
            best = (acc, plan)
    return best[1] if best else None


def _with_eval_settings(plan: Plan) -> Plan:
    from planner.contracts import EvalOptions

    return replace(
        plan,
        evaluation=EvalOptions(
            k=4, temperature=1.0, top_p=1.0, max_new_tokens=48, greedy=True, max_problems=200
        ),
    )


def run_demo(cfg: DemoConfig, console: Any) -> int:
    from rich.text import Text

    from s2d import compare

    t0 = time.perf_counter()
    zoo = _zoo(cfg, console)
    cfg.out.mkdir(parents=True, exist_ok=True)
    scenario_path = atomic_write_text(
        cfg.out / "scenario.yaml", yaml.safe_dump(scenario_dict(zoo.root, cfg), sort_keys=False)
    )
    choice = choose_plan(scenario_path, cfg.out / "planner", cfg)
    plan = choice.plan
    for note in choice.notes:
        console.print(Text.assemble(("planner:", "dim"), f" {note}"))
    comp = compare.prepare(plan, cfg.out, PAPER_ROWS, choice.extra_runs())
    predicted = {
        **compare.predictions(plan, scenario_path, PAPER_ROWS),
        **choice.extra_predictions(),
    }
    console.print(f"running {', '.join(comp.runs)} in {cfg.out} ({cfg.lanes} at a time)")

    errors: list[BaseException] = []

    def work() -> None:
        try:
            compare.execute(
                comp,
                zoo.root,
                cfg.lanes,
                on_finish=lambda o: console.print(
                    f"  {o.name}: {'done' if o.returncode == 0 else 'FAILED'} in {o.seconds:.0f} s"
                ),
            )
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    if cfg.tui:
        watch_app(comp).run()
        if worker.is_alive():
            console.print(
                "watch closed; the runs go on, waiting for them to finish (Ctrl-C stops them at a checkpoint)"
            )
    worker.join()
    if errors:
        raise errors[0]
    rows = compare.table_rows(comp, PAPER_ROWS, predicted, extra=choice.extra_rows())
    print_table(console, rows, plan)
    line, judged = verdict(rows, choice)
    console.print(Text.assemble(("planner:", "bold"), f" {line}"))
    wall = time.perf_counter() - t0
    console.print(
        f"demo wall time: {wall / 60:.1f} min ({wall:.0f} s; zoo {'reused' if zoo.reused else f'built in {zoo.build_seconds:.0f} s'}); runs and plans in {cfg.out}"
    )
    atomic_write_text(
        cfg.out / "summary.yaml",
        yaml.safe_dump(
            {
                "seed": cfg.seed,
                "wall_seconds": round(wall, 1),
                "zoo_reused": zoo.reused,
                **judged,
                "rows": rows,
            },
            sort_keys=False,
        ),
    )
    return 0


def watch_app(comp: Any) -> Any:
    """The side-by-side dashboard of the demo's runs, each waited for until it starts."""
    from tui.compare import Sources
    from tui.watch_app import make_compare_app

    return make_compare_app(Sources(runs=[comp.run_dir(name) for name in comp.runs]), follow=True)


def _zoo(cfg: DemoConfig, console: Any) -> Any:
    from s2d.commands.toy import build_with_progress

    pair = [ref.removeprefix("toy:") for ref in PAIRS[cfg.preset]]
    zoo = build_with_progress(console, cfg.cache_dir, 0, cfg.preset, False, 2, pair)
    console.print(f"toy zoo: {'reused' if zoo.reused else 'built'} at {zoo.root}", soft_wrap=True)
    return zoo


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def print_table(console: Any, rows: list[dict[str, Any]], plan: Plan) -> None:
    from rich.table import Table

    t = Table(
        title=f"sparse-to-dense on the toy world (student {plan.student.name}, teacher {plan.teacher.name if plan.teacher else '-'}); held-out accuracy, %"
    )
    for col, justify in (
        ("setting", "left"),
        ("predicted", "right"),
        ("measured (avg@k, T=1)", "right"),
        ("greedy", "right"),
        ("labels", "right"),
        ("CPU-seconds", "right"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        t.add_row(
            r["setting"],
            _pct(r["predicted"]),
            _pct(r["measured"]),
            _pct(r["greedy"]),
            str(r["labels"]),
            f"{r['cpu_seconds']:.0f}",
        )
    console.print(t)
