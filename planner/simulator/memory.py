"""Memory feasibility: the least memory each stage needs on one device, whole or sharded.

The cost model prices time; this asks whether a stage can run at all. For a
stage that trains model ``P``, keeps a frozen model ``F`` beside it and samples
from model ``R``, on sequences of ``T = prompt_tokens + max_new_tokens``
tokens, one device holds at least (bytes)::

    state       = 16 N_P          fp32 weights 4 + fp32 gradients 4 + AdamW's two fp32
                                  moments 8 (trainer.models.load_model trains in fp32
                                  under bf16 autocast; ZeRO, arXiv 1910.02054, counts
                                  the same 16 for mixed precision)
    frozen      = b N_F           b = the hardware's bytes_per_param (bf16 on a GPU,
                                  fp32 on the CPU)
    activations = T H_P (2 L_P + 34) b/2   with gradient checkpointing (the trainer turns it
                                  on on GPUs): each layer's bf16 input is kept and one
                                  layer's working set, 34 T H bytes at 16 bits with
                                  flash attention (arXiv 2205.05198), is rebuilt at a time;
                  34 T H_P L_P b/2         without it (the CPU)
    logits      = 4 T V_P         one sequence's fp32 logits (the losses work row by row)
    generation  = 2 b T L_R D_R   the KV cache of one sequence of R (D: key/value heads x
                                  head dim) with the transformers engine; with vLLM
                                  (colocated) max(u M, b N_R + that cache), its own copy
                                  of R's weights and cache in the share u = 0.3 of the
                                  device memory M that TRL reserves by default

    whole   = state + frozen + activations + logits + generation
    sharded = (state + frozen) / G + activations + logits + generation

with ``G`` the device count: FSDP or ZeRO-3 splits parameters, gradients,
optimizer state and (GRPO's reference copy) frozen weights over every device.
The frozen teacher of the warmup and OPD is loaded whole on every device
(trainer.stages.forward_kl and trainer.stages.opd load it on the process's
device outside the wrapper), so there it is not divided::

    sharded = state / G + frozen + activations + logits + generation      (OPD, R = P)

The warmup runs in two phases, the teacher's rollouts first, then the student
trains on them, so its floor is the larger phase::

    rollout = b N_T + generation(T)
    train   = state + b N_T + activations + logits                (state / G sharded)
    whole   = max(rollout, train)

The stages: GRPO (teacher or student RL) trains, samples from, and (only when its KL ``beta`` > 0, which
the paper and the emitted plans leave at 0) keeps a reference copy of the same
model; the forward-KL warmup trains the student on rollouts the teacher samples
and scores; OPD trains the student on its own samples that the teacher scores.

This is a floor: a micro-batch of one sequence (gradient accumulation reaches
the plan's step from there), a generate call of one sequence, a sharded model
gathered one layer at a time to generate, no allocator fragmentation. A stage
whose floor exceeds the device memory even when sharded cannot run, and the
search never picks it; one that fits only sharded is planned with
``sharding: full``, to run under an FSDP or ZeRO-3 launcher config
(examples/accelerate/fsdp_8gpu.yaml, with num_processes set to the
scenario's device count). Larger micro-batches and decode batches
than the floor trade the headroom for speed; the cost model's decode batch is
not checked against it. The device memory is the GPU's own, or on the CPU the
machine's memory shared by its ``count`` processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planner.contracts.kinds.grpo import GRPOOptions
from planner.contracts.plan import Rollout
from planner.scenario.hardware import Hardware
from planner.scenario.models import ModelProfile
from planner.scenario.spec import StageShape

GIB = float(2**30)
TRAIN_BYTES_PER_PARAM = 16.0
LAYER_WORKSET = 34.0  # bytes per token and hidden unit of one layer at 16 bits
LOGIT_BYTES = 4.0
KL_BETA = GRPOOptions().beta  # what emitted plans run GRPO with
VLLM_SHARE = Rollout().gpu_memory_utilization

Sharding = Literal["none", "full"]


@dataclass(frozen=True)
class StageMemory:
    """The floor of one stage on one device, whole and sharded over every device (bytes)."""

    whole: float
    sharded: float
    available: float
    devices: int

    @property
    def fits(self) -> bool:
        return self.sharded <= self.available

    @property
    def sharding(self) -> Sharding:
        return "none" if self.whole <= self.available else "full"

    @property
    def needed(self) -> float:
        """Bytes per device under the sharding the stage runs with (sharded when it fits nowhere)."""
        return self.whole if self.sharding == "none" else self.sharded

    def describe(self) -> str:
        how = f"per device fully sharded over {self.devices}" if self.devices > 1 else "on its one"
        return f"{self.sharded / GIB:.1f} GiB {how} device{'s' if self.devices > 1 else ''}, {self.available / GIB:.1f} GiB available"


def device_memory(hw: Hardware) -> float:
    return hw.memory_bytes if hw.kind == "gpu" else hw.memory_bytes / hw.count


def activations(model: ModelProfile, tokens: float, hw: Hardware) -> float:
    """Activations and logits of one sequence of ``tokens`` while ``model`` trains on it."""
    half = hw.bytes_per_param / 2.0
    th = tokens * model.hidden_size
    if hw.kind == "gpu":  # gradient checkpointing
        kept = th * (2.0 * model.num_layers + LAYER_WORKSET) * half
    else:
        kept = th * LAYER_WORKSET * model.num_layers * half
    return kept + LOGIT_BYTES * tokens * model.vocab_size


def generation(model: ModelProfile, tokens: float, hw: Hardware) -> float:
    """What sampling one sequence of ``tokens`` from ``model`` adds on a device."""
    kv = 2.0 * hw.bytes_per_param * tokens * model.num_layers * (model.kv_dim or model.hidden_size)
    if hw.engine == "vllm" and hw.kind == "gpu":
        return max(VLLM_SHARE * hw.memory_bytes, hw.bytes_per_param * model.params + kv)
    return kv


def stage_memory(
    trained: ModelProfile,
    frozen: ModelProfile | None,
    sampler: ModelProfile,
    shape: StageShape,
    hw: Hardware,
    frozen_replicated: bool = False,
) -> StageMemory:
    """The floor of a stage that trains ``trained`` beside ``frozen`` and samples from ``sampler``.

    ``frozen_replicated``: the frozen model is loaded whole on every device (the
    trainer's frozen teacher), so sharding does not divide its weights.
    """
    tokens = shape.prompt_tokens + shape.max_new_tokens
    state = TRAIN_BYTES_PER_PARAM * trained.params
    kept = hw.bytes_per_param * frozen.params if frozen is not None else 0.0
    per_sequence = activations(trained, tokens, hw) + generation(sampler, tokens, hw)
    return StageMemory(
        whole=state + kept + per_sequence,
        sharded=(state + (0.0 if frozen_replicated else kept)) / hw.count
        + (kept if frozen_replicated else 0.0)
        + per_sequence,
        available=device_memory(hw),
        devices=hw.count,
    )


def grpo_memory(
    model: ModelProfile, shape: StageShape, hw: Hardware, beta: float = KL_BETA
) -> StageMemory:
    return stage_memory(model, model if beta > 0 else None, model, shape, hw)


def warmup_memory(
    student: ModelProfile, teacher: ModelProfile, shape: StageShape, hw: Hardware
) -> StageMemory:
    """Teacher rollouts first, as their own phase, then the student trains beside the frozen teacher."""
    tokens = shape.prompt_tokens + shape.max_new_tokens
    rollout = hw.bytes_per_param * teacher.params + generation(teacher, tokens, hw)
    state = TRAIN_BYTES_PER_PARAM * student.params
    rest = hw.bytes_per_param * teacher.params + activations(student, tokens, hw)
    return StageMemory(
        whole=max(rollout, state + rest),
        sharded=max(rollout, state / hw.count + rest),
        available=device_memory(hw),
        devices=hw.count,
    )


def opd_memory(
    student: ModelProfile, teacher: ModelProfile, shape: StageShape, hw: Hardware
) -> StageMemory:
    return stage_memory(student, teacher, student, shape, hw, frozen_replicated=True)


def stage_memories(
    student: ModelProfile, teacher: ModelProfile | None, shapes: dict[str, StageShape], hw: Hardware
) -> dict[str, StageMemory]:
    """The floor of every stage of the workflow with ``teacher`` (None: student RL only)."""
    out = {"student_rl": grpo_memory(student, shapes["student_rl"], hw)}
    if teacher is not None:
        out["teacher_rl"] = grpo_memory(teacher, shapes["teacher_rl"], hw)
        out["warmup"] = warmup_memory(student, teacher, shapes["warmup"], hw)
        out["opd"] = opd_memory(student, teacher, shapes["opd"], hw)
    return out
