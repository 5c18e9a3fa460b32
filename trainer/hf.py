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

from trainer.context import SpendMeter, StageContext, StageResult
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
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "gradient_checkpointing": cuda,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


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
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` under a stage's checkpoints directory, or None."""
    if not root.is_dir():
        return None
    done = [p for p in root.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


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

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        output_dir = self.args.output_dir
        assert output_dir is not None  # training_args() always sets it
        final_root = Path(output_dir)
        staging = final_root.parent / (final_root.name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)
        self.args.output_dir = str(staging)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.output_dir = str(final_root)
        if not self.args.should_save:
            return  # non-zero ranks write nothing
        name = f"checkpoint-{self.state.global_step}"
        final_root.mkdir(parents=True, exist_ok=True)
        target = final_root / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / name, target)
        _fsync_dir(final_root)
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_final_model(trainer: Any, tokenizer: Any, ctx: StageContext) -> Path:
    """save_pretrained the trained model (with its tokenizer) to stages/<id>/model, atomically."""
    final = ctx.run.model_dir(ctx.stage.id)
    staging = final.with_name(final.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    trainer.save_model(str(staging))
    if trainer.args.should_save:
        tokenizer.save_pretrained(str(staging))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        _fsync_dir(ctx.stage_dir)
    return final


class EventsCallback(TrainerCallback):
    """Trainer logs -> ``metrics`` events; Ctrl-C -> checkpoint and stop at the step boundary.

    Beside what the trainer logged, each event carries the stage's throughput
    since the previous log (``throughput/*_tokens_per_s``, from the spend meter).
    """

    def __init__(
        self,
        ctx: StageContext,
        tokens_from_logs: Callable[[dict[str, Any], SpendMeter], None] | None = None,
    ):
        self.ctx = ctx
        self.tokens_from_logs = tokens_from_logs
        # wall time, tokens generated, tokens trained: what the stage had spent before training
        # started (the warmup's teacher rollouts) is not this step's throughput
        self._last = (time.perf_counter(), ctx.meter.tokens_generated, ctx.meter.tokens_trained)

    def _throughput(self) -> dict[str, float]:
        now, meter = time.perf_counter(), self.ctx.meter
        t0, generated0, trained0 = self._last
        self._last = (now, meter.tokens_generated, meter.tokens_trained)
        dt = now - t0
        if dt <= 0:
            return {}
        return {
            "throughput/generated_tokens_per_s": round(
                (meter.tokens_generated - generated0) / dt, 2
            ),
            "throughput/trained_tokens_per_s": round((meter.tokens_trained - trained0) / dt, 2),
        }

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        if self.tokens_from_logs is not None:
            self.tokens_from_logs(logs, self.ctx.meter)
        values = {
            k: float(v)
            for k, v in logs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if "train_runtime" in values:  # the closing summary, not a step
            return
        values.update(self._throughput())
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
        if self.ctx.on_step is not None:
            self.ctx.on_step(state.global_step, state.max_steps)
        if self.ctx.stop.is_set():
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
    resume = latest_checkpoint(ctx.run.checkpoints_dir(ctx.stage.id))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if ctx.stop.is_set():
        raise StageInterrupted(ctx.stage.id)
    out = save_final_model(trainer, tokenizer, ctx)
    key, name = final_metric
    values = [h[key] for h in trainer.state.log_history if key in h]
    return StageResult(model_path=out, metrics={name: float(values[-1])} if values else {})
