"""The comparison arms are valid plans that spend the same labels the paper's table says."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.calibrate.arms import (
    ROWS,
    arm_plans,
    direct_grpo,
    opd_only,
    prediction_plan,
    raw_bridge,
    replay_control,
)
from planner.contracts.errors import UserError
from planner.contracts.plan import dump_plan, load_plan, loads_plan

EXAMPLE = Path(__file__).parents[2] / "examples" / "toy_plan.yaml"


@pytest.fixture
def plan():
    return load_plan(EXAMPLE)


def test_direct_grpo_gets_every_label_and_every_rl_update(plan):
    direct = direct_grpo(plan)
    assert direct.teacher is None and [s.id for s in direct.stages] == ["student_rl"]
    assert direct.labels_used == plan.labels_used == 400
    assert direct.stages[0].budget.steps == 60 + 50


def test_raw_bridge_uses_no_labels(plan):
    raw = raw_bridge(plan)
    assert raw.labels_used == 0 and [s.kind for s in raw.stages] == ["forward_kl", "opd"]


def test_replay_rereads_stage1_labels_from_the_bridged_student(plan, tmp_path):
    replay = replay_control(plan, tmp_path / "wf")
    stage = replay.stages[0]
    assert stage.data == "labels.stage1" and stage.options.replay
    assert replay.student.path == str(tmp_path / "wf" / "stages" / "opd" / "model")
    assert replay.labels.stage1 == plan.labels.stage1 and replay.labels.seed == plan.labels.seed
    assert stage.budget.steps == plan.stage("student_rl").budget.steps


def test_opd_only_distils_from_the_rl_teacher_without_the_warmup(plan, tmp_path):
    only = opd_only(plan, tmp_path / "wf")
    assert [s.id for s in only.stages] == ["opd"] and only.stages[0] == plan.stage("opd")
    assert only.teacher.path == str(tmp_path / "wf" / "stages" / "teacher_rl" / "model")
    assert only.student == plan.student
    assert (only.labels.stage1, only.labels.stage3) == (plan.labels.stage1, 0)
    assert only.labels_used == 0  # the teacher's RL spent the labels, in the workflow run


def test_every_arm_and_prediction_plan_is_a_valid_plan_holding_its_rows_stage(plan, tmp_path):
    runs = arm_plans(plan, tmp_path, tuple(r.key for r in ROWS))
    assert set(runs) == {"workflow", "direct", "raw_bridge", "replay", "opd_only"}
    assert runs["workflow"] is plan
    for p in runs.values():
        assert loads_plan(dump_plan(p)) == p
    for row in ROWS:  # the table reads each row's accuracy after this stage of this run
        assert row.stage in {s.id for s in runs[row.run].stages}, row.key
        predicted = prediction_plan(plan, row.key)
        assert loads_plan(dump_plan(predicted)) == predicted
        assert row.stage in {s.id for s in predicted.stages}, row.key
    # by default only the runs the paper's table needs
    assert set(arm_plans(plan, tmp_path)) == {"workflow", "direct", "raw_bridge", "replay"}


def test_prediction_plans_are_the_arms_as_pipelines_from_scratch(plan, tmp_path):
    replay = prediction_plan(plan, "replay")
    assert [s.id for s in replay.stages] == ["teacher_rl", "warmup", "opd", "student_rl"]
    assert replay.stages[3].data == "labels.stage1" and replay.stages[3].options.replay
    assert replay.teacher == plan.teacher and replay.labels.stage3 == 0
    only = prediction_plan(plan, "opd_only")
    assert [s.id for s in only.stages] == ["teacher_rl", "opd"] and only.labels.stage3 == 0
    assert prediction_plan(plan, "full") is plan
    with pytest.raises(KeyError):
        prediction_plan(plan, "no_such_row")


def test_a_plan_that_is_not_the_workflow_is_refused(plan):
    with pytest.raises(UserError, match="not the four-stage workflow"):
        direct_grpo(direct_grpo(plan))
