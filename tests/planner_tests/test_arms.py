"""The comparison arms are valid plans that spend the same labels the paper's table says."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.calibrate.arms import (
    PAPER_ROWS,
    ROWS,
    arm_plans,
    direct_grpo,
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


def test_every_arm_and_prediction_plan_is_a_valid_plan(plan, tmp_path):
    runs = arm_plans(plan, tmp_path, tuple(r.key for r in ROWS))
    assert set(runs) == {"workflow", "direct", "raw_bridge", "replay", "opd_only"}
    for p in list(runs.values()) + [prediction_plan(plan, r.key) for r in ROWS]:
        assert loads_plan(dump_plan(p)) == p
    assert set(arm_plans(plan, tmp_path)) == {"workflow", "direct", "raw_bridge", "replay"}
    assert PAPER_ROWS == ("direct", "raw_bridge", "rl_bridge", "full", "replay")


def test_a_plan_that_is_not_the_workflow_is_refused(plan):
    with pytest.raises(UserError, match="not the four-stage workflow"):
        direct_grpo(direct_grpo(plan))
