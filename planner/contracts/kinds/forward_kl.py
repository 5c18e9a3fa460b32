"""``forward_kl``: the warmup, KL(teacher || student) on teacher rollouts (stage 2a)."""

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
class ForwardKLOptions:
    # soft: token-level KL(teacher || student) on teacher rollouts;
    # hard: plain SFT on the same rollouts (for comparison).
    mode: Literal["soft", "hard"] = "soft"
    rollout_temperature: float = field(default=1.0, metadata=rule(gt=0))
    # Teacher and student logits are projected to the vocabulary this many
    # tokens at a time, which bounds memory at large vocabularies.
    chunk_tokens: int = field(default=1024, metadata=rule(gt=0, cap=TOKENS_MAX))


def check(plan: Plan, s: Stage, at: str, p: FieldProblems) -> None:
    if s.label_source is not None:
        p.add(
            f"{at}.data",
            "the warmup reads prompts only; giving it labels would spend them for nothing",
            "use data: prompts",
        )


def role(s: Stage) -> str:
    return "warmup"


def planned_spend(plan: Plan, s: Stage, labels: int, prompt_tokens: float = 0.0) -> Spend:
    b = s.budget
    sequences = sequence_ceiling(s, prompt_tokens)
    spend = Spend(labels=labels, tokens_trained=sequences)
    if b is not None:
        # one rollout per sample of each distinct prompt; trained as often as the steps reach
        spend.tokens_generated = min(
            ceiling(s), plan.labels.prompts * b.samples_per_prompt * b.max_new_tokens
        )
    spend.teacher_tokens_scored = sequences if s.options_as(ForwardKLOptions).mode == "soft" else 0
    return with_predicted_compute(plan, s, spend)


def charts(s: Stage) -> tuple[str, ...]:
    # The loss is the forward KL itself in soft mode, cross-entropy in hard mode.
    return ("loss", "grad_norm", "throughput/trained_tokens_per_s")
