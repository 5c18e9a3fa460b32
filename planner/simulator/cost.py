"""Cost model: FLOPs, tokens, device time and budget units per training step of each stage.

Standard transformer arithmetic: generating or scoring a token costs about 2N
FLOPs, training on a token about 6N (forward and backward). Generation is not
priced from peak FLOPs: a decode step is memory-bandwidth bound at small batch
and, with plain transformers, dominated by a fixed per-step overhead, so a
decode step of a batch costs ``overhead + weight_bytes / (bandwidth x util)``
(fitted to the measured H100 figures). Prefill, scoring and training are priced
from peak FLOPs times a utilisation factor. GRPO runs one update per batch with
no reference model (beta = 0 as in the paper), so there is no extra forward.
Every function takes numpy arrays or floats for the parameter counts, so a
whole population of plans is priced at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from planner.scenario.hardware import Hardware
from planner.scenario.spec import StageShape


@dataclass
class StepCost:
    """Totals for one step (or, after ``scaled``, for a whole stage); numpy arrays or floats."""

    flops: Any = 0.0
    tokens_generated: Any = 0.0
    tokens_trained: Any = 0.0
    teacher_tokens_scored: Any = 0.0
    student_tokens_scored: Any = 0.0
    device_seconds: Any = 0.0  # one device's seconds, before dividing by the device count

    def __add__(self, other: StepCost) -> StepCost:
        return StepCost(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def scaled(self, steps: Any) -> StepCost:
        return StepCost(**{f.name: getattr(self, f.name) * steps for f in fields(self)})


def decode_step_seconds(params: Any, hw: Hardware) -> Any:
    """Seconds for one decode step of a batch: fixed overhead plus streaming the weights once."""
    return hw.decode_step_overhead_s + params * hw.bytes_per_param / (
        hw.memory_bandwidth * hw.decode_bandwidth_util
    )


def generation(params: Any, shape: StageShape, hw: Hardware) -> StepCost:
    """Sampling ``shape.sequences`` completions from a model of ``params`` parameters."""
    seqs = shape.sequences
    gen_tokens = seqs * shape.response_tokens
    prefill_tokens = seqs * shape.prompt_tokens
    batches = np.ceil(seqs / hw.max_decode_batch)
    decode_s = batches * shape.response_tokens * decode_step_seconds(params, hw)
    prefill_flops = 2.0 * params * prefill_tokens
    prefill_s = prefill_flops / (hw.peak_flops * hw.prefill_mfu)
    return StepCost(
        flops=2.0 * params * gen_tokens + prefill_flops,
        tokens_generated=gen_tokens,
        device_seconds=decode_s + prefill_s,
    )


def training(params: Any, tokens: float, hw: Hardware) -> StepCost:
    flops = 6.0 * params * tokens
    return StepCost(
        flops=flops, tokens_trained=tokens, device_seconds=flops / (hw.peak_flops * hw.train_mfu)
    )


def scoring(params: Any, tokens: float, hw: Hardware, by: str = "teacher") -> StepCost:
    """A forward pass over finished sequences (per-token log-probabilities), by teacher or student."""
    flops = 2.0 * params * tokens
    counted = {"teacher_tokens_scored" if by == "teacher" else "student_tokens_scored": tokens}
    return StepCost(flops=flops, device_seconds=flops / (hw.peak_flops * hw.score_mfu), **counted)


def _sequence_tokens(shape: StageShape) -> float:
    """Tokens a pass over every sequence of a step runs over: prompt (chat template included)
    plus completion, as the trainer's meters count them (planner.contracts.runlog.Spend)."""
    return shape.sequences * (shape.prompt_tokens + shape.response_tokens)


def grpo_step(params: Any, shape: StageShape, hw: Hardware) -> StepCost:
    """One GRPO step: sample groups from the trained model, then train on every sequence."""
    return generation(params, shape, hw) + training(params, _sequence_tokens(shape), hw)


def warmup_step(
    student_params: Any, teacher_params: Any, shape: StageShape, hw: Hardware
) -> StepCost:
    """One forward-KL step: the teacher samples and scores its rollouts, the student trains on them."""
    tokens = _sequence_tokens(shape)
    return (
        generation(teacher_params, shape, hw)
        + scoring(teacher_params, tokens, hw)
        + training(student_params, tokens, hw)
    )


def opd_step(
    student_params: Any,
    teacher_params: Any,
    shape: StageShape,
    hw: Hardware,
    sampled: bool = False,
) -> StepCost:
    """One on-policy distillation step: the student samples, the teacher scores, the student trains.

    The sampled-token estimator also scores the samples with the student (a
    forward pass outside the training step) for its per-token advantage.
    """
    tokens = _sequence_tokens(shape)
    cost = (
        generation(student_params, shape, hw)
        + scoring(teacher_params, tokens, hw)
        + training(student_params, tokens, hw)
    )
    return cost + scoring(student_params, tokens, hw, by="student") if sampled else cost


def to_budget_units(cost: StepCost, hw: Hardware) -> Any:
    """GPU-hours (or CPU-seconds) a cost takes on ``hw.count`` devices, all devices counted."""
    return hw.compute_from_device_seconds(cost.device_seconds / hw.scaling_efficiency)


def wall_seconds(cost: StepCost, hw: Hardware) -> Any:
    return cost.device_seconds / (hw.scaling_efficiency * hw.count)
