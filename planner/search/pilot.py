"""Pilot runs: the cheapest short runs that would most change the planner's decision.

The decision is which workflow to run: direct GRPO, or for a teacher the raw
bridge, the raw bridge then stage 3, the RL-teacher bridge, or all four
stages. ``contenders`` scores the reference grid (planner/search/grid.py) and
keeps the best allocation of each workflow; the one with the best objective is
the decision. A rival could change it in proportion to the chance that it is
in fact better, ``P = Phi((mu_rival - mu_best) / sqrt(sd_rival^2 + sd_best^2))``
under the model's bands. ``propose`` pilots the decision and its most likely
rivals (chance at least ``min_chance``, at most ``max_pilots`` in all): each
pilot is its workflow's plan with every stage's steps scaled by one factor,
so that all pilots together spend ``share`` of the scenario's budget. A
decision no rival is likely to overturn gets no pilot at all.

What a pilot measures (the accuracy after each stage of a short run of the
workflow) is what ``s2d calibrate`` fits (planner/calibrate/from_runs.py);
``s2d pilot`` runs the pilots, refits and plans again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from planner.contracts.plan import Plan
from planner.search.emit import plan_for
from planner.search.grid import lattice
from planner.simulator.plans import simulate_plan
from planner.simulator.population import NONE, Evaluated
from planner.simulator.simulator import Simulator


@dataclass
class Contender:
    workflow: str  # "direct GRPO", "<teacher>: raw bridge", ...
    plan: Plan  # the workflow's best plan at the full budget
    objective: float
    final: float
    sd: float
    chance: float = 1.0  # that it beats the decision (1 for the decision itself)


@dataclass
class Pilot:
    contender: Contender
    plan: Plan  # the short run
    compute: float


def workflow_of(ev: Evaluated, i: int, teachers: list[str]) -> str:
    t = int(ev.pop.teacher[i])
    if t == NONE:
        return "direct GRPO"
    rl1 = ev.pop.steps["teacher_rl"][i] > 0
    rl3 = ev.pop.steps["student_rl"][i] > 0
    bridge = "RL-teacher bridge" if rl1 else "raw bridge"
    return f"{teachers[t]}: {bridge}{' + stage 3' if rl3 else ''}"


def contenders(problem: Simulator, label_steps: int = 10, share_steps: int = 10) -> list[Contender]:
    """The best allocation of each workflow on the grid, best objective first, each rival's chance set."""
    sc = problem.sc
    names = [t.name for t in sc.teachers]
    z = problem.profile.params.band_z
    best: dict[str, tuple[float, Evaluated, int]] = {}
    for t, f, sh in lattice(problem, label_steps, share_steps):
        ev = problem.evaluate(t, f, sh)
        for i in np.flatnonzero(ev.valid):
            key = workflow_of(ev, int(i), names)
            if key not in best or ev.objective[i] > best[key][0]:
                best[key] = (float(ev.objective[i]), ev, int(i))
    out = [
        Contender(
            key,
            plan_for(sc, ev, i, problem.profile.name, None, z, problem.profile.params),
            objective,
            float(ev.final_acc[i]),
            float(ev.sd_final[i]),
        )
        for key, (objective, ev, i) in best.items()
    ]
    out.sort(key=lambda c: -c.objective)
    for rival in out[1:]:
        rival.chance = chance_better(rival, out[0])
    return out


def student_learned(records: list[dict]) -> bool:
    """Whether any pilot measured its student above its own base by more than twice the noise.

    A pilot too short for the student to move (the toy world's warmup first costs
    accuracy before it gives any) says how short runs start, not where full-length
    ones end: a refit on it alone extrapolates from nothing.
    """
    for rec in records:
        base = rec["measured"].get("base")
        if base is None:
            continue
        roles = {s["id"]: s["role"] for s in rec["stages"] if s["own"]}
        for stage, m in rec["measured"].items():
            if roles.get(stage) not in ("warmup", "opd", "student_rl"):
                continue
            noise = math.sqrt(
                sum(
                    max(x["accuracy"] * (1 - x["accuracy"]), 1e-4) / max(x["n"] * max(x["k"], 1), 1)
                    for x in (m, base)
                )
            )
            if m["accuracy"] > base["accuracy"] + 2 * noise:
                return True
    return False


def chance_better(rival: Contender, decision: Contender) -> float:
    """P(rival's final accuracy > the decision's) under the two bands, taken as independent."""
    spread = math.hypot(rival.sd, decision.sd)
    if spread <= 0:
        return float(rival.final > decision.final)
    return 0.5 * math.erfc(-(rival.final - decision.final) / spread / math.sqrt(2))


def shortened(problem: Simulator, plan: Plan, factor: float, name: str) -> Plan:
    """``plan`` with every stage's steps scaled by ``factor`` (at least one), predicted again."""
    stages = [
        replace(s, budget=replace(s.budget, steps=max(1, round(s.budget.steps * factor))))
        if s.budget is not None
        else s
        for s in plan.stages
    ]
    return simulate_plan(problem, replace(plan, name=name, stages=stages, prediction=None))


SHORT = {
    "direct GRPO": "direct",
    "RL-teacher bridge": "rl",
    "raw bridge": "raw",
    " + stage 3": "-s3",
}


def _slug(workflow: str) -> str:
    """A short run name for a workflow: ``toy-l-rl-s3``, ``direct``."""
    for long, short in SHORT.items():
        workflow = workflow.replace(long, short)
    return "-".join("".join(c if c.isalnum() or c == "-" else " " for c in workflow).split())


def propose(
    problem: Simulator,
    share: float = 0.5,
    max_pilots: int = 3,
    min_chance: float = 0.1,
    found: list[Contender] | None = None,
) -> tuple[list[Contender], list[Pilot]]:
    """The workflows' contenders (decision first, each rival's chance set) and the pilots to run."""
    ranked = found if found is not None else contenders(problem)
    if not ranked:
        return [], []
    decision, rivals = ranked[0], ranked[1:]
    likely = sorted((r for r in rivals if r.chance >= min_chance), key=lambda r: -r.chance)
    chosen = [decision, *likely[: max(max_pilots - 1, 0)]] if likely else []
    if not chosen:
        return ranked, []
    full = sum(c.plan.prediction.total_compute for c in chosen if c.plan.prediction)
    factor = min(1.0, share * problem.sc.budget / max(full, 1e-12))
    pilots = []
    for c in chosen:
        plan = shortened(problem, c.plan, factor, f"pilot-{_slug(c.workflow)}")
        assert plan.prediction is not None
        pilots.append(Pilot(c, plan, plan.prediction.total_compute))
    return ranked, pilots
