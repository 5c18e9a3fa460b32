"""Plans on the realistic world (trainer.qwen_world): every stage kind, completions cut at the budget.

Random-weight models almost never sample ``<|im_end|>``, so with these budgets every rollout
runs to ``max_new_tokens``, as long reasoning traces do at real scale. Each step is 2 prompts x
2 samples = 4 rows, which splits over 2 processes x 2 accumulation steps.
"""

from __future__ import annotations

from typing import Any

from planner.contracts.plan import Plan, plan_from_dict
from tests import builders

TOKENS = 20
ACCUMULATE = {"learning_rate": 1e-3, "gradient_accumulation_steps": 2}


def world_plan_dict(world: Any, **overrides: Any) -> dict[str, Any]:
    def stage(make: Any, **kw: Any) -> dict[str, Any]:
        return make(prompts=2, samples=2, tokens=TOKENS, optim=ACCUMULATE, **kw)

    base = {
        "name": "qwen-world",
        "student": {"name": "qwen3-tiny", "path": str(world.student)},
        "teacher": {"name": "qwen3-tiny-teacher", "path": str(world.teacher)},
        "datasets": {
            "labeled": str(world.data["dapo"]),
            "prompts": str(world.data["gsm8k"]),
            "eval": [
                {"name": "math500", "path": str(world.data["math500"])},
                {"name": "aime", "path": str(world.data["aime"])},
            ],
        },
        "labels": {"pool": 160, "stage1": 8, "stage3": 8, "prompts": 16, "seed": 0},
        "evaluation": {"k": 2, "max_new_tokens": TOKENS, "max_problems": 4},
        "stages": [
            stage(builders.teacher_rl),
            stage(builders.warmup),
            stage(builders.opd),
            stage(builders.opd, id="opd_s", options={"estimator": "sampled"}),
            stage(builders.student_rl),
        ],
    }
    return builders._merge(base, overrides)


def world_plan(world: Any, **overrides: Any) -> Plan:
    return plan_from_dict(world_plan_dict(world, **overrides), "realistic-world plan")
