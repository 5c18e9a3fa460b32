"""Plans that start from another run's checkpoint, rewritten as the equivalent pipeline from scratch.

A run may load its student or its teacher from ``<run>/stages/<stage_id>/model``,
a checkpoint another run wrote (the replay control starts from the workflow's
bridged student, the OPD-only ablation distils from the workflow's RL-trained
teacher). The response model only knows pipelines that start from the
scenario's base models, so such a plan is predicted, and calibrated on, as the
origin run's plan truncated after that stage (only its teacher stages when
only the teacher came from it) followed by this plan's own stages, with the
origin's base models. Labels the origin's stages read keep the origin's
counts; a student GRPO stage that re-reads labels its checkpoint was already
trained with becomes a replay stage. The rewrite is recursive (an origin may
itself start from a checkpoint) and only ever reads origin plans through the
``load`` callback, so it is a pure function of the plans.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from planner.contracts.errors import UserError
from planner.contracts.plan import GRPOOptions, Plan, load_plan
from planner.contracts.rundir import RunDir

MAX_DEPTH = 8  # origins of origins; a deeper chain is a loop


def checkpoint_origin(path: str) -> tuple[Path, str] | None:
    """``(run directory, stage id)`` when ``path`` is ``<run>/stages/<stage_id>/model``, else None."""
    found = RunDir.of_model(path)
    return (found[0].root, found[1]) if found else None


def load_origin(run_dir: Path, needed_by: str) -> Plan:
    """The plan an origin run executed; a clear error when the run directory is gone."""
    plan_file = RunDir(run_dir).plan
    if not plan_file.is_file():
        raise UserError(
            f"{needed_by} starts from a checkpoint of the run {run_dir}, but {plan_file} does not exist; "
            "keep the origin run directory next to the runs that reuse its checkpoints (or restore it), "
            "so the pipeline that produced the checkpoint is known."
        )
    return load_plan(plan_file)


def _index(origin: Plan, stage_id: str, where: str) -> int:
    ids = [s.id for s in origin.stages]
    if stage_id not in ids:
        raise UserError(
            f"{where} loads {stage_id!r} of plan {origin.name!r}, which has no such stage (stages: {', '.join(ids)}); "
            "point the model path at <run>/stages/<stage_id>/model of a stage that run executed."
        )
    return ids.index(stage_id)


def from_scratch(
    plan: Plan, load: Callable[[Path, str], Plan] = load_origin, depth: int = 0
) -> Plan:
    """``plan`` with every checkpoint origin replaced by the stages that produced it (unchanged if none)."""
    student = checkpoint_origin(plan.student.path)
    teacher = checkpoint_origin(plan.teacher.path) if plan.teacher else None
    if student is None and teacher is None:
        return plan
    where = f"plan {plan.name!r}"
    if depth >= MAX_DEPTH:
        raise UserError(
            f"{where}: checkpoints point back through more than {MAX_DEPTH} runs (a loop?); start one of them from a base model."
        )
    if student and teacher and student[0] != teacher[0]:
        raise UserError(
            f"{where} takes its student from {student[0]} and its teacher from {teacher[0]}; "
            "the simulator follows one origin run per plan: start both from the same run, or one from a base model."
        )
    run_dir = (student or teacher)[0]  # type: ignore[index]
    origin = from_scratch(load(run_dir, where), load, depth + 1)
    student_upto = _index(origin, student[1], where) if student else -1
    teacher_upto = _index(origin, teacher[1], where) if teacher else -1
    # a student checkpoint carries its whole pipeline (teacher RL included); a
    # teacher checkpoint only the teacher's own stages
    prefix = [
        copy.deepcopy(s)
        for i, s in enumerate(origin.stages)
        if s.kind != "eval" and (i <= student_upto or (s.model == "teacher" and i <= teacher_upto))
    ]
    uses_origin_teacher = any(s.model == "teacher" or s.kind != "grpo" for s in prefix)
    if (
        plan.teacher
        and origin.teacher
        and not teacher
        and uses_origin_teacher
        and plan.teacher.path != origin.teacher.path
    ):
        raise UserError(
            f"{where} distils from {plan.teacher.name} a student that {run_dir} already bridged from {origin.teacher.name}; "
            "the simulator follows one teacher per pipeline: use the same teacher, or start from the base student."
        )
    if teacher or (uses_origin_teacher and origin.teacher):
        new_teacher = origin.teacher
    else:
        new_teacher = plan.teacher
    read_before = {s.label_source for s in prefix if s.label_source}
    own = [copy.deepcopy(s) for s in plan.stages]
    taken = {s.id for s in own}
    for s in prefix:
        if s.id in taken:  # keep this plan's ids (its eval events name them)
            s.id = f"{run_dir.name}.{s.id}"
    if student:
        for s in own:
            # the checkpoint was already trained on these labels: reading them again is a replay
            if s.kind == "grpo" and s.model == "student" and s.label_source in read_before:
                s.options = replace(s.options_as(GRPOOptions), replay=True)
    labels = replace(
        plan.labels,
        **{src: getattr(origin.labels, src) for src in read_before},
    )
    return replace(
        plan,
        student=origin.student if student else plan.student,
        teacher=new_teacher,
        labels=labels,
        stages=prefix + own,
        prediction=None,
    )
