"""The run directory: every path in it, and the records the trainer leaves there.

    runs/<name>/plan.yaml                       the frozen plan (replaced whole, never edited)
    runs/<name>/events.jsonl                    the run log (planner.contracts.runlog)
    runs/<name>/stages/<id>/worker_events.jsonl, worker_result.json   rank 0's side channel
                                                under ``accelerate launch`` (trainer.launch)
    runs/<name>/.lock                           held by the live `s2d run` (flock), names its pid
    runs/<name>/stages/<id>/DONE.json           the stage finished: its model, metrics, spend, evals
    runs/<name>/stages/<id>/trl_config.json     the TRL config the stage trained with, resolved
    runs/<name>/stages/<id>/model/              the trained model (save_pretrained)
    runs/<name>/stages/<id>/model/README.md     its model card (YAML front matter: base model,
                                                data, tags, eval results; trainer.model_card)
    runs/<name>/stages/<id>/checkpoints/checkpoint-N/   resumable checkpoints (transformers' layout)
    runs/<name>/artifacts/<id>/teacher_rollouts.jsonl   the warmup's teacher samples
    runs/<name>/artifacts/<id>/eval_samples.jsonl       a few eval completions with their verdicts
    runs/<name>/stages/base/DONE.json           the untrained student's eval (pseudo-stage ``base``)
    runs/<name>/damaged/<when>/...              what resume found damaged and set aside (never deleted),
                                                at its path relative to the run directory
    runs/<name>/superseded/<when>/plan.yaml     a plan replaced by a corrected one before any work

Every package reads and writes these through :class:`RunDir`; nothing else
spells a name from this layout.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from planner.contracts.files import atomic_write_text, fsync_dir
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

    @classmethod
    def parse(cls, text: str) -> StageRecord:
        """A DONE.json's text as a record; ValueError saying what is wrong when it is not one."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("not valid JSON (truncated?)") from None
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        if not isinstance(data.get("stage"), str):
            raise ValueError("no stage name")
        checks = {
            "model_path": lambda v: v is None or isinstance(v, str),
            "metrics": lambda v: (
                isinstance(v, dict) and all(m is None or _is_number(m) for m in v.values())
            ),
            "spent": lambda v: (
                v is None or (isinstance(v, dict) and all(map(_is_number, v.values())))
            ),
            "evals": lambda v: isinstance(v, list) and all(isinstance(e, dict) for e in v),
            "finished_at": lambda v: v is None or _is_number(v),
        }
        for name, ok in checks.items():
            if name in data and not ok(data[name]):
                raise ValueError(f"its {name} is malformed")
        return cls.from_dict(data)


class DamagedFile(ValueError):
    """A file of the run directory that exists but cannot be used; ``path`` and ``why``."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path} is damaged: {why}")
        self.path, self.why = path, why


def _finite(value: Any) -> Any:
    """NaN and infinities (a diverged loss) as null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RunDir:
    root: Path

    PLAN: ClassVar[str] = "plan.yaml"
    EVENTS: ClassVar[str] = EVENTS_FILE
    LOCK: ClassVar[str] = ".lock"
    STAGES: ClassVar[str] = "stages"
    ARTIFACTS: ClassVar[str] = "artifacts"
    EVAL_SAMPLES: ClassVar[str] = "eval_samples.jsonl"
    DONE: ClassVar[str] = "DONE.json"
    MODEL: ClassVar[str] = "model"
    MODEL_CARD: ClassVar[str] = "README.md"
    CHECKPOINTS: ClassVar[str] = "checkpoints"
    TEACHER_ROLLOUTS: ClassVar[str] = "teacher_rollouts.jsonl"
    WORKER_EVENTS: ClassVar[str] = "worker_events.jsonl"
    WORKER_RESULT: ClassVar[str] = "worker_result.json"
    TRL_CONFIG: ClassVar[str] = "trl_config.json"
    DAMAGED: ClassVar[str] = "damaged"
    SUPERSEDED: ClassVar[str] = "superseded"
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

    def model_card(self, stage_id: str) -> Path:
        """The model card (README.md) in the stage's model directory."""
        return self.model_dir(stage_id) / self.MODEL_CARD

    def done_marker(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.DONE

    def checkpoints_dir(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.CHECKPOINTS

    def artifacts_dir(self, stage_id: str) -> Path:
        return self.root / self.ARTIFACTS / stage_id

    def eval_samples(self, stage_id: str) -> Path:
        """A few of the stage's latest eval completions with their verdicts (s2d watch)."""
        return self.artifacts_dir(stage_id) / self.EVAL_SAMPLES

    def teacher_rollouts(self, stage_id: str) -> Path:
        return self.artifacts_dir(stage_id) / self.TEACHER_ROLLOUTS

    def trl_config(self, stage_id: str) -> Path:
        """The TRL config the stage trained with, as resolved (its ``trl:`` block merged)."""
        return self.stage_dir(stage_id) / self.TRL_CONFIG

    def worker_events(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.WORKER_EVENTS

    def worker_result(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / self.WORKER_RESULT

    def relative(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))

    def dated_folder(self, under: str) -> Path:
        """A new, empty ``<under>/<when>`` folder of the run (``<when>-2``, ... within a second)."""
        when = time.strftime("%Y%m%d-%H%M%S")
        (self.root / under).mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            folder = self.root / under / (when if n == 1 else f"{when}-{n}")
            try:
                folder.mkdir()  # atomic: two ranks setting files aside never share one
                return folder
            except FileExistsError:
                continue
        raise FileExistsError(f"{self.root / under} holds 10,000 folders named {when}")

    def set_aside(self, path: Path) -> Path:
        """Move a damaged file or directory of the run to ``damaged/<when>/<its relative path>``.

        Nothing is deleted: the user can inspect or restore what was set aside,
        and the run redoes what it held. Returns the new path.
        """
        target = self.dated_folder(self.DAMAGED) / self.relative(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        for parent in {path.parent, target.parent}:
            fsync_dir(parent)
        return target

    # -- records ---------------------------------------------------------------
    def read_done(self, stage_id: str) -> StageRecord | None:
        """The stage's DONE record; None when it has none; DamagedFile when it cannot be read."""
        marker = self.done_marker(stage_id)
        if not marker.exists():
            return None
        try:
            return StageRecord.parse(marker.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise DamagedFile(marker, "not UTF-8 text") from None
        except ValueError as e:
            raise DamagedFile(marker, str(e)) from None

    def write_done(self, record: StageRecord) -> Path:
        return atomic_write_text(
            self.done_marker(record.stage),
            json.dumps(_finite(asdict(record)), indent=2, allow_nan=False),
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
