"""Stages 1 and 3: GRPO with the verifier as the reward (TRL GRPOTrainer).

The stage trains on exactly the labels the plan allocated to it (stage-1 labels
for the teacher or for direct GRPO, held-out stage-3 labels for the student;
the replay control re-reads stage-1 labels). TRL defaults that moved between
releases are set explicitly: one policy update per generation batch, rollouts
with top_p=1 and top_k=0 (truncated sampling biases the importance ratio), no
KL penalty unless the plan asks for one.
"""

from __future__ import annotations

from typing import Any

from planner.contracts.data import PromptTemplate
from trainer.context import StageContext, StageResult
from trainer.hf import (
    AtomicCheckpointMixin,
    EventsCallback,
    per_device_rows,
    train_stage,
    training_args,
)
from trainer.trl_settings import trl_config


def completion_text(completion: Any) -> str:
    """TRL hands conversational completions as message lists, plain ones as strings."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


class VerifierReward:
    """A TRL reward function: 1.0 for a verified correct final answer, else 0.0.

    Typed as TRL's ``RewardFunc`` (a None entry would mean "no reward for this
    sample"); every completion gets a verdict, so it never returns one.
    """

    __name__ = "verifier"

    def __init__(self, verifier: Any):
        self.verifier = verifier

    def __call__(
        self, prompts: list[Any], completions: list[Any], answer: list[str], **_: Any
    ) -> list[float | None]:
        verdicts = self.verifier.verify_batch(
            list(answer), [completion_text(c) for c in completions]
        )
        return [1.0 if v == "correct" else 0.0 for v in verdicts]


def prompt_dataset(problems: list[Any], with_answers: bool, template: PromptTemplate) -> Any:
    """Conversational prompts for TRL (which applies the chat template, with the config's
    ``chat_template_kwargs``), worded by the plan's prompt template."""
    from datasets import Dataset

    rows = []
    for p in problems:
        row: dict[str, Any] = {"prompt": template.messages(p.problem)}
        if with_answers:
            row["answer"] = p.answer
        rows.append(row)
    return Dataset.from_list(rows)


def grpo_config_kwargs(ctx: StageContext) -> dict[str, Any]:
    """GRPOConfig keywords for this stage; non-GRPO stages (sampled OPD) get GRPO's defaults.

    One generation per optimizer step: ``steps_per_generation`` is the accumulation
    count, so the step's ``prompts_per_step`` groups of ``samples_per_prompt``
    completions are generated together (over all processes) and every micro-batch
    of the step trains on-policy.
    """
    from planner.contracts import GRPOOptions

    s, b = ctx.stage, ctx.stage.budget
    o = s.options if isinstance(s.options, GRPOOptions) else GRPOOptions()
    assert b is not None
    return {
        **training_args(ctx, b.steps),
        "per_device_train_batch_size": per_device_rows(ctx),
        "num_generations": b.samples_per_prompt,
        "steps_per_generation": s.optim.gradient_accumulation_steps,
        "num_iterations": 1,
        "max_completion_length": b.max_new_tokens,
        "temperature": o.temperature,
        "top_p": 1.0,
        "top_k": 0,
        "beta": o.beta,
        "epsilon": o.epsilon,
        "epsilon_high": o.epsilon_high,
        "loss_type": o.loss_type,
        "scale_rewards": o.scale_rewards,
        "mask_truncated_completions": False,
        "shuffle_dataset": True,
        "log_completions": False,
        "chat_template_kwargs": ctx.plan.prompt.template_kwargs,
        **vllm_kwargs(ctx),
    }


def vllm_kwargs(ctx: StageContext) -> dict[str, Any]:
    """TRL's vLLM keywords from the plan's ``rollout`` block (what the offline engine of the
    teacher rollouts and evals also takes: trainer.generation.VLLMEngine)."""
    r = ctx.plan.rollout
    kwargs: dict[str, Any] = {
        "use_vllm": ctx.engine == "vllm",
        "vllm_mode": r.vllm_mode,
        "vllm_gpu_memory_utilization": r.gpu_memory_utilization,
        "vllm_tensor_parallel_size": r.tensor_parallel_size,
    }
    if r.max_model_len:
        kwargs["vllm_max_model_length"] = r.max_model_len
    return kwargs


def grpo_config(ctx: StageContext) -> Any:
    """The TRL GRPOConfig of a GRPO stage (built without loading a model)."""
    from trl import GRPOConfig

    return trl_config(ctx.stage, GRPOConfig, grpo_config_kwargs(ctx))


def run_grpo(ctx: StageContext) -> StageResult:
    from trl import GRPOTrainer

    from trainer.models import load_model, load_tokenizer

    class Trainer(AtomicCheckpointMixin, GRPOTrainer):
        s2d_generates = True

    b = ctx.stage.budget
    assert b is not None and ctx.data.labeled is not None
    tokenizer = load_tokenizer(ctx.model_path)
    model = load_model(ctx.model_path, ctx.device)
    trainer = Trainer(
        model=model,
        reward_funcs=[VerifierReward(ctx.verifier)],
        args=grpo_config(ctx),
        train_dataset=prompt_dataset(ctx.data.labeled, with_answers=True, template=ctx.plan.prompt),
        processing_class=tokenizer,
        callbacks=[EventsCallback(ctx)],
    )
    return train_stage(trainer, tokenizer, ctx, ("reward", "final_reward"))
