"""Glue between our stages and Hugging Face / TRL trainers.

Three things every training stage needs: the shared TrainingArguments (CPU or
GPU, logging every step, checkpoints), a callback that turns trainer logs into
run-log events and honours Ctrl-C at the next step boundary, and checkpoints
that are never half-written. transformers writes ``checkpoint-N`` in place;
:class:`AtomicCheckpointMixin` writes it under a staging directory and renames
it into place only once optimizer, scheduler, RNG and trainer state are all on
disk, so a SIGKILL mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from transformers import (
    PrinterCallback,
    ProgressCallback,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from planner.contracts import UserError, atomic_write_text, fsync_dir
from trainer.context import SpendMeter, StageContext, StageResult
from trainer.generation import route_colocated_sync
from trainer.stages import StageInterrupted


def training_args(ctx: StageContext, steps: int) -> dict[str, Any]:
    """Keyword arguments shared by every TRL config we build."""
    o = ctx.stage.optim
    cuda = ctx.device.startswith("cuda")
    save_every = ctx.save_every or max(1, math.ceil(steps / 10))
    return {
        "output_dir": str(ctx.run.checkpoints_dir(ctx.stage.id)),
        "max_steps": steps,
        "learning_rate": o.learning_rate,
        "weight_decay": o.weight_decay,
        "warmup_steps": int(o.warmup_ratio * steps),
        "max_grad_norm": o.max_grad_norm,
        "lr_scheduler_type": o.lr_scheduler,
        "gradient_accumulation_steps": o.gradient_accumulation_steps,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": save_every,
        "save_total_limit": None,  # we keep only the newest complete checkpoint ourselves
        "report_to": "none",
        "seed": ctx.seed,
        "data_seed": ctx.seed,
        "use_cpu": not cuda,
        # mixed precision in the plan's declared dtype (fp32 master weights either way)
        "bf16": cuda and ctx.frozen_dtype == torch.bfloat16,
        "gradient_checkpointing": cuda,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def per_device_rows(ctx: StageContext) -> int:
    """Rows each process feeds the loss per micro-batch, so that one optimizer step is the plan's.

    A step is ``prompts_per_step x samples_per_prompt`` rows (completions) summed
    over every process and every accumulation micro-batch, whatever the kind.
    """
    from trainer.distributed import world_size

    b = ctx.stage.budget
    assert b is not None
    rows = b.prompts_per_step * b.samples_per_prompt
    world, accumulation = world_size(), ctx.stage.optim.gradient_accumulation_steps
    if rows % (world * accumulation):
        raise UserError(
            f"stage {ctx.stage.id}: prompts_per_step x samples_per_prompt = {rows} rows per step "
            f"cannot be split over {world} process(es) x {accumulation} accumulation step(s); "
            f"make it a multiple of {world * accumulation}."
        )
    return rows // (world * accumulation)


T = TypeVar("T")


def forward_through(wrapper: torch.nn.Module, module: torch.nn.Module, fn: Callable[[], T]) -> T:
    """Run ``fn()`` as the forward of ``wrapper``, the DDP / FSDP / DeepSpeed wrapper around ``module``.

    A loss that calls a model's parts (its backbone, its output layer) outside
    the wrapper's forward misses what the wrapper does there: DDP prepares the
    gradient reduction, FSDP and ZeRO-3 gather the sharded parameters. This
    swaps ``module.forward`` for ``fn`` during one call of ``wrapper``, as TRL's
    distillation trainer does with its ``_ForwardRedirection``; ``fn`` takes no
    arguments (it closes over its inputs), so no wrapper casts or moves them.
    When nothing is wrapped, ``wrapper`` is ``module`` and this is one call of
    it, hooks included.
    """
    had_own_forward = "forward" in vars(module)
    original = module.forward

    def redirected(*_: Any, **__: Any) -> T:
        restore()  # fn calls the real forward of module's parts, and maybe of module
        return fn()

    def restore() -> None:
        if had_own_forward:
            module.forward = original
        else:
            vars(module).pop("forward", None)

    module.forward = redirected
    try:
        return wrapper()
    finally:
        restore()


def quiet_libraries() -> None:
    """Our progress display and event log replace the libraries' own bars and printed dicts."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    warnings.filterwarnings(
        "ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning
    )


def prepare_trainer(trainer: Any, ctx: StageContext) -> Any:
    """Attach the stage context and drop the trainer's console printers."""
    trainer.s2d_ctx = ctx
    route_colocated_sync(trainer)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def checkpoints(root: Path) -> list[Path]:
    """The ``checkpoint-N`` directories under a stage's checkpoints directory, newest first."""
    if not root.is_dir():
        return []
    steps = {p: p.name.removeprefix("checkpoint-") for p in root.glob("checkpoint-*") if p.is_dir()}
    found = [p for p, step in steps.items() if step.isdigit()]
    return sorted(found, key=lambda p: int(steps[p]), reverse=True)


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` under a stage's checkpoints directory, or None.

    Complete means published with its trainer state; the executor has set aside
    any whose files are damaged (trainer.recovery) before a stage resumes.
    """
    done = [p for p in checkpoints(root) if (p / "trainer_state.json").exists()]
    return done[0] if done else None


def count_batch(meter: SpendMeter, batch: dict[str, Any], generated: bool, scorers: Any) -> None:
    """Add one micro-batch to the meter: rows, sequence tokens trained and scored, tokens sampled."""
    mask: Any = batch.get("completion_mask")
    completion = int(mask.sum()) if hasattr(mask, "sum") else 0
    if hasattr(batch.get("attention_mask"), "sum"):  # SFT-style: one mask over the sequence
        rows = int(batch["attention_mask"].shape[0])
        tokens = int(batch["attention_mask"].sum())
    elif hasattr(batch.get("completion_mask"), "sum") and hasattr(batch.get("prompt_mask"), "sum"):
        rows = int(batch["completion_mask"].shape[0])
        tokens = int(batch["prompt_mask"].sum()) + completion
    else:
        return
    meter.examples += rows
    meter.add(
        trained=tokens,
        generated=completion if generated else 0,
        teacher_scored=tokens if "teacher" in scorers else 0,
        student_scored=tokens if "student" in scorers else 0,
    )


# The mixin is always combined with a transformers Trainer subclass (mixin first in
# the bases). For the type checker it is one, so ``self.args``, ``self.state`` and
# ``super()._save_checkpoint`` are typed; at runtime it stays a plain mixin.
if TYPE_CHECKING:
    from transformers import Trainer as _TrainerBase
else:
    _TrainerBase = object


class AtomicCheckpointMixin(_TrainerBase):
    """Write each trainer checkpoint to a staging dir, then rename it into place."""

    s2d_ctx: StageContext
    s2d_generates = False  # the trainer samples its own completions (GRPO, OPD)
    s2d_scorers: tuple[str, ...] = ()  # extra forward passes over each sequence: teacher, student

    def _prepare_inputs(self, inputs: Any) -> Any:
        # Meters each micro-batch as it reaches the loss (after on-policy generation, for the
        # RL and distillation trainers): its rows, for the examples-per-step metric, and its
        # tokens. Every pass runs over prompt (template included) and completion.
        out = super()._prepare_inputs(inputs)
        model = self.model
        if model is not None and model.training and isinstance(out, dict):
            count_batch(self.s2d_ctx.meter, out, self.s2d_generates, self.s2d_scorers)
        return out

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        output_dir = self.args.output_dir
        assert output_dir is not None  # training_args() always sets it
        final_root = Path(output_dir)
        staging = final_root.parent / (final_root.name + ".staging")
        # Every rank writes into staging (the main rank the weights, optimizer and trainer
        # state; each rank its own RNG state), so only the main rank clears and publishes it,
        # and only once every rank has finished writing.
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        self.args.output_dir = str(staging)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.output_dir = str(final_root)
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            self._publish_checkpoint(final_root, staging)
        self.accelerator.wait_for_everyone()

    def _publish_checkpoint(self, final_root: Path, staging: Path) -> None:
        name = f"checkpoint-{self.state.global_step}"
        final_root.mkdir(parents=True, exist_ok=True)
        target = final_root / name
        if target.exists():
            shutil.rmtree(target)
        # Durable before it is published: a crash must not leave a complete-looking checkpoint
        # whose files the disk never received.
        fsync_tree(staging / name)
        os.replace(staging / name, target)
        fsync_dir(final_root)
        shutil.rmtree(staging, ignore_errors=True)
        for old in final_root.glob("checkpoint-*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
        ctx = self.s2d_ctx
        ctx.events.emit(
            "checkpoint",
            stage=ctx.stage.id,
            step=self.state.global_step,
            path=ctx.run.relative(target),
        )


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (before the rename that publishes it)."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def save_final_model(trainer: Any, tokenizer: Any, ctx: StageContext) -> Path:
    """save_pretrained the trained model (with its tokenizer and model card) to
    stages/<id>/model, atomically."""
    final = ctx.run.model_dir(ctx.stage.id)
    staging = final.with_name(final.name + ".staging")
    if trainer.args.should_save:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # every rank: FSDP gathers the weights for the main rank
    trainer.accelerator.wait_for_everyone()
    if trainer.args.should_save:
        from trainer.model_card import write_model_card
        from trainer.models import cast_saved_weights

        tokenizer.save_pretrained(str(staging))
        cast_saved_weights(staging, ctx.frozen_dtype)
        # Published with the model: the plan's prediction now, the measured accuracy once the
        # stage's eval has run (trainer.executor rewrites it then).
        write_model_card(staging, ctx.plan, ctx.index, evals=None)
        shutil.rmtree(final, ignore_errors=True)
        fsync_tree(staging)
        os.replace(staging, final)
        fsync_dir(ctx.stage_dir)
    trainer.accelerator.wait_for_everyone()
    return final


class EventsCallback(TrainerCallback):
    """Trainer logs -> ``metrics`` events; Ctrl-C -> checkpoint and stop at the step boundary.

    Beside what the trainer logged, each event carries the stage's throughput
    since the previous log (``throughput/*_tokens_per_s``, from the spend meter).
    """

    def __init__(self, ctx: StageContext):
        self.ctx = ctx
        # wall time, tokens generated, tokens trained: what the stage had spent before training
        # started (the warmup's teacher rollouts) is not this step's throughput
        generated, trained, *_ = ctx.meter.totals()
        self._last = (time.perf_counter(), generated, trained)

    def _throughput(self) -> dict[str, float]:
        now = time.perf_counter()
        generated, trained, *_ = self.ctx.meter.totals()
        t0, generated0, trained0 = self._last
        self._last = (now, generated, trained)
        dt = now - t0
        if dt <= 0:
            return {}
        return {
            "throughput/generated_tokens_per_s": round((generated - generated0) / dt, 2),
            "throughput/trained_tokens_per_s": round((trained - trained0) / dt, 2),
        }

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs:
            return
        # Every rank logs at the same steps, so this collective lines up across ranks.
        examples = self.ctx.meter.sync()
        if not state.is_world_process_zero:
            return
        values = {
            k: float(v)
            for k, v in logs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if "train_runtime" in values:  # the closing summary, not a step
            return
        values.update(self._throughput())
        if examples:
            # rows that reached the loss since the last log, summed over ranks and accumulation
            values["train/examples_per_step"] = float(examples)
        self.ctx.events.emit(
            "metrics",
            stage=self.ctx.stage.id,
            step=state.global_step,
            total_steps=state.max_steps,
            values=values,
            spent=self.ctx.meter.spent(),
        )

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        from trainer.distributed import sum_ints

        if self.ctx.on_step is not None:
            self.ctx.on_step(state.global_step, state.max_steps)
        # Ranks get Ctrl-C one after another: they agree at each step boundary, so all of
        # them checkpoint and stop at the same step (a collective every rank reaches here).
        if sum_ints([int(self.ctx.stop.is_set())])[0] > 0:
            self.ctx.stop.set()
            self.ctx.interrupted = True
            control.should_save = True
            control.should_training_stop = True


def train_stage(
    trainer: Any, tokenizer: Any, ctx: StageContext, final_metric: tuple[str, str]
) -> StageResult:
    """Train (resuming from the newest complete checkpoint), honour Ctrl-C, save the model.

    ``final_metric`` is (log key, metric name): the last logged value of that key
    is reported in the stage's DONE marker.
    """
    prepare_trainer(trainer, ctx)
    if trainer.args.should_save:  # the settings it trains with, its trl: block merged in
        atomic_write_text(ctx.run.trl_config(ctx.stage.id), trainer.args.to_json_string())
    resume = latest_checkpoint(ctx.run.checkpoints_dir(ctx.stage.id))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if ctx.interrupted:  # agreed by every rank at a step boundary (EventsCallback.on_step_end)
        raise StageInterrupted(ctx.stage.id)
    out = save_final_model(trainer, tokenizer, ctx)
    key, name = final_metric
    values = [h[key] for h in trainer.state.log_history if key in h]
    return StageResult(model_path=out, metrics={name: float(values[-1])} if values else {})
