"""From a scenario file to emitted plans: check feasibility, search, emit, optionally check.

What ``s2d plan`` runs, usable from Python (the TUI's explorer and the tests
call it directly). The budget is checked first: a budget below the cheapest
runnable plan is refused with that plan's cost, before any trial runs, and so
is a scenario where no plan fits in the devices' memory, with each stage's
figures (planner/simulator/memory.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.contracts.errors import UserError
from planner.contracts.files import check_output_path
from planner.contracts.plan import Plan
from planner.scenario.spec import load_scenario
from planner.search import space
from planner.search.emit import plan_for, warmup_only
from planner.search.optimize import SearchConfig, best_params, pareto_params, run_search
from planner.search.stale_trials import recover_study
from planner.search.storage import check_storage_path, open_storage, storage_url
from planner.simulator.simulator import Simulator


@dataclass
class PlanResult:
    best: Plan | None
    front: list[Plan]
    out_dir: Path
    storage_url: str
    study_name: str
    n_trials: int
    check: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def check_feasible(problem: Simulator) -> None:
    sc = problem.sc
    cost, what = problem.costs.cheapest_plan()
    if sc.budget < cost:
        unit = sc.compute_unit.replace("_", "-")
        raise UserError(
            f"{sc.source}: the budget of {sc.budget:g} {unit} is below the cheapest feasible plan ({what}: {cost:.4g} {unit}). Raise budget.{sc.compute_unit} to at least {cost:.4g}, or use cheaper hardware settings."
        )


def plans_from_params(
    problem: Simulator, params_list: list[dict[str, Any]], prefix: str | None = None
) -> list[Plan]:
    ev = space.evaluate_params(problem, params_list)
    warmup = warmup_only(problem.sc, ev.pop, problem.profile.params)
    plans = []
    for i in range(len(params_list)):
        if ev.valid[i]:
            name = f"{prefix}-{i:02d}" if prefix else None
            plans.append(
                plan_for(
                    problem.sc,
                    ev,
                    i,
                    problem.profile.name,
                    name,
                    problem.profile.params.band_z,
                    problem.profile.params,
                    warmup,
                )
            )
    return plans


def notes_for(problem: Simulator, best: Plan | None) -> list[str]:
    sc = problem.sc
    notes = []
    if sc.labels == 0:
        notes.append(
            f"no labels: GRPO (teacher or student) is impossible; the best possible is the bridge from a raw teacher, predicted {100 * (best.prediction.final_accuracy if best and best.prediction else 0):.1f} on {sc.benchmark} against {100 * sc.student.accuracy(sc.benchmark, 'student'):.1f} untrained. Labels would let teacher RL shape the teacher first (C1)."
        )
    notes += [
        f"does not fit in memory, so no plan has it: {what}." for what in problem.costs.blocked()
    ]
    if best is not None and best.prediction is not None:
        sharded = [s for s, p in best.prediction.stages.items() if p.sharding == "full"]
        if sharded:
            hw = sc.hardware
            notes.append(
                f"{', '.join(sharded)} fit{'s' if len(sharded) == 1 else ''} in memory only with parameters, gradients and optimizer state sharded over the {hw.count} x {hw.name} (sharding: full in the plan's prediction): run {'it' if len(sharded) == 1 else 'them'} under an FSDP or ZeRO-3 launcher config, e.g. `s2d run --launcher accelerate --accelerate-config examples/accelerate/fsdp_8gpu.yaml` with num_processes set to {hw.count}."
            )
    if best is not None:
        from planner.simulator.plans import evidence_warnings

        notes += evidence_warnings(problem, best)
    if sc.world == "toy" and sc.zoo:
        from planner.calibrate.records import zoo_notice

        notice = zoo_notice(Path(sc.zoo))
        if notice:
            notes.append(notice)
    if best is not None and best.teacher is None and sc.teachers and sc.labels > 0:
        notes.append(
            "direct GRPO wins here: the budget is too small for teacher RL to pay for itself through the bridge."
        )
    return notes


def make_plans(
    scenario: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    trials: int = 200,
    seed: int = 0,
    sampler: str = "s2d",
    storage: str | None = None,
    study: str | None = None,
    workers: int = 1,
    pareto: bool = False,
    check: bool = False,
    profile: str | None = None,
    progress: Any = None,
) -> PlanResult:
    """``s2d plan`` from Python; ``progress`` (optional) gets the best objective after each round."""
    sc = load_scenario(scenario)
    problem = Simulator.create(sc, profile)
    check_feasible(problem)
    out_dir = Path(out) if out else Path("plans") / sc.name
    url = storage_url(storage, out_dir)
    name = study or f"s2d-{sc.name}{'-pareto' if pareto else ''}"
    cfg = SearchConfig(
        trials=trials,
        seed=seed,
        sampler=sampler,
        pareto=pareto,
        storage=url,
        study_name=name,
        workers=workers,
    )
    # before any directory is made: either may be refused
    check_output_path(out_dir, "dir", "--out" if out else "plan directory")
    check_storage_path(url, write=True)
    storage_handle = open_storage(url)
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = recover_study(storage_handle, name)
    result_study = run_search(
        problem, cfg, storage_handle, str(Path(scenario).resolve()), profile, progress
    )
    best: Plan | None = None
    front: list[Plan] = []
    if pareto:
        front = plans_from_params(problem, pareto_params(result_study), prefix=f"{sc.name}-pareto")
    else:
        found = plans_from_params(problem, [best_params(result_study)])
        best = found[0] if found else None
    result = PlanResult(
        best,
        front,
        out_dir,
        url,
        name,
        len(result_study.get_trials(deepcopy=False)),
        notes=notes_for(problem, best),
    )
    if stale:
        result.notes.append(
            f"marked failed {len(stale)} trial(s) that a worker which died had left running (number {', '.join(map(str, stale))}); the study went on from its finished trials."
        )
    if check and not pareto:
        from planner.search.grid import grid_search

        g = grid_search(problem)
        search_best = float(result_study.best_value)
        result.check = {
            "search_best": search_best,
            "grid_best": g.best_objective,
            "gap": search_best - g.best_objective,
            "grid_points": g.evaluated,
            "grid_seconds": g.seconds,
            "grid_params": g.best_params,
        }
    return result
