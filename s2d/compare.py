"""Run the paper's comparison (a workflow plan and its arms) and tabulate predicted vs measured.

Used by ``s2d demo`` and by the toy replication study. Runs are separate
``s2d run`` processes, one torch thread each, in lanes that run side by side
(on two cores, two one-thread processes beat one two-thread process for models
this small). Arms that start from the workflow's checkpoints wait for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.calibrate import ROWS, Row, arm_plans, zoo_models
from planner.contracts import Plan, RunDir, Spend, UserError, read_events, save_plan

# Runs that read the workflow's checkpoints must start after it.
AFTER_WORKFLOW = {"replay", "opd_only"}


@dataclass
class RunOutcome:
    name: str
    run_dir: Path
    returncode: int | None = None
    seconds: float = 0.0


@dataclass
class Comparison:
    plan: Plan
    out: Path
    runs: dict[str, Plan]
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)

    def run_dir(self, name: str) -> Path:
        return self.out / name


def planned_work(plan: Plan, params: Mapping[str, float] | None = None) -> float:
    """A run's planned work, to order runs by: tokens each stage samples, times the parameters
    that process them (the teacher's too where it scores the student's tokens).

    ``params`` maps model paths to parameter counts (the toy zoo's); a path it lacks counts 1.
    """
    params = params or {}
    total = 0.0
    for stage in plan.stages:
        if stage.budget is None or not stage.trains:
            continue
        b = stage.budget
        tokens = b.steps * b.prompts_per_step * b.samples_per_prompt * b.max_new_tokens
        model = plan.teacher if stage.model == "teacher" else plan.student
        weight = params.get(model.path, 1.0) if model is not None else 1.0
        if stage.distils and plan.teacher is not None:
            weight += params.get(plan.teacher.path, 1.0)
        total += tokens * weight
    return total


class Schedule:
    """Which run a free lane starts next: the ready run whose chain has the most work left.

    A run in AFTER_WORKFLOW is ready once the workflow has finished; a run's chain is its own
    work plus, for the workflow, that of the runs waiting for it (the longest-first rule
    applied to the critical path). Lanes take runs as they free up, so a lane that drew short
    runs takes more of them. After a failure nothing new starts.
    """

    def __init__(self, work: Mapping[str, float]) -> None:
        self.work = dict(work)
        self.pending = list(work)
        self.done: set[str] = set()
        self.failed = False
        waiting = sum(w for n, w in work.items() if n in AFTER_WORKFLOW)
        self.chain = {n: w + (waiting if n == "workflow" else 0.0) for n, w in work.items()}
        self._cond = threading.Condition()

    def _ready(self, name: str) -> bool:
        return name not in AFTER_WORKFLOW or "workflow" not in self.work or "workflow" in self.done

    def next_ready(self) -> str | None:
        """The run to start now, or None when none is ready (without waiting)."""
        if self.failed:
            return None
        ready = [n for n in self.pending if self._ready(n)]
        return max(ready, key=lambda n: self.chain[n]) if ready else None

    def take(self, block: bool = True) -> str | None:
        """Claim the next ready run, waiting for one unless ``block`` is False; None once
        nothing is left to start (or, without blocking, nothing is ready now)."""
        with self._cond:
            while True:
                name = self.next_ready()
                if name is not None:
                    self.pending.remove(name)
                    return name
                if self.failed or not self.pending or not block:
                    return None
                self._cond.wait()

    def finish(self, name: str, ok: bool) -> None:
        with self._cond:
            if ok:
                self.done.add(name)
            else:
                self.failed = True
            self._cond.notify_all()


def _zoo_params(zoo_root: Path | None) -> dict[str, float]:
    """Parameter counts of the toy zoo's models by path (``toy:s``), {} without a readable zoo."""
    try:
        return {m["name"]: float(m["params"]) for m in zoo_models(zoo_root)}
    except (UserError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # only the order runs start in depends on it


def _as_trained(plan: Plan, workflow: Plan, params: Mapping[str, float]) -> dict[str, float]:
    """``params`` with the run's models that start from the workflow's checkpoints (the
    replay control's student, OPD only's teacher) counted as the models they were trained from."""
    out = dict(params)
    for role in ("student", "teacher"):
        mine, base = getattr(plan, role), getattr(workflow, role)
        if mine is not None and base is not None and mine.path not in out and base.path in params:
            out[mine.path] = params[base.path]
    return out


def prepare(
    plan: Plan, out: Path, rows: tuple[str, ...], extra: Mapping[str, Plan] | None = None
) -> Comparison:
    """The workflow, the arms the rows need, and ``extra`` runs (name -> plan) beside them."""
    out.mkdir(parents=True, exist_ok=True)
    runs = arm_plans(plan, (out / "workflow").resolve(), rows)
    for name, p in (extra or {}).items():
        if name in runs:
            raise ValueError(f"run {name!r} is already one of the comparison's runs")
        runs[name] = p
    for name, p in runs.items():
        save_plan(p, out / "plans" / f"{name}.yaml")
    return Comparison(plan=plan, out=out, runs=runs)


def print_outcome(outcome: RunOutcome) -> None:
    """One line per finished run, for scripts that run comparisons (``execute``'s ``on_finish``)."""
    print(f"  {outcome.name}: exit {outcome.returncode} in {outcome.seconds:.0f} s", flush=True)


def execute(
    comp: Comparison,
    zoo_root: Path | None,
    n_lanes: int = 2,
    on_finish: Callable[[RunOutcome], None] | None = None,
) -> None:
    """Run every plan of the comparison (resuming finished ones) and wait for all lanes."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    failures: list[str] = []

    params = _zoo_params(zoo_root)
    schedule = Schedule(
        {name: planned_work(p, _as_trained(p, comp.plan, params)) for name, p in comp.runs.items()}
    )

    def run_one(name: str) -> bool:
        run_dir = comp.run_dir(name)
        outcome = RunOutcome(name, run_dir)
        t0 = time.perf_counter()
        with open(comp.out / f"{name}.log", "a", encoding="utf-8") as log:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "s2d",
                    "run",
                    str(comp.out / "plans" / f"{name}.yaml"),
                    "--run-dir",
                    str(run_dir),
                    *(["--toy-zoo", str(zoo_root)] if zoo_root is not None else []),
                    "--quiet",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        outcome.returncode, outcome.seconds = proc.returncode, time.perf_counter() - t0
        comp.outcomes[name] = outcome
        if proc.returncode != 0:
            failures.append(f"{name} (exit {proc.returncode}, see {comp.out / (name + '.log')})")
        if on_finish is not None:
            on_finish(outcome)
        return proc.returncode == 0

    def lane() -> None:
        while (name := schedule.take()) is not None:
            ok = False
            try:
                ok = run_one(name)
            except Exception as exc:  # a lane that dies must not leave the others waiting
                failures.append(f"{name} ({type(exc).__name__}: {exc})")
            finally:
                schedule.finish(name, ok)

    threads = [
        threading.Thread(target=lane, daemon=True)
        for _ in range(max(1, min(n_lanes, len(comp.runs))))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise UserError("runs failed: " + "; ".join(failures))


@dataclass
class Measured:
    accuracy: float | None = None  # sampled avg@k, 0..1
    greedy: float | None = None
    labels: int = 0
    cpu_seconds: float = 0.0
    gpu_hours: float = 0.0
    wall_seconds: float = 0.0


def _spent_by_stage(run_dir: Path) -> dict[str, Spend]:
    out: dict[str, Spend] = {}
    for e in read_events(RunDir(run_dir).events):
        if e.kind == "stage_end" and e.get("spent"):
            out[e["stage"]] = Spend.from_dict(e["spent"])
    return out


def _eval_after(
    run_dir: Path, stage: str, benchmark: str | None
) -> tuple[float | None, float | None]:
    acc = greedy = None
    path = RunDir(run_dir).events
    if not path.exists():
        return None, None
    for e in read_events(path):
        if (
            e.kind == "eval"
            and e["stage"] == stage
            and (benchmark is None or e["benchmark"] == benchmark)
        ):
            acc, greedy = e["accuracy"], e.get("greedy_accuracy")
    return acc, greedy


# Workflow stages each row's pipeline also went through (reused checkpoints cost what they cost once).
REUSED = {"replay": ("teacher_rl", "warmup", "opd"), "opd_only": ("teacher_rl",)}
PIPELINE_UNTIL = {"rl_bridge": "opd", "full": "student_rl", "warmup_only": "warmup"}


def measure(comp: Comparison, row: Row, benchmark: str | None = None) -> Measured:
    run_dir = comp.run_dir(row.run)
    m = Measured()
    if not RunDir(run_dir).events.exists():
        return m
    m.accuracy, m.greedy = _eval_after(run_dir, row.stage, benchmark)
    spent = Spend()
    stage_ids = [s.id for s in comp.runs[row.run].stages]
    if row.key in PIPELINE_UNTIL:
        stage_ids = stage_ids[: stage_ids.index(PIPELINE_UNTIL[row.key]) + 1]
    by_stage = _spent_by_stage(run_dir)
    for sid in stage_ids:
        spent = spent + by_stage.get(sid, Spend())
    workflow = _spent_by_stage(comp.run_dir("workflow")) if row.key in REUSED else {}
    for sid in REUSED.get(row.key, ()):
        spent = spent + workflow.get(sid, Spend())
    plan = comp.runs[row.run]
    labels_read = {s.label_source for s in plan.stages if s.label_source and s.id in stage_ids}
    if row.key in REUSED:
        labels_read.add("stage1")
    m.labels = sum(getattr(plan.labels, src) for src in labels_read)
    m.cpu_seconds, m.gpu_hours, m.wall_seconds = (
        spent.cpu_seconds,
        spent.gpu_hours,
        spent.wall_seconds,
    )
    return m


def predictions(
    plan: Plan, scenario_path: Path | None, rows: tuple[str, ...], profile: Path | None = None
) -> dict[str, float | None]:
    """Predicted accuracy of each row from the planner's simulator (None when it cannot say)."""
    if scenario_path is None:
        return {k: None for k in rows}
    from planner.calibrate import prediction_plan
    from planner.scenario import load_scenario
    from planner.simulator import Simulator, simulate_plan

    problem = Simulator.create(load_scenario(scenario_path), str(profile) if profile else None)
    out: dict[str, float | None] = {}
    for row in ROWS:
        if row.key not in rows:
            continue
        try:
            pred = simulate_plan(problem, prediction_plan(plan, row.key)).prediction
            out[row.key] = (
                pred.stages[row.stage].accuracy if pred and row.stage in pred.stages else None
            )
        except UserError:
            out[row.key] = None
    return out


def table_rows(
    comp: Comparison,
    rows: tuple[str, ...],
    predicted: dict[str, Any],
    benchmark: str | None = None,
    extra: tuple[Row, ...] = (),
) -> list[dict[str, Any]]:
    """The table's rows in ROWS order, then ``extra`` rows (each read from its own run)."""
    out = []
    for row in (*(r for r in ROWS if r.key in rows), *extra):
        m = measure(comp, row, benchmark)
        out.append(
            {
                "key": row.key,
                "setting": row.label,
                "predicted": predicted.get(row.key),
                "measured": m.accuracy,
                "greedy": m.greedy,
                "labels": m.labels,
                "cpu_seconds": m.cpu_seconds,
                "gpu_hours": m.gpu_hours,
                "wall_seconds": m.wall_seconds,
            }
        )
    return out
