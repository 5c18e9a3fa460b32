"""Stage 2a: the forward-KL warmup on teacher rollouts.

The teacher samples completions for unlabeled prompts (saved once under
artifacts/<stage>/teacher_rollouts.jsonl and reused on resume); the student is
then trained on those completions with token-level KL(teacher || student)
against the teacher's full next-token distribution (``mode: soft``), or with
plain cross-entropy on the sampled tokens (``mode: hard``, i.e. SFT).

Built on TRL's SFTTrainer for data handling, batching and checkpoints; only
the loss differs. The soft loss runs through
:func:`trainer.losses.forward_kl_chunked`: the student's and the teacher's
final hidden states are projected to the vocabulary ``chunk_tokens`` tokens at
a time, so peak memory stays near an SFT step even at a 151,936-entry vocabulary.
Backbones and output layers run as one forward of the wrapped student
(:func:`trainer.hf.forward_through`), as in TRL's distillation trainer, so the
loss holds under FSDP and ZeRO-3.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from planner.contracts import ForwardKLOptions
from trainer.context import StageContext, StageResult
from trainer.hf import (
    AtomicCheckpointMixin,
    EventsCallback,
    forward_through,
    train_stage,
    training_args,
)
from trainer.losses import forward_kl_chunked


def teacher_rollouts(ctx: StageContext) -> list[dict[str, str]]:
    """Generate (or reload) the teacher's completions for this stage's prompts."""
    from trainer.models import load_model, load_tokenizer
    from trainer.rollouts import sample

    path = ctx.run.teacher_rollouts(ctx.stage.id)
    if path.exists():
        return [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    s, b = ctx.stage, ctx.stage.budget
    assert b is not None and ctx.data.prompts is not None and ctx.teacher_path is not None
    prompts = ctx.data.prompts[: b.steps * b.prompts_per_step]
    tokenizer = load_tokenizer(ctx.teacher_path)
    teacher = load_model(ctx.teacher_path, ctx.device, trainable=False)
    torch.manual_seed(ctx.seed)
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        ctx.events.emit(
            "metrics",
            stage=s.id,
            step=0,
            total_steps=b.steps,
            values={"rollout_prompts": done, "rollout_total": len(prompts)},
            spent=ctx.meter.spent(),
        )

    groups = sample(
        teacher,
        tokenizer,
        [p.problem for p in prompts],
        n=b.samples_per_prompt,
        temperature=s.options_as(ForwardKLOptions).rollout_temperature,
        max_new_tokens=b.max_new_tokens,
        on_batch=progress,
    )
    rows = []
    for prompt, group in zip(prompts, groups, strict=True):
        for c in group:
            ctx.meter.add(generated=c.n_tokens)
            rows.append({"prompt_id": prompt.id, "problem": prompt.problem, "completion": c.text})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    del teacher
    return rows


def final_hidden(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last-layer hidden states (after the final norm), (B, T, H), from the backbone alone.

    No token is projected to the vocabulary, and no other layer's states are
    kept (``output_hidden_states`` would hold every layer's, which a frozen
    teacher's no-grad forward would otherwise free).
    """
    out = model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state


def run_forward_kl(ctx: StageContext) -> StageResult:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from trainer.models import load_model, load_tokenizer

    b, o = ctx.stage.budget, ctx.stage.options_as(ForwardKLOptions)
    assert b is not None
    rows = teacher_rollouts(ctx)
    tokenizer = load_tokenizer(ctx.model_path)
    student = load_model(ctx.model_path, ctx.device)
    teacher = None
    if o.mode == "soft":
        assert ctx.teacher_path is not None  # a distilling stage always gets the teacher
        teacher = load_model(ctx.teacher_path, ctx.device, trainable=False)
    meter = ctx.meter

    class Trainer(AtomicCheckpointMixin, SFTTrainer):
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            """SFT's loss in hard mode; in soft mode the chunked KL, scaled as transformers scales its own loss.

            With ``num_items_in_batch`` (the trained tokens of the whole
            accumulated batch, over every process) transformers does not divide
            the loss by the accumulation steps, so the soft loss is the token
            sum over ``num_items_in_batch``, times the process count as
            SFTTrainer does (DDP averages gradients). Without it the loss is
            this micro-batch's mean and transformers divides it by the steps.
            """
            labels = inputs["labels"]
            mask_B_T = labels[:, 1:] != -100  # position t predicts token t+1
            n_tokens = int(mask_B_T.sum())
            if teacher is None:
                meter.add(trained=n_tokens)
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            ids, attn = inputs["input_ids"], inputs["attention_mask"]
            student = self.accelerator.unwrap_model(model)

            def soft_loss() -> torch.Tensor:
                student_hidden = final_hidden(student, ids, attn)[:, :-1]
                with torch.no_grad():
                    teacher_hidden = final_hidden(teacher, ids, attn)[:, :-1]
                return forward_kl_chunked(
                    student_hidden,
                    teacher_hidden,
                    mask_B_T,
                    student.get_output_embeddings(),
                    teacher.get_output_embeddings(),
                    chunk_tokens=o.chunk_tokens,
                    num_items=num_items_in_batch,
                )

            # The backbone and the output layer run as one forward of the wrapped
            # model, so FSDP / ZeRO-3 gather their parameters and DDP sees the
            # forward; redirecting skips the autocast accelerate puts on the
            # student's forward, so it is entered here.
            with self.accelerator.autocast():
                loss = forward_through(model, student, soft_loss)
            if num_items_in_batch is not None and self.args.average_tokens_across_devices:
                loss = loss * (self.accelerator.num_processes // self.get_tp_size())
            meter.add(trained=n_tokens, teacher_scored=n_tokens)
            return loss

    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r["problem"]}],
                "completion": [{"role": "assistant", "content": r["completion"]}],
            }
            for r in rows
        ]
    )
    config = SFTConfig(
        **training_args(ctx, b.steps),
        per_device_train_batch_size=b.prompts_per_step,
        completion_only_loss=True,
        max_length=None,
        num_train_epochs=1,
        shuffle_dataset=True,
    )
    trainer = Trainer(
        model=student,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[EventsCallback(ctx)],
    )
    return train_stage(trainer, tokenizer, ctx, ("loss", "final_loss"))
