"""Predict and price an existing plan (``s2d simulate``), stage by stage, as written.

Unlike the search, which builds plans from the scenario's batch settings, this
reads each stage's own budget (steps, prompts per step, samples, max new
tokens) and its data, so a hand-edited plan is simulated faithfully. Stages
map to the response model by role: GRPO on the teacher is stage 1, forward KL
and OPD form the bridge, GRPO on the student is stage 3 (direct GRPO when
there is no bridge; the replay control when it re-reads stage-1 labels). The
scenario supplies the hardware, the model facts and the benchmark. Each
stage is predicted from the plan truncated after it, so the warmup's figure is
the bridge without OPD and every stage's figure is a prediction of its own.
Each training stage also gets its memory floor per device and the sharding it
needs (planner/simulator/memory.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.contracts.errors import UserError
from planner.contracts.kinds import kind_of
from planner.contracts.plan import Plan, Prediction, Stage, StagePrediction
from planner.scenario.models import ModelProfile, resolve_model
from planner.simulator import cost as C
from planner.simulator.cost import StageShape
from planner.simulator.lineage import from_scratch
from planner.simulator.memory import GIB, StageMemory, grpo_memory, opd_memory, warmup_memory
from planner.simulator.response import Inputs, predict
from planner.simulator.response_v2 import SecondParams
from planner.simulator.simulator import Simulator


def _teacher_profile(problem: Simulator, plan: Plan) -> ModelProfile | None:
    if plan.teacher is None:
        return None
    for t in problem.sc.teachers:
        if plan.teacher.path in (t.path, t.name) or plan.teacher.name == t.name:
            return t
    from pathlib import Path

    prof = resolve_model(
        plan.teacher.path, "plan teacher", Path(problem.sc.zoo) if problem.sc.zoo else None
    )
    prof.accuracy(problem.sc.benchmark, "plan teacher (not among the scenario's teachers)")
    return prof


def _shape(stage: Stage, prompt_tokens: float, default: StageShape) -> StageShape:
    b = stage.budget
    assert b is not None
    resp = min(default.response_tokens, b.max_new_tokens)
    return StageShape(
        b.prompts_per_step, b.samples_per_prompt, b.max_new_tokens, resp, prompt_tokens
    )


def _role(stage: Stage) -> str:
    return kind_of(stage).role(stage)


ROLE_OUTPUT = {"teacher_rl": "teacher", "warmup": "bridge", "opd": "bridge", "student_rl": "final"}


def plan_inputs(problem: Simulator, plan: Plan) -> tuple[Inputs, dict[str, float], dict[str, str]]:
    """Response-model inputs of a plan as written, its compute per stage id, and each stage's role."""
    sc, hw = problem.sc, problem.sc.hardware
    if plan.student.path != sc.student.path and plan.student.name != sc.student.name:
        raise UserError(
            f"the plan trains {plan.student.name} ({plan.student.path}), the scenario's student is {sc.student.name}; simulate a plan under the scenario it was made for."
        )
    teacher = _teacher_profile(problem, plan)
    n_s = sc.student.params
    n_t = teacher.params if teacher else n_s
    totals = {"teacher_rl": 0.0, "warmup": 0.0, "opd": 0.0, "student_rl": 0.0}
    counts = {"visits1": 0, "warmup": 0, "opd": 0, "visits3": 0}
    replay = False
    per_stage: dict[str, float] = {}
    roles: dict[str, str] = {}
    for s in plan.stages:
        role = _role(s)
        roles[s.id] = role
        if role == "eval" or s.budget is None:
            per_stage[s.id] = 0.0
            continue
        shape = _shape(s, sc.shapes[role].prompt_tokens, sc.shapes[role])
        if role == "opd":
            sampled = getattr(s.options, "estimator", "") == "sampled"
            step = C.opd_step(n_s, n_t, shape, hw, sampled=sampled)
        elif role == "warmup":
            step = C.warmup_step(n_s, n_t, shape, hw)
        else:
            step = C.grpo_step(n_t if role == "teacher_rl" else n_s, shape, hw)
        compute = float(C.to_budget_units(step.scaled(s.budget.steps), hw))
        per_stage[s.id] = compute
        totals[role] += compute
        if role == "teacher_rl":
            counts["visits1"] += s.budget.steps * shape.prompts_per_step
        elif role == "student_rl":
            counts["visits3"] += s.budget.steps * shape.prompts_per_step
            replay = (
                replay
                or bool(getattr(s.options, "replay", False))
                or (
                    teacher is not None
                    and s.data == "labels.stage1"
                    and counts["warmup"] + counts["opd"] > 0
                )
            )
        else:
            counts[role] += s.budget.steps * shape.sequences
    bench = sc.benchmark
    lab = plan.labels
    student_rl_labels = [s for s in plan.stages if roles[s.id] == "student_rl"]
    labels3 = (
        sum(getattr(lab, s.label_source) for s in student_rl_labels if s.label_source)
        if student_rl_labels
        else 0
    )
    x = Inputs(
        student_acc=np.array([sc.student.accuracy(bench, "student")]),
        teacher_acc=np.array([teacher.accuracy(bench, "teacher") if teacher else 0.0]),
        has_teacher=np.array([teacher is not None]),
        param_ratio=np.array([n_t / n_s]),
        labels1=np.array([lab.stage1 if counts["visits1"] else 0]),
        visits1=np.array([counts["visits1"]]),
        warmup_samples=np.array([counts["warmup"]]),
        opd_samples=np.array([counts["opd"]]),
        labels3=np.array([0 if replay else labels3]),
        visits3=np.array([counts["visits3"]]),
        replay_labels=np.array([lab.stage1 if replay else 0]),
        interpolated=np.array(
            [bool(sc.student.interpolated or (teacher and teacher.interpolated))]
        ),
    )
    return x, per_stage, roles


def stage_memory(problem: Simulator, plan: Plan, stage: Stage) -> StageMemory | None:
    """The memory floor of a training stage as written (planner/simulator/memory.py)."""
    role = _role(stage)
    if role == "eval" or stage.budget is None:
        return None
    sc = problem.sc
    shape = _shape(stage, sc.shapes[role].prompt_tokens, sc.shapes[role])
    teacher = _teacher_profile(problem, plan)
    if role == "student_rl" or (role == "teacher_rl" and teacher is None):
        beta = getattr(stage.options, "beta", 0.0)
        return grpo_memory(sc.student, shape, sc.hardware, beta)
    assert teacher is not None  # a plan with a teacher stage names its teacher
    if role == "teacher_rl":
        return grpo_memory(teacher, shape, sc.hardware, getattr(stage.options, "beta", 0.0))
    fn = warmup_memory if role == "warmup" else opd_memory
    return fn(sc.student, teacher, shape, sc.hardware)


def memory_warnings(problem: Simulator, plan: Plan) -> list[str]:
    """One line per training stage that does not fit in memory, or fits only sharded."""
    hw = problem.sc.hardware
    on = f"{hw.count} x {hw.name}"
    over = f" even fully sharded over {hw.count}" if hw.count > 1 else ""
    out = []
    for s in plan.stages:
        mem = stage_memory(problem, plan, s)
        if mem is None or mem.sharding == "none":
            continue
        need, avail = mem.sharded / GIB, mem.available / GIB
        if not mem.fits:
            out.append(
                f"{s.id} does not fit in memory on {on}: it needs {need:.1f} GiB per device{over}, {avail:.1f} GiB available; it cannot run on this hardware."
            )
        else:
            out.append(
                f"{s.id} fits in memory on {on} only sharded: {need:.1f} GiB per device fully sharded over {hw.count} ({mem.whole / GIB:.1f} GiB whole), {avail:.1f} GiB available; run it under an FSDP or ZeRO-3 launcher config with num_processes set to {hw.count}."
            )
    return out


def evidence_warnings(problem: Simulator, plan: Plan) -> list[str]:
    """Where ``plan``'s stage budgets reach past what the second model's fit measured (none for the first)."""
    params = problem.profile.params
    if not isinstance(params, SecondParams):
        return []
    from planner.simulator import second

    full = from_scratch(plan)
    return second.past_evidence(problem.sc, full, _teacher_profile(problem, full), params)


def _stage_predictions(
    problem: Simulator, full: Plan, roles: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """Accuracy and sd after each stage of a from-scratch plan (``final``: after the last).

    The first model predicts the plan truncated after each stage; the second reads
    the plan as a record, as it reads a measured run (planner/simulator/second.py).
    An eval stage reports the student as it stands.
    """
    params, bench = problem.profile.params, problem.sc.benchmark
    out: dict[str, tuple[float, float]] = {}
    if isinstance(params, SecondParams):
        from planner.simulator import second

        trained = second.predict_stages(problem.sc, full, _teacher_profile(problem, full), params)
        student = (problem.sc.student.accuracy(bench, "student"), 0.0)
        for s in full.stages:
            if roles[s.id] == "teacher_rl":
                out[s.id] = trained[s.id]
            else:
                student = trained.get(s.id, student)
                out[s.id] = student
        out["final"] = student
        return out
    n = len(full.stages)
    for i in range(n + 1):
        x, _, _ = plan_inputs(problem, replace(full, stages=full.stages[: i + 1]))
        res = predict(x, params, bench)
        key = full.stages[i].id if i < n else "final"
        which = ROLE_OUTPUT.get(roles[key], "final") if i < n else "final"
        out[key] = (
            float(np.asarray(getattr(res, which))[0]),
            float(np.asarray(getattr(res, f"sd_{which}"))[0]),
        )
    return out


def simulate_plan(problem: Simulator, plan: Plan) -> Plan:
    """``plan`` with its prediction: each stage predicted from the plan truncated after it.

    A stage's accuracy is what the pipeline so far gives, so the warmup is the
    bridge without OPD and an eval stage reports the student as it stands. A
    plan that starts from another run's checkpoint is simulated as its
    from-scratch pipeline (planner/simulator/lineage.py); only its own stages are reported.
    """
    sc = problem.sc
    params = problem.profile.params
    full = from_scratch(plan)
    own = {s.id for s in plan.stages}
    _, per_stage, roles = plan_inputs(problem, full)
    per_stage = {k: v for k, v in per_stage.items() if k in own}
    z = params.band_z
    stages = {}
    predicted = _stage_predictions(problem, full, roles)
    for s in full.stages:
        if s.id not in own:
            continue
        a, sd = predicted[s.id]
        mem = stage_memory(problem, full, s)
        stages[s.id] = StagePrediction(
            a,
            max(a - z * sd, 0.0),
            min(a + z * sd, 1.0),
            per_stage[s.id],
            float(f"{mem.needed / GIB:.4g}") if mem else 0.0,
            mem.sharding if mem else "none",
        )
    prediction = Prediction(
        compute_unit=sc.compute_unit,  # type: ignore[arg-type]
        stages=stages,
        labels_used=plan.labels_used,
        total_compute=float(sum(per_stage.values())),
        final_accuracy=predicted["final"][0],
        benchmark=sc.benchmark,
        source=problem.profile.name,
    )
    return replace(plan, prediction=prediction)
