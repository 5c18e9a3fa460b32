"""``grpo``: GRPO with the verifier's reward, on the teacher (stage 1) or the student (stage 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from planner.contracts.kinds._spend import ceiling, sequence_ceiling, with_predicted_compute
from planner.contracts.runlog import Spend
from planner.contracts.schema import rule

if TYPE_CHECKING:
    from planner.contracts.plan import Plan, Stage
    from planner.contracts.schema import FieldProblems


@dataclass
class GRPOOptions:
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "dapo"
    epsilon: float = field(default=0.2, metadata=rule(ge=0))
    epsilon_high: float = field(default=0.28, metadata=rule(ge=0))
    beta: float = field(
        default=0.0, metadata=rule(ge=0)
    )  # KL penalty to the reference model; 0 as in the paper
    temperature: float = field(default=1.0, metadata=rule(gt=0))
    scale_rewards: Literal["group", "batch", "none"] = "group"
    # The paper's control: the same number of updates on stage-1 labels
    # instead of held-out ones. Requires data: labels.stage1.
    replay: bool = False


def check(plan: Plan, s: Stage, at: str, p: FieldProblems) -> None:
    if s.budget is not None and s.budget.samples_per_prompt == 1:
        p.add(
            f"{at}.budget.samples_per_prompt",
            "GRPO needs a group of at least 2 samples per prompt",
            "use 2 or more (8 is typical)",
        )
    if s.data is None:
        return
    if s.label_source is None:
        p.add(
            f"{at}.data",
            "GRPO needs labels for its reward, not bare prompts",
            "use labels.stage1 or labels.stage3",
        )
    if s.options_as(GRPOOptions).replay and s.data != "labels.stage1":
        p.add(
            f"{at}.options.replay",
            "the replay control re-reads stage-1 labels",
            "set data: labels.stage1",
        )


def role(s: Stage) -> str:
    return "teacher_rl" if s.model == "teacher" else "student_rl"


def planned_spend(plan: Plan, s: Stage, labels: int, prompt_tokens: float = 0.0) -> Spend:
    spend = Spend(
        labels=labels,
        tokens_generated=ceiling(s),
        tokens_trained=sequence_ceiling(s, prompt_tokens),
    )
    return with_predicted_compute(plan, s, spend)


def charts(s: Stage) -> tuple[str, ...]:
    kl = (
        ("kl",) if s.options_as(GRPOOptions).beta > 0 else ()
    )  # TRL logs kl only when it computes it
    return (
        "reward",
        "loss",
        *kl,
        "entropy",
        "completions/mean_length",
        "completions/clipped_ratio",
        "clip_ratio/region_mean",
        "grad_norm",
        "throughput/generated_tokens_per_s",
    )
