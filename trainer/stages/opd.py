"""Stage 2b: on-policy distillation. The student samples; the teacher scores every token.

Two estimators, chosen in the plan:

- ``full``: reverse KL(student || teacher) over the full vocabulary on the
  student's own samples, with TRL's DistillationTrainer (beta=1).
- ``sampled``: on-policy distillation as RL with another advantage. Each
  sampled token gets the advantage log p_T - log p_S (its expectation is minus
  the reverse KL), fed to TRL's GRPO loss as a per-token (B, T) advantage. The
  verifier's sparse reward can be mixed in (``reward_weight``) when the plan
  gives the stage labels. This overrides GRPOTrainer's private
  ``_generate_and_score_completions``; trl is pinned to a minor version for it
  and a test covers the hook. Both log-probs are scored from final hidden
  states, ``chunk_tokens`` tokens at a time in float32 (GRPO's own scoring
  uses the model's compute dtype), so scoring never holds a batch's logits.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, cast

import torch

from planner.contracts import OPDOptions
from trainer.context import StageContext, StageResult
from trainer.hf import (
    AtomicCheckpointMixin,
    EventsCallback,
    forward_through,
    per_device_rows,
    train_stage,
    training_args,
)
from trainer.losses import sampled_reverse_kl, sampled_token_advantages, token_logprobs_chunked
from trainer.stages.forward_kl import final_hidden
from trainer.stages.grpo import (
    VerifierReward,
    grpo_config_kwargs,
    prompt_dataset,
    vllm_kwargs,
)
from trainer.trl_settings import trl_config


def completion_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float,
    chunk_tokens: int = 1024,
    rows_per_chunk: int = 8,
) -> torch.Tensor:
    """log p(completion token) under ``model``, (B, C), 0 off the completion mask.

    The backbone runs ``rows_per_chunk`` rows at a time; its final hidden
    states are projected to the vocabulary ``chunk_tokens`` tokens at a time in
    float32 (:func:`trainer.losses.token_logprobs_chunked`), so scoring holds
    O(chunk_tokens x V) logits, never O(rows x T x V). Where TRL's GRPO scores
    with its fused output layer in the model's compute dtype, this projects in
    float32 for the student and the teacher alike.
    """
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    n_completion = completion_ids.shape[1]
    head = model.get_output_embeddings()
    out = []
    with torch.no_grad():
        for start in range(0, ids.shape[0], rows_per_chunk):
            sl = slice(start, start + rows_per_chunk)
            # position t predicts token t + 1: the completion's tokens are predicted
            # from the last prompt position up to the one before the last
            hidden_B_C_H = final_hidden(model, ids[sl], mask[sl])[:, -n_completion - 1 : -1]
            out.append(
                token_logprobs_chunked(
                    hidden_B_C_H,
                    completion_ids[sl],
                    completion_mask[sl],
                    head,
                    chunk_tokens=chunk_tokens,
                    temperature=temperature,
                )
            )
    return torch.cat(out, dim=0)


def zero_reward(prompts: list[Any], completions: list[Any], **_: Any) -> list[float | None]:
    return [0.0] * len(completions)


def run_opd(ctx: StageContext) -> StageResult:
    if ctx.stage.options_as(OPDOptions).estimator == "sampled":
        return _run_sampled(ctx)
    return _run_full(ctx)


def _run_full(ctx: StageContext) -> StageResult:
    from trl import DistillationConfig, DistillationTrainer

    from trainer.models import load_model, load_tokenizer

    b, o = ctx.stage.budget, ctx.stage.options_as(OPDOptions)
    assert b is not None and ctx.data.prompts is not None
    prompts_per_step, samples_per_prompt = b.prompts_per_step, b.samples_per_prompt

    class Trainer(AtomicCheckpointMixin, DistillationTrainer):
        s2d_generates, s2d_scorers = True, ("teacher",)

        def _get_train_sampler(self, dataset: Any = None) -> Any:
            # DistillationTrainer samples one completion per prompt; here a step is
            # prompts_per_step prompts x samples_per_prompt samples, as in GRPO (and as
            # the cost model prices it). Same sampler, with the per-prompt repeat.
            from trl.trainer.utils import RepeatSampler

            return RepeatSampler(
                data_source=cast(Sized, self.train_dataset if dataset is None else dataset),
                mini_repeat_count=samples_per_prompt,
                batch_size=prompts_per_step,
                repeat_count=self.args.gradient_accumulation_steps,
                shuffle=bool(self.shuffle_dataset),
                seed=self.args.seed,
            )

    assert ctx.teacher_path is not None  # a distilling stage always gets the teacher
    tokenizer = load_tokenizer(ctx.model_path)
    student = load_model(ctx.model_path, ctx.device)
    teacher = load_model(ctx.teacher_path, ctx.device, ctx.frozen_dtype, trainable=False)

    config = trl_config(
        ctx.stage,
        DistillationConfig,
        {
            **training_args(ctx, b.steps),
            "per_device_train_batch_size": per_device_rows(ctx),
            "max_completion_length": b.max_new_tokens,
            "temperature": o.temperature,
            "top_p": 1.0,
            "top_k": 0,
            "beta": 1.0,
            "chat_template_kwargs": ctx.plan.prompt.template_kwargs,
            **vllm_kwargs(ctx),
        },
    )
    trainer = Trainer(
        model=student,
        teacher_model=teacher,
        args=config,
        train_dataset=prompt_dataset(
            ctx.data.prompts, with_answers=False, template=ctx.plan.prompt
        ),
        processing_class=tokenizer,
        callbacks=[EventsCallback(ctx)],
    )
    return train_stage(trainer, tokenizer, ctx, ("loss", "final_loss"))


def _run_sampled(ctx: StageContext) -> StageResult:
    from trl import GRPOConfig, GRPOTrainer

    from trainer.models import load_model, load_tokenizer

    b, o = ctx.stage.budget, ctx.stage.options_as(OPDOptions)
    assert b is not None
    assert ctx.teacher_path is not None  # a distilling stage always gets the teacher
    tokenizer = load_tokenizer(ctx.model_path)
    student = load_model(ctx.model_path, ctx.device)
    teacher = load_model(ctx.teacher_path, ctx.device, ctx.frozen_dtype, trainable=False)
    with_reward = o.reward_weight > 0

    class Trainer(AtomicCheckpointMixin, GRPOTrainer):
        # the student scores its own samples again for the advantage, and the teacher scores them
        s2d_generates, s2d_scorers = True, ("teacher", "student")

        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            out = super()._generate_and_score_completions(inputs)
            model = self.model
            assert model is not None  # set from the constructor's model for the whole run
            args = (
                out["prompt_ids"],
                out["prompt_mask"],
                out["completion_ids"],
                out["completion_mask"],
                o.temperature,
                o.chunk_tokens,
            )
            wrapped = self.model_wrapped
            student = self.accelerator.unwrap_model(wrapped)
            # Both under the trainer's autocast, as GRPO scores; the projection to the
            # vocabulary turns it off for both. The student's parts run as one forward
            # of its wrapper, where FSDP / ZeRO-3 have gathered their parameters.
            with torch.no_grad(), self.accelerator.autocast():
                student_lp_B_T = forward_through(
                    wrapped, student, lambda: completion_logprobs(student, *args)
                )
                teacher_lp_B_T = completion_logprobs(teacher, *args)
            mask_B_T = out["completion_mask"]
            sequence_adv_B = out["advantages"] if with_reward else None
            out["advantages"] = sampled_token_advantages(
                student_lp_B_T, teacher_lp_B_T, mask_B_T, sequence_adv_B, o.reward_weight
            )
            mode = "train" if model.training else "eval"
            self._metrics[mode]["opd/reverse_kl"].append(
                sampled_reverse_kl(student_lp_B_T, teacher_lp_B_T, mask_B_T).item()
            )
            return out

    if with_reward:
        reward_funcs: list[Any] = [VerifierReward(ctx.verifier)]
        dataset = prompt_dataset(
            ctx.data.labeled or [], with_answers=True, template=ctx.plan.prompt
        )
    else:
        reward_funcs = [zero_reward]
        dataset = prompt_dataset(
            ctx.data.prompts or [], with_answers=False, template=ctx.plan.prompt
        )
    kwargs = grpo_config_kwargs(ctx)
    kwargs.update(temperature=o.temperature, scale_rewards="group" if with_reward else "none")
    trainer = Trainer(
        model=student,
        reward_funcs=reward_funcs,
        args=trl_config(ctx.stage, GRPOConfig, kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[EventsCallback(ctx)],
    )
    return train_stage(trainer, tokenizer, ctx, ("opd/reverse_kl", "final_reverse_kl"))
