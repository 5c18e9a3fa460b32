"""``opd``: on-policy distillation, the student samples and the teacher scores (stage 2b)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from planner.contracts.kinds._spend import ceiling, sequence_ceiling, with_predicted_compute
from planner.contracts.runlog import Spend
from planner.contracts.schema import TOKENS_MAX, rule

if TYPE_CHECKING:
    from planner.contracts.plan import Plan, Stage
    from planner.contracts.schema import FieldProblems


@dataclass
class OPDOptions:
    # full: full-vocabulary reverse KL (TRL DistillationTrainer, beta=1);
    # sampled: per-token advantage -(log p_student - log p_teacher).
    estimator: Literal["full", "sampled"] = "full"
    temperature: float = field(default=1.0, metadata=rule(gt=0))
    # Weight of the verifier's sparse reward (sampled estimator only; needs labels).
    reward_weight: float = field(default=0.0, metadata=rule(ge=0))
    # The sampled estimator scores teacher and student log-probs from final hidden
    # states projected to the vocabulary this many tokens at a time, which bounds
    # memory at large vocabularies (as forward_kl's option of the same name).
    chunk_tokens: int = field(default=1024, metadata=rule(gt=0, cap=TOKENS_MAX))


def check(plan: Plan, s: Stage, at: str, p: FieldProblems) -> None:
    wants_reward = s.options_as(OPDOptions).reward_weight > 0
    sampled = s.options_as(OPDOptions).estimator == "sampled"
    if sampled and s.budget is not None and s.budget.samples_per_prompt < 2:
        p.add(
            f"{at}.budget.samples_per_prompt",
            "the sampled estimator runs on GRPO's machinery, which samples groups of at least 2",
            "use 2 or more, or estimator: full",
        )
    if wants_reward and not sampled:
        p.add(
            f"{at}.options.reward_weight",
            "a task reward needs the sampled-token estimator",
            "set estimator: sampled, or reward_weight: 0",
        )
    if s.data is None:
        return
    if wants_reward and s.label_source is None:
        p.add(
            f"{at}.data",
            "reward_weight > 0 needs labels to score answers",
            "read labels.stage1 or labels.stage3, or set reward_weight: 0",
        )
    if not wants_reward and s.label_source is not None:
        p.add(
            f"{at}.data",
            "OPD without a task reward reads prompts only",
            "use data: prompts, or set reward_weight > 0 with estimator: sampled",
        )


def role(s: Stage) -> str:
    return "opd"


def planned_spend(plan: Plan, s: Stage, labels: int, prompt_tokens: float = 0.0) -> Spend:
    sequences = sequence_ceiling(s, prompt_tokens)
    sampled = s.options_as(OPDOptions).estimator == "sampled"
    spend = Spend(
        labels=labels,
        tokens_generated=ceiling(s),
        tokens_trained=sequences,
        teacher_tokens_scored=sequences,
        student_tokens_scored=sequences if sampled else 0,
    )
    return with_predicted_compute(plan, s, spend)


def charts(s: Stage) -> tuple[str, ...]:
    rollouts = (
        "entropy",
        "completions/mean_length",
        "completions/clipped_ratio",
        "grad_norm",
        "throughput/generated_tokens_per_s",
    )
    o = s.options_as(OPDOptions)
    if o.estimator == "sampled":
        # GRPO's machinery: the reverse KL is logged beside GRPO's own statistics.
        reward = ("reward",) if o.reward_weight > 0 else ()
        return ("opd/reverse_kl", *reward, "loss", *rollouts)
    # DistillationTrainer with beta=1: the loss is the reverse KL on the student's samples.
    return ("loss", *rollouts)
