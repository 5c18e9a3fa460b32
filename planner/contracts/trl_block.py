"""A stage's ``trl:`` block: TRL settings passed through to the TRL config the stage trains with.

A stage kind builds its TRL config (GRPOConfig, SFTConfig, DistillationConfig)
from the plan; the ``trl:`` mapping is merged over it last, so any setting the
plan has no field for (``report_to``, ``log_completions``, ``optim``,
``torch_compile``, ...) reaches TRL as written. What the plan's own fields
decide stays theirs, so that one plan never says two things and the planner's
cost model prices what runs: those names are refused here, with the field
that sets them. Whether a name exists, and whether TRL accepts its value, is
checked against the real config class before any work (trainer.trl_settings:
the planner never imports TRL).
"""

from __future__ import annotations

import math
from typing import Any

from planner.contracts.schema import FieldProblems

_RL_SAMPLING = "RL samples with top_p 1 and top_k 0 (unbiased), eval with `evaluation:`"
_STEP = "budget.prompts_per_step x budget.samples_per_prompt rows per step (s2d splits them over processes and accumulation)"

# TRL / transformers names the plan (or s2d itself) sets, and what sets them.
OWNED: dict[str, str] = {
    "output_dir": "the run directory (stages/<id>/checkpoints)",
    "max_steps": "budget.steps",
    "num_train_epochs": "budget.steps",
    "learning_rate": "optim.learning_rate",
    "weight_decay": "optim.weight_decay",
    "warmup_steps": "optim.warmup_ratio",
    "warmup_ratio": "optim.warmup_ratio",
    "max_grad_norm": "optim.max_grad_norm",
    "lr_scheduler_type": "optim.lr_scheduler",
    "gradient_accumulation_steps": "optim.gradient_accumulation_steps",
    "per_device_train_batch_size": _STEP,
    "generation_batch_size": _STEP,
    "steps_per_generation": "optim.gradient_accumulation_steps (one generation per optimizer step)",
    "num_iterations": "s2d (one optimizer pass per generation: on-policy)",
    "num_generations": "budget.samples_per_prompt",
    "max_completion_length": "budget.max_new_tokens",
    "max_length": "budget.max_new_tokens and the prompts",
    "completion_only_loss": "the stage kind (the warmup trains on completions only)",
    "temperature": "options.temperature",
    "top_p": _RL_SAMPLING,
    "top_k": _RL_SAMPLING,
    "beta": "options.beta",
    "epsilon": "options.epsilon",
    "epsilon_high": "options.epsilon_high",
    "loss_type": "options.loss_type",
    "scale_rewards": "options.scale_rewards",
    "chat_template_kwargs": "prompt.enable_thinking",
    "use_vllm": "rollout.engine",
    "vllm_mode": "rollout.vllm_mode",
    "vllm_gpu_memory_utilization": "rollout.gpu_memory_utilization",
    "vllm_tensor_parallel_size": "rollout.tensor_parallel_size",
    "vllm_max_model_length": "rollout.max_model_len",
    "bf16": "precision",
    "fp16": "precision",
    "use_cpu": "`s2d run --device`",
    "seed": "seed",
    "data_seed": "seed",
    "logging_steps": "s2d (every step is logged: the run log and `s2d watch` read it)",
    "logging_strategy": "s2d (every step is logged: the run log and `s2d watch` read it)",
    "save_strategy": "`s2d run --save-every`",
    "save_steps": "`s2d run --save-every`",
    "save_total_limit": "s2d (it keeps the newest complete checkpoint, published whole)",
    "resume_from_checkpoint": "s2d (a run resumes from its own newest checkpoint)",
    "disable_tqdm": "s2d (its own progress display)",
}
MAX_DEPTH = 8


def _plain(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is not plain data TRL can take (None when it is)."""
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, list):
        return next((w for v in value if (w := _plain(v, depth + 1))), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "its keys must be text"
        return next((w for v in value.values() if (w := _plain(v, depth + 1))), None)
    return f"a {type(value).__name__} is not plain YAML data"


def check_trl_block(block: dict[str, Any], kind: str, at: str, p: FieldProblems) -> None:
    """Record what is wrong with one stage's ``trl:`` mapping (names TRL has are checked later)."""
    if not block:
        return
    if kind == "eval":
        p.add(
            at,
            "an eval stage trains nothing, so it has no TRL config",
            "remove the trl block (eval settings live under `evaluation:` or the stage's options)",
        )
        return
    for name, value in block.items():
        if name in OWNED:
            p.add(
                f"{at}.{name}",
                f"set by {OWNED[name]}",
                "change it there, not in the trl block",
            )
        elif (why := _plain(value)) is not None:
            p.add(f"{at}.{name[:80]}", why, "give a plain YAML value (text, number, list)")
