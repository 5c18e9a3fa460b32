"""Run training stages under ``accelerate launch`` (DDP, FSDP or DeepSpeed, as its config says).

The parent process keeps everything that must happen once: the lock, the plan
freeze, evaluation, DONE markers and the event log. Each training stage is
handed to ``accelerate launch -m trainer.worker RUN_DIR STAGE_ID``; every rank
rebuilds the stage's context from the run directory (the split is seeded, the
lineage comes from DONE markers), rank 0 writes the stage's events to a side
file that the parent tails and re-emits in order, and the result comes back
through ``worker_result.json``. Ctrl-C reaches the workers too: they stop at the
next step boundary with a checkpoint, like a local run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from planner.contracts import EventTail, Plan, Spend, UserError
from trainer.context import StageContext, StageResult
from trainer.executor import Executor, RunOptions
from trainer.stages import StageInterrupted

RELAYED = ("metrics", "checkpoint", "warning")


def launch_command(
    config: Path, run_dir: Path, stage_id: str, toy_zoo: str | Path | None = None
) -> list[str]:
    """The worker's command line; the toy zoo travels with it, as the parent resolved it."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "-m",
        "trainer.worker",
        str(run_dir),
        stage_id,
        *([str(Path(toy_zoo).resolve())] if toy_zoo else []),
    ]


def _prctl() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


# Resolved in the parent: between fork and exec the child only calls it (no imports, no dlopen).
_PRCTL = _prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the launcher's child: receive SIGTERM when the parent dies (Linux PR_SET_PDEATHSIG).

    accelerate's launcher stops its ranks on SIGTERM; without this a parent killed
    with SIGKILL would leave the ranks training into a run directory that a
    resumed run then shares with them. A parent already gone by then: exit.
    """
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:
        os._exit(1)


def config_processes(config: Path) -> int:
    """``num_processes`` of an accelerate config file (all machines together; 1 when unset)."""
    from planner.contracts import load_yaml_text, read_text

    data = load_yaml_text(read_text(config, "accelerate config"), str(config))
    value = data.get("num_processes", 1) if isinstance(data, dict) else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"{config}: num_processes must be a positive integer, got {value!r}.")
    return value


def check_batches(plan: Plan, processes: int) -> None:
    """Refuse, before anything runs, a stage whose step does not split over the processes."""
    for stage in plan.stages:
        if stage.budget is None:
            continue
        rows = stage.budget.prompts_per_step * stage.budget.samples_per_prompt
        split = processes * stage.optim.gradient_accumulation_steps
        if rows % split:
            raise UserError(
                f"stage {stage.id}: a step of prompts_per_step x samples_per_prompt = {rows} rows "
                f"cannot be split over {processes} processes x "
                f"{stage.optim.gradient_accumulation_steps} accumulation step(s); make it a "
                f"multiple of {split} (or change gradient_accumulation_steps)."
            )


class AccelerateExecutor(Executor):
    def __init__(self, plan: Plan, run_dir: Path, config: Path, options: RunOptions | None = None):
        super().__init__(plan, run_dir, options)
        self.config = Path(config).resolve()

    def run(self) -> str:
        check_batches(self.plan, config_processes(self.config))
        return super().run()

    def _run_stage_fn(self, ctx: StageContext) -> StageResult:
        side = ctx.run.worker_events(ctx.stage.id)
        result_path = ctx.run.worker_result(ctx.stage.id)
        for stale in (side, result_path):
            stale.unlink(missing_ok=True)
        parent = os.getpid()
        proc = subprocess.Popen(
            launch_command(self.config, self.run_dir, ctx.stage.id, self.toy_zoo),
            preexec_fn=(lambda: _die_with_parent(parent)) if _PRCTL is not None else None,
            # On Ctrl-C the launcher forwards SIGINT and waits this long before SIGKILL; a
            # rank finishes its step and writes its checkpoint first, which can take minutes.
            env={**os.environ, "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "3600"},
        )
        tail = EventTail(side)
        forwarded = False
        try:
            while proc.poll() is None:
                self._relay(tail, ctx)
                if signal.SIGTERM in self.signals and not forwarded:
                    # Ctrl-C reaches the launcher from the terminal; SIGTERM came to this
                    # process alone: pass it on (the launcher stops its ranks with it)
                    proc.send_signal(signal.SIGTERM)
                    forwarded = True
                time.sleep(0.5)
        except KeyboardInterrupt:
            proc.wait()
            raise
        self._relay(tail, ctx)
        if not result_path.exists():
            raise UserError(
                f"stage {ctx.stage.id} failed under accelerate launch (exit code {proc.returncode}); see the output above."
            )
        result = json.loads(result_path.read_text())
        spent = Spend.from_dict(result.get("spent"))
        ctx.meter.add(
            generated=spent.tokens_generated,
            trained=spent.tokens_trained,
            teacher_scored=spent.teacher_tokens_scored,
            student_scored=spent.student_tokens_scored,
        )
        ctx.meter.cpu_extra += spent.cpu_seconds
        if result["status"] == "interrupted":
            raise StageInterrupted(ctx.stage.id)
        return StageResult(
            model_path=ctx.run.model_dir(ctx.stage.id), metrics=result.get("metrics", {})
        )

    def _relay(self, tail: EventTail, ctx: StageContext) -> None:
        for event in tail.poll():
            if event.kind in RELAYED:
                data: dict[str, Any] = dict(event.data)
                if event.kind == "metrics" and data.get("spent"):
                    # The worker's meter starts at zero: add what earlier attempts spent.
                    data["spent"] = (ctx.meter.offset + Spend.from_dict(data["spent"])).to_dict()
                ctx.events.emit(event.kind, **data)
                if event.kind == "metrics" and ctx.on_step is not None:
                    ctx.on_step(int(data["step"]), int(data.get("total_steps") or 0))
