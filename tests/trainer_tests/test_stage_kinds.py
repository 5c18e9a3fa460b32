"""Every stage kind in the registry has what the executor needs: a runner it can import."""

from __future__ import annotations

import inspect

import pytest

from planner.contracts import KINDS, plan_from_dict
from trainer.context import StageContext, stage_runner


@pytest.mark.parametrize("name", [k.name for k in KINDS.values() if k.trains])
def test_each_training_kind_names_a_trainer_function_taking_a_stage_context(name):
    fn = stage_runner(name)
    (param,) = inspect.signature(fn).parameters.values()
    assert param.annotation in (StageContext, "StageContext")


def test_eval_is_run_by_the_executor_itself():
    assert not KINDS["eval"].trains and KINDS["eval"].runner is None
    with pytest.raises(ValueError, match="trains nothing"):
        stage_runner("eval")


def test_a_stage_is_built_with_its_kinds_options_class():
    plan = plan_from_dict(
        {
            "name": "p",
            "student": {"name": "s", "path": "toy:s"},
            "teacher": {"name": "t", "path": "toy:m"},
            "datasets": {"labeled": "toy:train"},
            "labels": {"pool": 10, "stage1": 4, "prompts": 4},
            "stages": [
                {
                    "id": k,
                    "kind": k,
                    "model": "teacher" if k == "grpo" else "student",
                    "data": {"grpo": "labels.stage1", "eval": None}.get(k, "prompts"),
                    "budget": None
                    if k == "eval"
                    else {"steps": 1, "prompts_per_step": 1, "samples_per_prompt": 2},
                }
                for k in KINDS
            ],
        }
    )
    for stage in plan.stages:
        assert type(stage.options) is KINDS[stage.kind].options
        assert stage.options_as(KINDS[stage.kind].options) is stage.options
