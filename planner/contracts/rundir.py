"""The run directory: every path in it, and the records the trainer leaves there.

    runs/<name>/plan.yaml                       the frozen plan (replaced whole, never edited)
    runs/<name>/events.jsonl                    the run log (planner.contracts.runlog)
    runs/<name>/stages/<id>/worker_events.jsonl, worker_result.json   rank 0's side channel
                                                under ``accelerate launch`` (trainer.launch)
    runs/<name>/.lock                           held by the live `s2d run` (flock), names its pid
    runs/<name>/stages/<id>/DONE.json           the stage finished: its model, metrics, spend, evals
    runs/<name>/stages/<id>/model/              the trained model (save_pretrained)
    runs/<name>/stages/<id>/checkpoints/checkpoint-N/   resumable checkpoints (transformers' layout)
    runs/<name>/artifacts/<id>/teacher_rollouts.jsonl   the warmup's teacher samples
    runs/<name>/stages/base/DONE.json           the untrained student's eval (pseudo-stage ``base``)

Every package reads and writes these through :class:`RunDir`; nothing else
spells a name from this layout.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from planner.contracts.files import atomic_write_text
from planner.contracts.runlog import EVENTS_FILE

if TYPE_CHECKING:
    from planner.contracts.plan import Plan

BASE_STAGE = "base"  # eval events before any training stage: the untrained student


@dataclass
class StageRecord:
    """A stage's DONE marker: written once the stage (and its eval) finished."""

    stage: str
    status: str = "ok"
    model_path: str | None = None  # relative to the run directory; None for evals
    metrics: dict[str, float] = field(default_factory=dict)
    spent: dict[str, Any] | None = None  # a Spend as a dict
    evals: list[dict[str, Any]] = field(default_factory=list)  # the eval events' payloads
    finished_at: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RunDir:
    root: Path

    PLAN: ClassVar[str] = "plan.yaml"
    EVENTS: ClassVar[str] = EVENTS_FILE
    LOCK: ClassVar[str] = ".lock"
    STAGES: ClassVar[str] = "stages"
    ARTIFACTS: ClassVar[str] = "artifacts"
    DONE: ClassVar[str] = "DONE.json"
    MODEL: ClassVar[str] = "model"
    CHECKPOINTS: ClassVar[str] = "checkpoints"
    TEACHER_ROLLOUTS: ClassVar[str] = "teacher_rollouts.jsonl"
    WORKER_EVENTS: ClassVar[str] = "worker_events.jsonl"
    WORKER_RESULT: ClassVar[str] = "worker_result.json"
    # What a trainer may create before plan.yaml: a directory of only these is a run in the making.
    ENTRIES: ClassVar[frozenset[str]] = frozenset({PLAN, EVENTS, LOCK, STAGES, ARTIFACTS})

    def __init__(self, root: str | os.PathLike[str]):
        object.__setattr__(self, "root", Path(root))

    # -- files of the run ------------------------------------------------------
    @property
    def plan(self) -> Path:
        return self.root / self.PLAN

    @property
    def events(self) -> Path:
        return self.root / self.EVENTS

    @property
    def lock(self) -> Path:
        return self.root / self.LOCK

    def is_run(self) -> bool:
        """A run directory holds plan.yaml and/or events.jsonl."""
        return self.plan.is_file() or self.events.is_file()

    # -- per stage -------------------------------------------------------------
    def stage_dir(self, stage_id: str) -> Path:
        return self.root / self.STAGES / stage_id

    def model_dir(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.MODEL

    def done_marker(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.DONE

    def checkpoints_dir(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.CHECKPOINTS

    def artifacts_dir(self, stage_id: str) -> Path:
        return self.root / self.ARTIFACTS / stage_id

    def teacher_rollouts(self, stage_id: str) -> Path:
        return self.artifacts_dir(stage_id) / self.TEACHER_ROLLOUTS

    def worker_events(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.WORKER_EVENTS

    def worker_result(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.WORKER_RESULT

    def relative(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))

    # -- records ---------------------------------------------------------------
    def read_done(self, stage_id: str) -> StageRecord | None:
        marker = self.done_marker(stage_id)
        if not marker.exists():
            return None
        return StageRecord.from_dict(json.loads(marker.read_text(encoding="utf-8")))

    def write_done(self, record: StageRecord) -> Path:
        return atomic_write_text(
            self.done_marker(record.stage), json.dumps(asdict(record), indent=2)
        )

    def lineage(
        self,
        plan: Plan,
        student: Path,
        teacher: Path | None,
        before: int | None = None,
    ) -> dict[str, Path | None]:
        """Which checkpoint each role (student, teacher) holds before stage ``before``.

        Starts from the plan's own models and follows the DONE markers of the
        finished stages in order (all of them when ``before`` is None).
        """
        held: dict[str, Path | None] = {"student": student, "teacher": teacher}
        for stage in plan.stages[:before]:
            record = self.read_done(stage.id)
            if record is not None and record.model_path:
                held[stage.model] = self.root / record.model_path
        return held

    @classmethod
    def of_model(cls, path: str | os.PathLike[str]) -> tuple[RunDir, str] | None:
        """``<run>/stages/<id>/model`` as (that run, the stage id); None for any other path."""
        parts = Path(path).parts
        if len(parts) >= 4 and parts[-1] == cls.MODEL and parts[-3] == cls.STAGES:
            return cls(Path(*parts[:-3])), parts[-2]
        return None
