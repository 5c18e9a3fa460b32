"""One rank of a training stage launched by ``accelerate launch`` (see trainer.launch).

Usage (by the parent, not by hand): ``python -m trainer.worker RUN_DIR STAGE_ID [TOY_ZOO]``.
Every rank rebuilds the stage's context exactly as the executor does
(:meth:`trainer.context.StageContext.create`, from the frozen plan and the
finished stages' DONE markers); rank 0 writes the events and the result, with
the spend summed over all ranks.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

# Who started this rank, read before the project (and torch) is imported, in main: a
# launcher that dies while they load is still seen as gone (the rank is re-parented by then).
LAUNCHER = os.getppid()


class _NullEvents:
    def emit(self, kind: str, **data: Any) -> None:
        return None

    def close(self) -> None:
        return None


def _exit_with_launcher() -> None:
    """Stop this rank at once if the launcher that started it is gone.

    torchrun starts each rank in a session of its own, so a launcher killed with
    SIGKILL takes no rank with it; an orphaned rank would go on writing
    checkpoints beside the run that resumes the stage. Its work since the last
    checkpoint is lost, as in any crash.
    """

    def watch() -> None:
        while True:
            if os.getppid() != LAUNCHER:
                print("trainer.worker: the launcher exited; stopping this rank", file=sys.stderr)
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="s2d-launcher-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    _exit_with_launcher()
    import torch
    from accelerate import PartialState

    from planner.contracts import EventWriter, RunDir, atomic_write_text, load_plan
    from trainer.context import StageContext, run_training
    from trainer.executor import Executor, RunOptions
    from trainer.hf import quiet_libraries
    from trainer.stages import StageInterrupted
    from trainer.verifier import Verifier

    quiet_libraries()
    run, stage_id = RunDir(argv[0]), argv[1]
    # Without a GPU the ranks run on the CPU and join over gloo (accelerate's torchrun
    # launcher leaves that choice to the process).
    # The collectives wait as long as teacher rollouts can take on an uneven rank (the
    # default 10 minutes of NCCL would cut a long warmup short).
    state = PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(hours=6))
    plan = load_plan(run.plan)
    index = next(i for i, s in enumerate(plan.stages) if s.id == stage_id)
    executor = Executor(plan, run.root, RunOptions(toy_zoo=Path(argv[2]) if argv[2:] else None))
    student, teacher = executor.resolve_models()
    split, _ = executor.load_data(check_fit=False)  # checked by the run before it launched
    stop = threading.Event()
    # Ctrl-C, or SIGTERM (the launcher's stop when the run is terminated): the next step
    # boundary, with a checkpoint
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    events: Any = (
        EventWriter(run.worker_events(stage_id)) if state.is_main_process else _NullEvents()
    )
    status, metrics = "ok", {}
    with Verifier(workers=1, extraction=plan.verifier.extraction) as verifier:
        ctx = StageContext.create(
            plan,
            index,
            run.root,
            student=student,
            teacher=teacher,
            split=split,
            verifier=verifier,
            events=events,
            device=str(state.device),
            gpus=state.num_processes if str(state.device).startswith("cuda") else 0,
            stop=stop,
        )
        try:
            metrics = run_training(ctx).metrics
        except StageInterrupted:
            status = "interrupted"
        ctx.meter.sync()  # every rank's tokens, not only the main rank's
    events.close()
    if state.is_main_process:
        result = {"status": status, "metrics": metrics, "spent": ctx.meter.spent().to_dict()}
        atomic_write_text(run.worker_result(stage_id), json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
