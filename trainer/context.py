"""What a stage executor is handed, and what it hands back; and the one way to build it.

The executor owns the run directory, the event log and model lineage; a stage
only sees its own slice: the checkpoint it starts from, the teacher (if any),
exactly the data the plan allocated to it (prompts without answers for the
bridge), and a meter that accumulates what it spends. :meth:`StageContext.create`
builds that slice from the run directory and the split, for the executor, for
each rank under ``accelerate launch`` (trainer.worker) and for the GPU check,
so the three cannot drift apart; :func:`run_training` runs it with the kind's
runner from the registry (planner.contracts.kinds).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.contracts import EventWriter, Plan, RunDir, Spend, Stage, kind_of


class SpendMeter:
    """Budget spent by one stage: token counters plus wall and CPU time since start.

    Under several processes each rank counts what it did itself; :meth:`sync`
    (a collective, called by every rank at the same point) adds the other
    ranks' counts, so :meth:`spent` on any rank is the stage's total as of the
    last sync.

    Across a resume, ``offset`` carries what earlier attempts of the stage spent
    (the executor reads it from their last ``metrics`` event), so ``spent()`` is
    the stage's total. Two rules keep that total honest. Labels belong to the
    stage, not to an attempt: the offset holds none, and the stage's labels count
    once however often it restarts. Tokens count what was computed: each logged
    step once per time it ran. The trainer resumes from its last checkpoint, so
    after a crash (SIGKILL) the steps between that checkpoint and the crash run
    again and count again; after Ctrl-C the checkpoint is the step it stopped at,
    and nothing is counted twice.
    """

    def __init__(self, gpus: int = 0, labels: int = 0):
        self.gpus = gpus
        self.labels = labels
        self.tokens_generated = 0
        self.tokens_trained = 0
        self.teacher_tokens_scored = 0
        self.student_tokens_scored = 0
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._lock = threading.Lock()
        self.offset = Spend()  # what earlier attempts of this stage spent (resume)
        self.cpu_extra = 0.0  # CPU seconds of worker processes (accelerate launch)
        self._others = (0, 0, 0, 0)  # the other ranks' token counts at the last sync
        self.examples = 0  # training rows this rank has fed to the loss since the last sync

    def sync(self) -> int:
        """Add the other ranks' token counts (a collective; a no-op in one process).

        Returns the training rows fed to the loss on all ranks since the last
        sync (one all-reduce carries both).
        """
        from trainer.distributed import sum_ints

        with self._lock:
            local = [
                self.tokens_generated,
                self.tokens_trained,
                self.teacher_tokens_scored,
                self.student_tokens_scored,
                self.examples,
            ]
            self.examples = 0
        totals = sum_ints(local)
        others = [t - m for t, m in zip(totals[:4], local[:4], strict=True)]
        self._others = (others[0], others[1], others[2], others[3])
        return totals[4]

    def add(
        self,
        *,
        generated: int = 0,
        trained: int = 0,
        teacher_scored: int = 0,
        student_scored: int = 0,
    ) -> None:
        with self._lock:
            self.tokens_generated += int(generated)
            self.tokens_trained += int(trained)
            self.teacher_tokens_scored += int(teacher_scored)
            self.student_tokens_scored += int(student_scored)

    def totals(self) -> tuple[int, int, int, int]:
        """Tokens generated, trained, teacher- and student-scored on all ranks, at the last sync."""
        return (
            self.tokens_generated + self._others[0],
            self.tokens_trained + self._others[1],
            self.teacher_tokens_scored + self._others[2],
            self.student_tokens_scored + self._others[3],
        )

    def spent(self) -> Spend:
        wall = time.perf_counter() - self._wall0
        generated, trained, scored, student_scored = self.totals()
        now = Spend(
            tokens_generated=generated,
            tokens_trained=trained,
            teacher_tokens_scored=scored,
            student_tokens_scored=student_scored,
            wall_seconds=round(wall, 3),
            gpu_hours=round(wall * self.gpus / 3600.0, 6),
            cpu_seconds=round(time.process_time() - self._cpu0 + self.cpu_extra, 3),
            labels=self.labels,
        )
        return self.offset + now


@dataclass
class StageData:
    labeled: list[Any] | None = None  # trainer.data.MathProblem, only for stages that read labels
    prompts: list[Any] | None = None  # trainer.data.Prompt: no answers


def stage_data(stage: Stage, split: Any) -> tuple[StageData, int]:
    """Exactly what the plan allocated to ``stage`` from the split, and the labels it reads."""
    if stage.data == "labels.stage1":
        return StageData(labeled=split.stage1), len(split.stage1)
    if stage.data == "labels.stage3":
        return StageData(labeled=split.stage3), len(split.stage3)
    if stage.data == "prompts":
        return StageData(prompts=split.prompts), 0
    return StageData(), 0


@dataclass
class StageContext:
    plan: Plan
    stage: Stage
    index: int
    run_dir: Path
    model_path: Path  # the checkpoint this stage starts from
    teacher_path: Path | None
    data: StageData
    verifier: Any  # trainer.verifier.Verifier
    events: EventWriter
    meter: SpendMeter
    device: str = "cpu"
    stop: threading.Event = field(default_factory=threading.Event)
    save_every: int = 0  # steps between checkpoints; 0: about ten per stage
    on_step: Callable[[int, int], None] | None = None  # (step, total) for progress bars
    engine: str = "transformers"
    interrupted: bool = False  # training stopped early on Ctrl-C, agreed by every rank

    @classmethod
    def create(
        cls,
        plan: Plan,
        index: int,
        run_dir: Path,
        *,
        student: Path,
        teacher: Path | None,
        split: Any,
        verifier: Any,
        events: Any,
        device: str,
        gpus: int = 0,
        stop: threading.Event | None = None,
        save_every: int = 0,
        on_step: Callable[[int, int], None] | None = None,
    ) -> StageContext:
        """The context of ``plan.stages[index]`` in ``run_dir``.

        ``student`` and ``teacher`` are the plan's own models; the stage starts
        from whatever the finished stages before it left (their DONE markers).
        """
        stage = plan.stages[index]
        held = RunDir(run_dir).lineage(plan, student, teacher, before=index)
        start_from = held[stage.model]
        if start_from is None:
            raise ValueError(f"stage {stage.id} trains the {stage.model}, which the plan lacks")
        data, labels = stage_data(stage, split)
        return cls(
            plan=plan,
            stage=stage,
            index=index,
            run_dir=Path(run_dir),
            model_path=start_from,
            teacher_path=held["teacher"] if kind_of(stage).reads_teacher else None,
            data=data,
            verifier=verifier,
            events=events,
            meter=SpendMeter(gpus=gpus, labels=labels),
            device=device,
            stop=stop or threading.Event(),
            save_every=save_every,
            on_step=on_step,
            engine=plan.rollout.engine,
        )

    @property
    def run(self) -> RunDir:
        return RunDir(self.run_dir)

    @property
    def stage_dir(self) -> Path:
        return self.run.stage_dir(self.stage.id)

    @property
    def artifacts_dir(self) -> Path:
        return self.run.artifacts_dir(self.stage.id)

    @property
    def frozen_dtype(self) -> Any:
        """The dtype frozen models load in and trained models are saved in (the plan's precision)."""
        from trainer.models import weights_dtype

        return weights_dtype(self.plan.precision, self.device)

    @property
    def seed(self) -> int:
        # Every stage draws its own randomness from the plan seed, so that
        # changing the seed varies all stages, not only the last.
        return (self.plan.seed * 1_000_003 + self.index * 7919) % (2**31)


@dataclass
class StageResult:
    model_path: Path | None  # the trained checkpoint (None for eval stages)
    metrics: dict[str, float] = field(default_factory=dict)


def stage_runner(kind: str) -> Callable[[StageContext], StageResult]:
    """The trainer function of a training kind, as its registry entry names it."""
    runner = kind_of(kind).runner
    if runner is None:
        raise ValueError(f"stage kind {kind!r} trains nothing; the executor runs it itself")
    module, _, name = runner.partition(":")
    fn: Callable[[StageContext], StageResult] = getattr(importlib.import_module(module), name)
    return fn


def run_training(ctx: StageContext) -> StageResult:
    return stage_runner(ctx.stage.kind)(ctx)
