"""Plans that start from another run's checkpoint become their from-scratch pipeline."""

from __future__ import annotations

import pytest

from planner.contracts.errors import UserError
from planner.simulator.lineage import checkpoint_origin, from_scratch
from tests.planner_tests.plans_for_tests import (
    OPD,
    STUDENT_RL,
    TEACHER_RL,
    WARMUP,
    checkpoint,
    plan,
    workflow,
    write,
)


def test_checkpoint_origin_reads_run_and_stage(tmp_path):
    assert checkpoint_origin(str(tmp_path / "wf" / "stages" / "opd" / "model")) == (
        tmp_path / "wf",
        "opd",
    )
    assert checkpoint_origin("toy:s") is None
    assert checkpoint_origin(str(tmp_path / "models" / "s")) is None


def test_a_plan_from_base_models_is_unchanged():
    p = workflow()
    assert from_scratch(p) is p


def test_replay_from_the_bridged_student_is_the_workflow_with_a_replay_stage(tmp_path):
    wf = write(tmp_path / "wf", workflow())
    replay_rl = {**STUDENT_RL, "data": "labels.stage1"}
    replay = plan(
        "replay", [replay_rl], student=checkpoint(wf, "opd", "toy-s-bridged"), teacher=None
    )
    full = from_scratch(replay)
    assert [s.id for s in full.stages] == ["teacher_rl", "warmup", "opd", "student_rl"]
    assert full.student.path == "toy:s" and full.teacher.path == "toy:m"
    assert full.stages[-1].options.replay  # it re-reads what the teacher's RL read
    assert full.stages[-1].data == "labels.stage1"
    assert full.labels.stage1 == 200


def test_opd_only_from_the_rl_teacher_keeps_only_the_teacher_stages(tmp_path):
    wf = write(tmp_path / "wf", workflow())
    only = plan(
        "opd-only", [OPD], teacher=checkpoint(wf, "teacher_rl", "toy-m-rl"), stage1=200, stage3=0
    )
    full = from_scratch(only)
    assert [s.id for s in full.stages] == ["teacher_rl", "opd"]
    assert full.teacher.path == "toy:m" and full.student.path == "toy:s"
    assert (full.labels.stage1, full.labels.stage3) == (200, 0)


def test_origin_labels_win_for_the_stages_they_fed(tmp_path):
    wf = write(
        tmp_path / "wf",
        plan(
            "wf",
            [TEACHER_RL, WARMUP],
            stage1=300,
            stage3=0,
        ),
    )
    later = plan(
        "later",
        [OPD, STUDENT_RL],
        teacher=checkpoint(wf, "teacher_rl", "toy-m-rl"),
        stage1=50,
        stage3=100,
    )
    full = from_scratch(later)
    assert (full.labels.stage1, full.labels.stage3) == (300, 100)
    assert not full.stages[-1].options.replay  # held-out labels are new to the student


def test_chains_of_checkpoints_resolve_recursively_and_clashing_ids_are_renamed(tmp_path):
    wf = write(tmp_path / "wf", workflow())
    first = write(
        tmp_path / "more",
        plan("more", [STUDENT_RL], student=checkpoint(wf, "student_rl", "s1"), teacher=None),
    )
    second = plan("again", [OPD], student=checkpoint(first, "student_rl", "s2"))
    full = from_scratch(second)
    assert [s.id for s in full.stages] == [
        "teacher_rl",
        "warmup",
        "more.opd",
        "wf.student_rl",
        "student_rl",
        "opd",
    ]
    assert full.stages[4].options.replay  # "more" re-read the stage-3 labels
    assert full.student.path == "toy:s" and full.teacher.path == "toy:m"


def test_a_missing_origin_run_is_a_user_error_naming_it(tmp_path):
    gone = tmp_path / "workflow"
    replay = plan("replay", [STUDENT_RL], student=checkpoint(gone, "opd", "b"), teacher=None)
    with pytest.raises(UserError, match="does not exist") as e:
        from_scratch(replay)
    assert str(gone) in str(e.value)


def test_a_stage_the_origin_never_ran_is_a_user_error(tmp_path):
    wf = write(tmp_path / "wf", workflow())
    replay = plan("replay", [STUDENT_RL], student=checkpoint(wf, "polish", "b"), teacher=None)
    with pytest.raises(UserError, match="no such stage"):
        from_scratch(replay)


def test_a_second_teacher_behind_a_bridged_student_is_refused(tmp_path):
    wf = write(tmp_path / "wf", workflow())
    other = plan(
        "other",
        [OPD],
        student=checkpoint(wf, "opd", "b"),
        teacher={"name": "toy-l", "path": "toy:l"},
    )
    with pytest.raises(UserError, match="one teacher per pipeline"):
        from_scratch(other)
