"""What a training stage plans to spend: token ceilings and the planner's predicted compute."""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner.contracts.runlog import Spend

if TYPE_CHECKING:
    from planner.contracts.plan import Plan, Stage


def ceiling(stage: Stage) -> int:
    """Tokens sampled if every sample of every step ran to max_new_tokens."""
    b = stage.budget
    return b.steps * b.prompts_per_step * b.samples_per_prompt * b.max_new_tokens if b else 0


def sequence_ceiling(stage: Stage, prompt_tokens: float) -> int:
    """Tokens a pass over every sequence runs over (what training and scoring are metered on):
    the sampled ceiling plus each row's prompt, ``prompt_tokens`` on average."""
    b = stage.budget
    rows = b.steps * b.prompts_per_step * b.samples_per_prompt if b else 0
    return ceiling(stage) + int(round(rows * prompt_tokens))


def with_predicted_compute(plan: Plan, stage: Stage, spend: Spend) -> Spend:
    pred = plan.prediction.stages.get(stage.id) if plan.prediction else None
    if pred is not None and plan.prediction is not None:
        if plan.prediction.compute_unit == "cpu_seconds":
            spend.cpu_seconds = pred.compute
        else:
            spend.gpu_hours = pred.compute
    return spend
