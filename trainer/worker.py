"""One rank of a training stage launched by ``accelerate launch`` (see trainer.launch).

Usage (by the parent, not by hand): ``python -m trainer.worker RUN_DIR STAGE_ID``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from planner.contracts import EventWriter, atomic_write_text, load_plan
from trainer.context import SpendMeter, StageContext
from trainer.executor import DONE, Executor, stage_function
from trainer.launch import WORKER_EVENTS, WORKER_RESULT
from trainer.stages import StageInterrupted


class _NullEvents:
    def emit(self, kind: str, **data: Any) -> None:
        return None

    def close(self) -> None:
        return None


def lineage_before(
    run_dir: Path, plan: Any, stage_index: int, student: Path, teacher: Path | None
) -> dict[str, Path | None]:
    lineage: dict[str, Path | None] = {"student": student, "teacher": teacher}
    for stage in plan.stages[:stage_index]:
        marker = run_dir / "stages" / stage.id / DONE
        if marker.exists():
            record = json.loads(marker.read_text())
            if record.get("model_path"):
                lineage[stage.model] = run_dir / record["model_path"]
    return lineage


def main(argv: list[str]) -> int:
    from accelerate import PartialState

    from trainer.hf import quiet_libraries
    from trainer.verifier import Verifier

    quiet_libraries()
    run_dir, stage_id = Path(argv[0]), argv[1]
    state = PartialState()
    plan = load_plan(run_dir / "plan.yaml")
    index = next(i for i, s in enumerate(plan.stages) if s.id == stage_id)
    stage = plan.stages[index]
    executor = Executor(plan, run_dir)
    student, teacher = executor.resolve_models()
    split, _ = executor.load_data()
    data, labels = executor._stage_data(stage, split)
    lineage = lineage_before(run_dir, plan, index, student, teacher)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    events: Any = (
        EventWriter(run_dir / "stages" / stage_id / WORKER_EVENTS)
        if state.is_main_process
        else _NullEvents()
    )
    meter = SpendMeter(
        gpus=state.num_processes if str(state.device).startswith("cuda") else 0, labels=labels
    )
    status, metrics = "ok", {}
    with Verifier(workers=1) as verifier:
        model_path = lineage[stage.model]
        assert model_path is not None
        ctx = StageContext(
            plan=plan,
            stage=stage,
            index=index,
            run_dir=run_dir,
            model_path=model_path,
            teacher_path=lineage["teacher"] if stage.distils else None,
            data=data,
            verifier=verifier,
            events=events,
            meter=meter,
            device=str(state.device),
            stop=stop,
            engine=plan.rollout.engine,
        )
        try:
            metrics = stage_function(stage.kind)(ctx).metrics
        except StageInterrupted:
            status = "interrupted"
    events.close()
    if state.is_main_process:
        result = {"status": status, "metrics": metrics, "spent": meter.spent().to_dict()}
        atomic_write_text(run_dir / "stages" / stage_id / WORKER_RESULT, json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
