"""The paper's comparison as plans: one workflow plan and the arms measured against it.

Given a workflow plan (``teacher_rl`` -> ``warmup`` -> ``opd`` -> ``student_rl``)
this derives the arms of the paper's table and component ablation, all at
equal labels. Arms reuse what the workflow run already trained instead of
training it again: the replay control starts from the workflow's bridged
student, the OPD-only ablation distils from the workflow's RL-trained teacher.
Rows read their accuracy from a stage's eval in a run:

=====================  ==============================  ==========================
row                    run                             accuracy after stage
=====================  ==============================  ==========================
direct GRPO            ``direct``: GRPO on the         ``student_rl``
                       student with every label
raw-teacher bridge     ``raw_bridge``: warmup + OPD    ``opd``
                       from the untrained teacher
RL-teacher bridge      ``workflow``                    ``opd``
bridge + stage 3       ``workflow``                    ``student_rl``
replay control         ``replay``: GRPO re-reading     ``student_rl``
                       stage-1 labels, from the
                       workflow's bridged student
no warmup (OPD only)   ``opd_only``                    ``opd``
no OPD (warmup only)   ``workflow``                    ``warmup``
=====================  ==============================  ==========================
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

from planner.contracts.errors import UserError
from planner.contracts.plan import GRPOOptions, LabelSplit, ModelRef, Plan, Stage
from planner.contracts.rundir import RunDir

WORKFLOW_STAGES = ("teacher_rl", "warmup", "opd", "student_rl")


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    run: str
    stage: str
    labels: str  # which labels the row's pipeline consumed, for the table


ROWS = (
    Row("direct", "direct GRPO", "direct", "student_rl", "stage 1 + stage 3"),
    Row("raw_bridge", "raw-teacher bridge", "raw_bridge", "opd", "none"),
    Row("rl_bridge", "RL-teacher bridge", "workflow", "opd", "stage 1"),
    Row("full", "RL-teacher bridge + stage 3", "workflow", "student_rl", "stage 1 + stage 3"),
    Row("replay", "replay control (stage-1 labels again)", "replay", "student_rl", "stage 1"),
    Row("opd_only", "no warmup (OPD only)", "opd_only", "opd", "stage 1"),
    Row("warmup_only", "no OPD (warmup only)", "workflow", "warmup", "stage 1"),
)
PAPER_ROWS = ("direct", "raw_bridge", "rl_bridge", "full", "replay")


# the rows a user chooses between (the replay control answers a question, it is no workflow)
WORKFLOW_ROWS = ("direct", "raw_bridge", "rl_bridge", "full")


def row_of(plan: Plan) -> str | None:
    """Which of WORKFLOW_ROWS a plan is (by the training stages it has), None for another shape."""
    ids = {s.id for s in plan.stages if s.kind != "eval"}
    if plan.teacher is None:
        return "direct" if ids == {"student_rl"} else None
    if not {"warmup", "opd"} <= ids:  # every bridge row warms up, then distils on-policy
        return None
    if "teacher_rl" not in ids:
        return "raw_bridge" if "student_rl" not in ids else None
    return "full" if "student_rl" in ids else "rl_bridge"


def check_workflow(plan: Plan) -> None:
    ids = tuple(s.id for s in plan.stages if s.kind != "eval")
    if ids != WORKFLOW_STAGES or plan.teacher is None:
        raise UserError(
            f"plan {plan.name!r} is not the four-stage workflow (stages {', '.join(ids)}); the comparison needs teacher_rl, warmup, opd, student_rl with a teacher."
        )


def _stage(plan: Plan, stage_id: str) -> Stage:
    return copy.deepcopy(plan.stage(stage_id))


def direct_grpo(plan: Plan) -> Plan:
    """GRPO on the student with every label the workflow used, for as many RL updates."""
    check_workflow(plan)
    rl = _stage(plan, "student_rl")
    assert rl.budget is not None
    rl.budget.steps += plan.stage("teacher_rl").budget.steps  # type: ignore[union-attr]
    rl.data = "labels.stage1"
    lab = plan.labels
    labels = LabelSplit(
        pool=lab.pool, stage1=lab.stage1 + lab.stage3, stage3=0, prompts=0, seed=lab.seed
    )
    return replace(
        plan,
        name=f"{plan.name}-direct",
        teacher=None,
        labels=labels,
        stages=[rl],
        prediction=None,
        datasets=replace(plan.datasets, prompts=None),
    )


def raw_bridge(plan: Plan) -> Plan:
    """The bridge from the untrained teacher: no labels at all."""
    check_workflow(plan)
    labels = replace(plan.labels, stage1=0, stage3=0)
    return replace(
        plan,
        name=f"{plan.name}-raw-bridge",
        labels=labels,
        stages=[_stage(plan, "warmup"), _stage(plan, "opd")],
        prediction=None,
    )


def replay_control(plan: Plan, workflow_run: Path) -> Plan:
    """Stage 3's updates on stage-1 labels instead of held-out ones, from the bridged student."""
    check_workflow(plan)
    rl = _stage(plan, "student_rl")
    rl.data = "labels.stage1"
    rl.options_as(GRPOOptions).replay = True
    student = ModelRef(
        name=f"{plan.student.name}-bridged",
        path=str(RunDir(workflow_run).model_dir("opd")),
    )
    return replace(
        plan,
        name=f"{plan.name}-replay",
        student=student,
        teacher=None,
        stages=[rl],
        prediction=None,
    )


def opd_only(plan: Plan, workflow_run: Path) -> Plan:
    """OPD from the RL-trained teacher without the warmup (the paper's C2 ablation)."""
    check_workflow(plan)
    assert plan.teacher is not None
    teacher = ModelRef(
        name=f"{plan.teacher.name}-rl",
        path=str(RunDir(workflow_run).model_dir("teacher_rl")),
    )
    labels = replace(plan.labels, stage3=0)
    return replace(
        plan,
        name=f"{plan.name}-opd-only",
        teacher=teacher,
        labels=labels,
        stages=[_stage(plan, "opd")],
        prediction=None,
    )


def prediction_plan(plan: Plan, row_key: str) -> Plan:
    """A plan in the scenario's own terms whose stage prediction is the row's predicted accuracy.

    Arms that reuse another run's checkpoints (replay, OPD only) are predicted
    as the equivalent pipeline from scratch, which is what they measure.
    """
    check_workflow(plan)
    if row_key == "direct":
        return direct_grpo(plan)
    if row_key == "raw_bridge":
        return raw_bridge(plan)
    if row_key in ("rl_bridge", "full", "warmup_only"):
        return plan
    if row_key == "replay":
        stages = [_stage(plan, s) for s in WORKFLOW_STAGES]
        stages[3].data = "labels.stage1"
        stages[3].options_as(GRPOOptions).replay = True
        return replace(
            plan,
            name=f"{plan.name}-replay",
            stages=stages,
            labels=replace(plan.labels, stage3=0),
            prediction=None,
        )
    if row_key == "opd_only":
        return replace(
            plan,
            name=f"{plan.name}-opd-only",
            stages=[_stage(plan, "teacher_rl"), _stage(plan, "opd")],
            labels=replace(plan.labels, stage3=0),
            prediction=None,
        )
    raise KeyError(row_key)


def arm_plans(
    plan: Plan, workflow_run: Path, rows: tuple[str, ...] = PAPER_ROWS
) -> dict[str, Plan]:
    """The runs needed for the rows: run name -> plan (the workflow itself included)."""
    check_workflow(plan)
    builders = {
        "workflow": lambda: plan,
        "direct": lambda: direct_grpo(plan),
        "raw_bridge": lambda: raw_bridge(plan),
        "replay": lambda: replay_control(plan, workflow_run),
        "opd_only": lambda: opd_only(plan, workflow_run),
    }
    needed = []
    for row in ROWS:
        if row.key in rows and row.run not in needed:
            needed.append(row.run)
    return {run: builders[run]() for run in needed}
