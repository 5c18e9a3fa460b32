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
from pathlib import Path
from typing import Any

import torch

from planner.contracts import DamagedFile, ForwardKLOptions
from trainer.context import StageContext, StageResult
from trainer.hf import (
    AtomicCheckpointMixin,
    EventsCallback,
    forward_through,
    per_device_rows,
    train_stage,
    training_args,
)
from trainer.losses import forward_kl_chunked
from trainer.trl_settings import trl_config


def teacher_rollouts(ctx: StageContext) -> list[dict[str, Any]]:
    """Generate (or reload) the teacher's completions for this stage's prompts.

    Each row keeps the token ids exactly as the teacher saw and sampled them
    (``prompt_ids``, ``completion_ids``) and whether it stopped by itself
    (``stopped``: False when cut at ``max_new_tokens``); ``completion`` is the
    decoded text, for reading only. Training uses the ids: decoding and
    re-rendering through a chat template changes what is trained (Qwen3's
    template puts an empty think block in front of a completion and appends an
    end-of-turn token to one that was cut). Under several processes each rank
    samples its share of the prompts (``rank`` says which) into a shard file of
    its own, kept until the stage's file is written, so that a crash after some
    ranks finished redoes only the others' share; the main rank merges the
    shards from disk (no rollouts travel through a collective).
    """
    from trainer import distributed

    path = ctx.run.teacher_rollouts(ctx.stage.id)
    b = ctx.stage.budget
    assert b is not None and ctx.data.prompts is not None
    prompts = ctx.data.prompts[: b.steps * b.prompts_per_step]
    n = b.samples_per_prompt
    rank, world = distributed.rank(), distributed.world_size()
    mine = prompts[rank::world]
    shard = path.with_name(f"{path.stem}.rank{rank}-of-{world}.jsonl")
    # Every rank judges the same files, so all take the same branch; the barrier keeps the
    # main rank from setting a file aside before every rank has read it.
    rows, stage_damage = _reuse(path, prompts, n)
    mine_done, shard_damage = _reuse(shard, mine, n) if rows is None else (None, None)
    distributed.barrier()
    if rows is not None:
        return rows
    if stage_damage is not None and distributed.is_main():
        _set_aside(ctx, stage_damage)
    if shard_damage is not None:
        _set_aside(ctx, shard_damage)
    if mine_done is not None:
        rows = mine_done
    else:
        rows = _sample_rollouts(ctx, mine, len(prompts), rank, world)
        _write_rollouts(shard, rows)
    ctx.meter.sync()
    distributed.barrier()  # every shard is on disk
    if distributed.is_main():
        shards = [
            _read_rollouts(path.with_name(f"{path.stem}.rank{r}-of-{world}.jsonl"))
            for r in range(world)
        ]
        # Back into prompt order: rank r sampled prompts r, r + world, ...
        ordered = [
            row
            for i in range(len(prompts))
            for row in shards[i % world][(i // world) * n : (i // world + 1) * n]
        ]
        _write_rollouts(path, ordered)
        for r in range(world):
            path.with_name(f"{path.stem}.rank{r}-of-{world}.jsonl").unlink(missing_ok=True)
    distributed.barrier()  # the stage's file is written
    return _read_rollouts(path)


def _sample_rollouts(
    ctx: StageContext, mine: list[Any], total: int, rank: int, world: int
) -> list[dict[str, Any]]:
    """This rank's share of the teacher rollouts, metered on this rank."""
    from trainer.generation import open_generator

    s, b = ctx.stage, ctx.stage.budget
    assert b is not None and ctx.teacher_path is not None
    generator = open_generator(
        ctx.plan.rollout,
        ctx.teacher_path,
        device=ctx.device,
        dtype=ctx.frozen_dtype,
        template=ctx.plan.prompt,
        seed=ctx.seed + rank,
    )
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        ctx.events.emit(
            "metrics",
            stage=s.id,
            step=0,
            total_steps=b.steps,
            values={"rollout_prompts": min(done * world, total), "rollout_total": total},
            spent=ctx.meter.spent(),
        )

    try:
        groups = generator.generate(
            [p.problem for p in mine],
            n=b.samples_per_prompt,
            temperature=s.options_as(ForwardKLOptions).rollout_temperature,
            max_new_tokens=b.max_new_tokens,
            seed=ctx.seed + rank,
            on_batch=progress,
        )
    finally:
        generator.close()
    rows = []
    for prompt, group in zip(mine, groups, strict=True):
        for c in group:
            ctx.meter.add(generated=c.n_tokens)
            rows.append(
                {
                    "prompt_id": prompt.id,
                    "prompt_ids": c.prompt_ids,
                    "completion_ids": c.token_ids,
                    "stopped": c.stopped,
                    "completion": c.text,
                    "rank": rank,
                }
            )
    return rows


def _write_rollouts(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_rollouts(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    )


def check_rollouts(path: Path, prompt_ids: list[str], n: int) -> list[dict[str, Any]]:
    """The rollouts in ``path``, or DamagedFile unless they are ``n`` whole rows per prompt
    of ``prompt_ids``, in that order (so rows sampled for other prompts are never reused).

    Rollout files are written whole and renamed into place, so anything else (a
    line cut in half, rows missing, a row without its token ids) means the file
    was damaged after it was written.
    """
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raise DamagedFile(path, "its last line is cut short")
    try:
        rows = _read_rollouts(path)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DamagedFile(path, f"a line is not JSON ({type(e).__name__})") from None
    for i, row in enumerate(rows, start=1):
        if not (
            isinstance(row, dict)
            and _is_ids(row.get("prompt_ids"))
            and _is_ids(row.get("completion_ids"))
            and isinstance(row.get("stopped"), bool)
        ):
            # Also what versions that stored rollouts as text (and trained on it re-rendered) left.
            raise DamagedFile(path, f"row {i} lacks its token ids")
    if len(rows) != len(prompt_ids) * n:
        raise DamagedFile(path, f"{len(rows)} rows where the stage samples {len(prompt_ids) * n}")
    if [r.get("prompt_id") for r in rows[::n]] != prompt_ids or any(
        rows[i].get("prompt_id") != rows[i - i % n].get("prompt_id") for i in range(len(rows))
    ):
        raise DamagedFile(path, "its rows are not for this stage's prompts, in order")
    return rows


def _reuse(
    path: Path, prompts: list[Any], n: int
) -> tuple[list[dict[str, Any]] | None, DamagedFile | None]:
    """(rows, None) from a whole file; (None, why) for a damaged one; (None, None) for none."""
    if not path.exists():
        return None, None
    try:
        return check_rollouts(path, [p.id for p in prompts], n), None
    except DamagedFile as e:
        return None, e


def _set_aside(ctx: StageContext, damaged: DamagedFile) -> None:
    target = ctx.run.set_aside(damaged.path)
    ctx.events.emit(
        "warning",
        stage=ctx.stage.id,
        message=f"{damaged}; set aside as {ctx.run.relative(target)}; sampling them again",
    )


def rollout_dataset(rows: list[dict[str, Any]]) -> Any:
    """The teacher's own tokens as a tokenized SFT dataset: loss on the completion ids only.

    Nothing is appended: a rollout that stopped ends with the end-of-turn token the
    teacher sampled, one that was cut at ``max_new_tokens`` ends where it was cut.
    """
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "input_ids": r["prompt_ids"] + r["completion_ids"],
                "completion_mask": [0] * len(r["prompt_ids"]) + [1] * len(r["completion_ids"]),
            }
            for r in rows
        ]
    )


def final_hidden(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last-layer hidden states (after the final norm), (B, T, H), from the backbone alone.

    No token is projected to the vocabulary, and no other layer's states are
    kept (``output_hidden_states`` would hold every layer's, which a frozen
    teacher's no-grad forward would otherwise free).
    """
    out = model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state


def run_forward_kl(ctx: StageContext) -> StageResult:
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
        teacher = load_model(ctx.teacher_path, ctx.device, ctx.frozen_dtype, trainable=False)

    class Trainer(AtomicCheckpointMixin, SFTTrainer):
        s2d_scorers = ("teacher",) if teacher is not None else ()

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
            if teacher is None:
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
            return loss

    dataset = rollout_dataset(rows)
    config = trl_config(
        ctx.stage,
        SFTConfig,
        {
            **training_args(ctx, b.steps),
            "per_device_train_batch_size": per_device_rows(ctx),
            "completion_only_loss": True,
            "max_length": None,
            "num_train_epochs": 1,
            "shuffle_dataset": True,
        },
    )
    trainer = Trainer(
        model=student,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[EventsCallback(ctx)],
    )
    return train_stage(trainer, tokenizer, ctx, ("loss", "final_loss"))
