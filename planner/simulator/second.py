"""The second response model in the planner: allocations and plans read as its points.

A profile file with ``model: response_v2`` (written by
``examples/measured_runs/fit_profile.py``; the shipped one is
planner/profiles/response_v2.yaml, fitted on planner/data/measured_runs.jsonl)
holds a fit of planner/simulator/response_v2.py: the parameters in their free
space, their posterior covariance and the structural spread per world. With
it the search scores each allocation by the same function the fit and its
out-of-sample checks used, and the band of every prediction comes from the
fit (covariance through the gradient plus the world's structural sd), widened
by ``interpolated_sd_factor`` where a model's figures are estimated and, by the
fit itself, where an allocation's stage budgets lie outside what it measured
(``past_evidence`` names them for a plan).

Two readers, one counting. ``population_points`` builds the points of a
whole population of allocations at once (the search); ``plan_record`` writes a
plan as a record and planner/simulator/pipelines.py reads it (``s2d
simulate``), exactly as a measured run is read. A test holds the two equal on
emitted plans.

A scenario's world maps onto the fit's: ``toy`` is the toy world, a real
scenario is the paper's (real LMs on MATH-style problems). A base accuracy the
shipped model table derives rather than measures (the 8B and 14B teachers)
gets the shift the fit estimated for it; a figure the scenario gives is taken
as given.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.contracts.errors import UserError
from planner.scenario.models import ModelProfile, shipped_models
from planner.scenario.spec import Scenario
from planner.simulator import response_v2 as M
from planner.simulator.pipelines import OUTPUT, SLOPE, features, stage_row
from planner.simulator.response import Outputs
from planner.simulator.response_v2 import SecondParams

if TYPE_CHECKING:
    from planner.contracts.plan import Plan
    from planner.simulator.population import Population

WORLD = {"toy": "toy", "real": "paper"}
TEACHER, BRIDGE, FINAL = OUTPUT["teacher_rl"], OUTPUT["opd"], OUTPUT["student_rl"]


def world_of(sc: Scenario) -> str:
    return WORLD[sc.world]


def _derived(m: ModelProfile, bench: str) -> bool:
    """Whether ``m``'s base on ``bench`` is the shipped table's derived figure (not one the scenario gave)."""
    shipped = shipped_models().get(m.name)
    return (
        shipped is not None
        and "derived" in shipped.provenance
        and "accuracy from the scenario" not in m.provenance
        and shipped.base_accuracy.get(bench) == m.base_accuracy.get(bench)
    )


def model_facts(m: ModelProfile | None, sc: Scenario) -> dict[str, Any] | None:
    """A scenario model as a record's model entry (planner/calibrate/records.py)."""
    if m is None:
        return None
    world = world_of(sc)
    ref, bench = M.REFERENCE[world], sc.benchmark
    where = f"{sc.source}: {m.name} (the second response model reads each model on {ref})"
    by_benchmark = {ref: m.accuracy(ref, where), bench: m.accuracy(bench, where)}
    return {
        "name": m.name,
        "params": m.params,
        "accuracy": by_benchmark[bench],
        "greedy": m.greedy_accuracy.get(ref),
        "base": "derived" if _derived(m, ref) else "measured",
        "by_benchmark": by_benchmark,
    }


def _shift(shifted: list[str], facts: dict[str, Any] | None, key: str) -> int:
    if facts is None or facts["base"] != "derived" or key not in shifted:
        return -1
    return shifted.index(key)


def population_points(sc: Scenario, pop: Population, fit: M.Fitted, output: int) -> M.Points:
    """Every allocation of ``pop`` as one point of the second model, read at ``output``."""
    from planner.simulator.population import NONE

    n = len(pop)
    world, bench = world_of(sc), sc.benchmark
    ref = M.REFERENCE[world]
    t = pop.teacher
    has_t = t != NONE
    idx = np.maximum(t, 0)
    student = model_facts(sc.student, sc)
    assert student is not None
    teachers = [model_facts(m, sc) for m in sc.teachers] or [None]

    def col(values: list[Any]) -> np.ndarray:
        return np.asarray(values, dtype=float)[idx]

    def t_col(f: Any, default: float) -> np.ndarray:
        return np.where(has_t, col([f(m) if m else default for m in teachers]), default)

    def greedy(m: dict[str, Any] | None) -> float:
        g = m.get("greedy") if m else None
        return float(g) if g is not None else float("nan")

    shifted = fit.shifted

    def key(m: dict[str, Any] | None) -> str:
        name = m["name"] if m else ""
        return f"{name}@{bench}" if bench != ref else name

    sh = sc.shapes
    full = np.full(n, 1.0)
    return M.Points(
        world=np.full(n, M.WORLDS.index(world)),
        slope=np.full(n, SLOPE.get(bench, 0)),
        output=np.full(n, output),
        base_ref_s=full * student["by_benchmark"][ref],
        base_b_s=full * student["accuracy"],
        greedy_s=full * greedy(student),
        n_s=full * student["params"],
        has_t=has_t,
        base_ref_t=t_col(lambda m: m["by_benchmark"][ref], 0.5),
        base_b_t=t_col(lambda m: m["accuracy"], 0.5),
        greedy_t=np.where(has_t, col([greedy(m) for m in teachers]), np.nan),
        n_t=t_col(lambda m: m["params"], student["params"]),
        labels1=np.asarray(pop.labels1, dtype=float),
        visits1=pop.steps["teacher_rl"] * float(sh["teacher_rl"].prompts_per_step),
        group1=full * sh["teacher_rl"].samples_per_prompt,
        warmup=pop.steps["warmup"] * float(sh["warmup"].sequences),
        opd=pop.steps["opd"] * float(sh["opd"].sequences),
        prompts=full * max(float(sc.prompts), 1.0),
        labels3=np.where(has_t, pop.labels3, sc.labels).astype(float),
        visits3=pop.steps["student_rl"] * float(sh["student_rl"].prompts_per_step),
        group3=full * sh["student_rl"].samples_per_prompt,
        replay=np.zeros(n, dtype=bool),
        shift_s=np.full(n, _shift(shifted, student, student["name"])),
        shift_t=np.where(
            has_t, np.array([_shift(shifted, m, m["name"] if m else "") for m in teachers])[idx], -1
        ),
        # on the reference benchmark the readout starts from the reference base, shift and all
        shift_bs=np.full(n, _shift(shifted, student, key(student))),
        shift_bt=np.where(has_t, np.array([_shift(shifted, m, key(m)) for m in teachers])[idx], -1),
    )


def _stack(parts: list[M.Points]) -> M.Points:
    return M.Points(
        **{f: np.concatenate([getattr(p, f) for p in parts]) for f in M.Points.__dataclass_fields__}
    )


def _interpolated(sc: Scenario, pop: Population) -> np.ndarray:
    from planner.simulator.population import NONE

    t = pop.teacher
    flags = np.array([m.interpolated for m in sc.teachers] or [False])[np.maximum(t, 0)]
    return ((t != NONE) & flags) | sc.student.interpolated


def outputs(
    sc: Scenario, pop: Population, params: SecondParams, bridge_only: bool = False
) -> Outputs:
    """Teacher, bridge and final accuracy (with sds) of every allocation, in one prediction.

    ``bridge_only``: the students after the warmup alone (no OPD, no stage 3), as
    an emitted plan's warmup stage reports them.
    """
    n = len(pop)
    one = population_points(sc, pop, params.fitted, TEACHER)
    if bridge_only:
        zero = np.zeros(n)
        one = replace(one, opd=zero, labels3=zero, visits3=zero)
    parts = [replace(one, output=np.full(n, o)) for o in (TEACHER, BRIDGE, FINAL)]
    mean, sd = params.fitted.predict_points(_stack(parts))
    scale = np.where(_interpolated(sc, pop), params.interpolated_sd_factor, 1.0)
    trained_t = (pop.teacher >= 0) & (pop.steps["teacher_rl"] > 0)
    a_t, a_b, a_f = mean[:n], mean[n : 2 * n], mean[2 * n :]
    sd_t, sd_b, sd_f = (scale * s for s in (sd[:n], sd[n : 2 * n], sd[2 * n :]))
    return Outputs(
        teacher=np.where(pop.teacher >= 0, a_t, 0.0),
        bridge=a_b,
        final=a_f,
        sd_teacher=np.where(trained_t, sd_t, 0.0),
        sd_bridge=sd_b,
        sd_final=sd_f,
    )


def plan_record(sc: Scenario, plan: Plan, teacher: ModelProfile | None) -> dict[str, Any]:
    """A from-scratch plan as a record (planner/calibrate/records.py) with nothing measured yet."""
    lab = plan.labels
    return {
        "setting": f"plan/{plan.name}",
        "arm": plan.name,
        "world": world_of(sc),
        "benchmark": sc.benchmark,
        "seed": plan.seed,
        "student": model_facts(sc.student, sc),
        "teacher": model_facts(teacher, sc),
        "labels": {
            "pool": lab.pool,
            "stage1": lab.stage1,
            "stage3": lab.stage3,
            "prompts": lab.prompts or sc.prompts,
        },
        "stages": [stage_row(s, True) for s in plan.stages],
        "measured": {},
    }


def predict_stages(
    sc: Scenario, plan: Plan, teacher: ModelProfile | None, params: SecondParams
) -> dict[str, tuple[float, float]]:
    """Each training stage's predicted accuracy and sd: the pipeline up to it, as a measured run is read."""
    rec = plan_record(sc, plan, teacher)
    rows = [(rec, s["id"]) for s in rec["stages"] if s["role"] in OUTPUT and "steps" in s]
    if not rows:
        return {}
    mean, sd = params.fitted.predict_points(features(rows, params.fitted.shifted))
    interpolated = sc.student.interpolated or bool(teacher and teacher.interpolated)
    scale = params.interpolated_sd_factor if interpolated else 1.0
    return {
        stage: (float(m), float(scale * s)) for (_, stage), m, s in zip(rows, mean, sd, strict=True)
    }


BUDGET_WORDS = {
    "labels1": "teacher-RL labels",
    "visits1": "teacher-RL prompts visited (steps x prompts per step)",
    "warmup": "warmup samples",
    "opd": "OPD samples",
    "labels3": "stage-3 labels",
    "visits3": "stage-3 prompts visited (steps x prompts per step)",
}


def past_evidence(
    sc: Scenario, plan: Plan, teacher: ModelProfile | None, params: SecondParams
) -> list[str]:
    """A line naming each stage budget of ``plan`` outside what the fit measured, and how far."""
    fitted = params.fitted
    rec = plan_record(sc, plan, teacher)
    last = [s["id"] for s in rec["stages"] if s["role"] in OUTPUT and "steps" in s]
    if fitted.evidence is None or not last:
        return []
    x = features([(rec, last[-1])], fitted.shifted)
    reach = M.past_evidence(x, fitted.evidence)[0]
    low, high = fitted.evidence[M.WORLDS.index(world_of(sc))]
    asked = M.stage_budgets(x)[0]
    out = [
        f"{BUDGET_WORDS[b]}: {asked[i]:,.0f}, "
        + (
            f"{reach[i]:.1f}x the most the fit measured ({high[i]:,.0f})"
            if asked[i] > high[i]
            else f"1/{reach[i]:.1f} of the least the fit measured ({low[i]:,.0f})"
        )
        for i, b in enumerate(M.BUDGETS)
        if reach[i] > 1.0 + 1e-9
    ]
    if not out:
        return []
    widen = float(fitted.widening(x)[0])
    return [
        f"{plan.name} goes outside the evidence the profile's {world_of(sc)} world was fitted "
        f"on ({'; '.join(out)}): its predictions there are extrapolations, their bands widened "
        f"{widen:.1f}x. Measure before committing: a run of the plan's longest stage at its "
        f"length (or `s2d pilot`, whose shortened runs test the workflow, not the length) "
        f"settles what the range cannot."
    ]


def check_benchmark(sc: Scenario, params: SecondParams, profile_source: str) -> None:
    known = params.benchmarks(world_of(sc))
    if sc.benchmark not in known:
        raise UserError(
            f"{sc.source}: objective.benchmark: the second response model ({profile_source}) reads a "
            f"{sc.world} scenario on {', '.join(known)}; it has no readout for {sc.benchmark!r}. "
            f"Pick one of those, or plan with the first model's profile (leave --profile out), "
            f"whose benchmark_rl_scale table can be extended."
        )
