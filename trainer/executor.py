"""Execute a plan stage by stage into a resumable, observable run directory.

The executor resolves models and data, checks teacher/student compatibility
before any weights load, splits the labeled pool so that each stage sees only
what the plan allocated to it, then runs the stages in order. Every stage ends
with a DONE marker (metrics and spend); re-running on the same directory skips
finished stages and restarts an unfinished one from its last complete
checkpoint. Everything observable goes to events.jsonl (see planner.contracts.runlog).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.contracts import (
    EVENTS_FILE,
    EvalOptions,
    EventWriter,
    Plan,
    Spend,
    Stage,
    UserError,
    atomic_write_text,
    read_events,
)
from trainer.context import SpendMeter, StageContext, StageData
from trainer.rundir import RunLock, check_same_plan, freeze_plan
from trainer.stages import StageInterrupted

DONE = "DONE.json"
BASE = "base"  # pseudo-stage: the student before any training


class Reporter:
    """What the console sees; the default says nothing (tests, background runs)."""

    def run_started(self, plan: Plan, run_dir: Path, resumed: bool) -> None: ...
    def stage_started(self, stage_id: str, kind: str, total_steps: int) -> None: ...
    def step(self, stage_id: str, step: int, total: int) -> None: ...
    def stage_skipped(self, stage_id: str) -> None: ...
    def stage_finished(self, stage_id: str, spent: Spend) -> None: ...
    def evaluated(
        self, stage_id: str, model: str, benchmark: str, accuracy: float, greedy: float | None
    ) -> None: ...
    def note(self, text: str) -> None: ...


@dataclass
class RunOptions:
    device: str | None = None  # None: cuda when available
    save_every: int = 0
    verifier_workers: int = 2
    verifier_timeout_s: float = 5.0
    reporter: Reporter = field(default_factory=Reporter)


def resolve_data_path(ref: str) -> Path:
    if ref.startswith("toy:"):
        from trainer.models import active_zoo
        from trainer.toy.zoo import resolve_toy_path

        return resolve_toy_path(ref, active_zoo())
    return Path(ref).expanduser()


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def planned_spend(plan: Plan, stage: Stage, labels: int) -> Spend:
    """The stage's budget in Spend terms: token ceilings (every sample at max_new_tokens) and predicted compute."""
    b = stage.budget
    ceiling = b.steps * b.prompts_per_step * b.samples_per_prompt * b.max_new_tokens if b else 0
    spend = Spend(labels=labels)
    if stage.kind in ("grpo", "opd"):
        spend.tokens_generated = spend.tokens_trained = ceiling
        spend.teacher_tokens_scored = ceiling if stage.kind == "opd" else 0
    elif stage.kind == "forward_kl" and b is not None:
        # one rollout per sample of each distinct prompt; trained as often as the steps reach
        spend.tokens_generated = min(
            ceiling, plan.labels.prompts * b.samples_per_prompt * b.max_new_tokens
        )
        spend.tokens_trained = ceiling
        spend.teacher_tokens_scored = ceiling if stage.options.mode == "soft" else 0
    pred = plan.prediction.stages.get(stage.id) if plan.prediction else None
    if pred is not None:
        if plan.prediction.compute_unit == "cpu_seconds":  # type: ignore[union-attr]
            spend.cpu_seconds = pred.compute
        else:
            spend.gpu_hours = pred.compute
    return spend


@contextmanager
def _graceful_sigint(stop: threading.Event, reporter: Reporter) -> Iterator[None]:
    """First Ctrl-C: stop at the next step boundary with a checkpoint. Second: stop now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        reporter.note(
            "stopping at the next step boundary (checkpoint first); Ctrl-C again to stop now"
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Executor:
    def __init__(self, plan: Plan, run_dir: Path, options: RunOptions | None = None):
        self.plan = plan
        self.run_dir = Path(run_dir)
        self.options = options or RunOptions()
        self.stop = threading.Event()

    # -- preparation (no weights loaded) -------------------------------------

    def resolve_models(self) -> tuple[Path, Path | None]:
        from trainer.models import check_compatible, resolve_model_path

        student = resolve_model_path(self.plan.student.path)
        teacher = resolve_model_path(self.plan.teacher.path) if self.plan.teacher else None
        if teacher is not None:
            check_compatible(teacher, student)
        return student, teacher

    def load_data(self) -> tuple[Any, dict[str, list[Any]]]:
        from trainer.data import find_overlap, load_problems, split_pool

        plan, lab = self.plan, self.plan.labels
        eval_sets = {e.name: load_problems(resolve_data_path(e.path)) for e in plan.datasets.eval}
        labeled = load_problems(resolve_data_path(plan.datasets.labeled))
        prompt_pool = (
            load_problems(resolve_data_path(plan.datasets.prompts), require_answers=False)
            if plan.datasets.prompts
            else None
        )
        split = split_pool(
            labeled,
            lab.stage1,
            lab.stage3,
            lab.prompts,
            lab.seed,
            eval_sets=list(eval_sets.values()),
            prompt_pool=prompt_pool,
        )
        for name, problems in eval_sets.items():
            for part, chosen in (
                ("stage-1 labels", split.stage1),
                ("stage-3 labels", split.stage3),
                ("prompts", split.prompts),
            ):
                overlap = find_overlap(problems, chosen)
                if overlap:
                    raise UserError(
                        f"eval set {name!r} shares {len(overlap)} problem(s) with the {part} (e.g. id {overlap[0]}); remove them from one side so that accuracy is measured on unseen problems."
                    )
        return split, eval_sets

    # -- the run --------------------------------------------------------------

    def run(self) -> str:
        """Run (or resume) the plan. Returns the final status: ok or interrupted."""
        from trainer.hf import quiet_libraries

        quiet_libraries()
        # Whatever can refuse the run is checked before the run directory is touched: a
        # refused run must leave no trace (a frozen plan.yaml would then refuse the fixed plan).
        check_same_plan(self.run_dir, self.plan)
        student, teacher = self.resolve_models()
        split, eval_sets = self.load_data()
        lock = RunLock(self.run_dir)
        lock.acquire()
        try:
            resumed = freeze_plan(self.run_dir, self.plan)
            with EventWriter(self.run_dir / EVENTS_FILE) as events:
                return self._run(events, resumed, student, teacher, split, eval_sets)
        finally:
            lock.release()

    def _run(
        self,
        events: EventWriter,
        resumed: bool,
        student: Path,
        teacher: Path | None,
        split: Any,
        eval_sets: dict[str, list[Any]],
    ) -> str:
        from trainer.verifier import Verifier

        opts, plan, reporter = self.options, self.plan, self.options.reporter
        device = opts.device or _default_device()
        gpus = 1 if device.startswith("cuda") else 0
        events.emit(
            "run_start",
            plan=plan.name,
            run_dir=str(self.run_dir),
            resumed=resumed,
            host=socket.gethostname(),
            pid=os.getpid(),
            device=device,
        )
        reporter.run_started(plan, self.run_dir, resumed)
        lineage: dict[str, Path | None] = {"student": student, "teacher": teacher}
        total = Spend()
        try:
            with (
                Verifier(
                    workers=opts.verifier_workers, timeout_s=opts.verifier_timeout_s
                ) as verifier,
                _graceful_sigint(self.stop, reporter),
            ):
                if plan.eval_after_each_stage and eval_sets:
                    self._base_eval(events, verifier, student, eval_sets, device)
                for index, stage in enumerate(plan.stages):
                    total = total + self._stage(
                        index, stage, events, verifier, lineage, split, eval_sets, device, gpus
                    )
        except StageInterrupted as e:
            events.emit("run_end", status="interrupted", spent=total, stage=str(e))
            return "interrupted"
        except KeyboardInterrupt:
            events.emit("run_end", status="interrupted", spent=total)
            raise
        except BaseException as e:
            events.emit(
                "error",
                message=str(e) or type(e).__name__,
                error_type=type(e).__name__,
                traceback=traceback.format_exc(limit=20),
            )
            events.emit("run_end", status="error", spent=total)
            raise
        events.emit("run_end", status="ok", spent=total)
        return "ok"

    def _base_eval(
        self,
        events: EventWriter,
        verifier: Any,
        student: Path,
        eval_sets: dict[str, list[Any]],
        device: str,
    ) -> None:
        marker = self.run_dir / "stages" / BASE / DONE
        if marker.exists():
            return
        results = self._evaluate(
            events, BASE, "student", student, self.plan.evaluation, verifier, eval_sets, device
        )
        atomic_write_text(
            marker, json.dumps({"stage": BASE, "status": "ok", "evals": results}, indent=2)
        )

    def _evaluate(
        self,
        events: EventWriter,
        stage_id: str,
        role: str,
        model_path: Path,
        options: EvalOptions,
        verifier: Any,
        eval_sets: dict[str, list[Any]],
        device: str,
    ) -> list[dict[str, Any]]:
        from trainer.stages.evaluate import evaluate_model

        t0 = time.perf_counter()
        out = []
        for r in evaluate_model(
            model_path, eval_sets, options, verifier, device=device, seed=self.plan.seed
        ):
            fields = {
                **r.event_fields(),
                "model": role,
                "temperature": options.temperature,
                "top_p": options.top_p,
                "tokens_generated": r.tokens_generated,
                "wall_seconds": round(time.perf_counter() - t0, 3),
            }
            events.emit("eval", stage=stage_id, **fields)
            self.options.reporter.evaluated(
                stage_id, role, r.benchmark, r.accuracy, r.greedy_accuracy
            )
            out.append(fields)
        return out

    def _stage_data(self, stage: Stage, split: Any) -> tuple[StageData, int]:
        if stage.data == "labels.stage1":
            return StageData(labeled=split.stage1), len(split.stage1)
        if stage.data == "labels.stage3":
            return StageData(labeled=split.stage3), len(split.stage3)
        if stage.data == "prompts":
            return StageData(prompts=split.prompts), 0
        return StageData(), 0

    def _stage(
        self,
        index: int,
        stage: Stage,
        events: EventWriter,
        verifier: Any,
        lineage: dict[str, Path | None],
        split: Any,
        eval_sets: dict[str, list[Any]],
        device: str,
        gpus: int,
    ) -> Spend:
        reporter = self.options.reporter
        stage_dir = self.run_dir / "stages" / stage.id
        done = stage_dir / DONE
        if done.exists():
            record = json.loads(done.read_text())
            if record.get("model_path"):
                lineage[stage.model] = self.run_dir / record["model_path"]
            reporter.stage_skipped(stage.id)
            return Spend()
        if stage.kind == "eval":
            model_path = lineage[stage.model]
            assert model_path is not None
            results = self._evaluate(
                events,
                stage.id,
                stage.model,
                model_path,
                stage.options,
                verifier,
                eval_sets,
                device,
            )
            atomic_write_text(
                done, json.dumps({"stage": stage.id, "status": "ok", "evals": results}, indent=2)
            )
            return Spend()

        data, labels = self._stage_data(stage, split)
        meter = SpendMeter(gpus=gpus, labels=labels)
        meter.offset = self._earlier_spend(stage.id)
        start_from = lineage[stage.model]
        assert start_from is not None
        ctx = StageContext(
            plan=self.plan,
            stage=stage,
            index=index,
            run_dir=self.run_dir,
            model_path=start_from,
            teacher_path=lineage["teacher"] if stage.distils else None,
            data=data,
            verifier=verifier,
            events=events,
            meter=meter,
            device=device,
            stop=self.stop,
            save_every=self.options.save_every,
            engine=self.plan.rollout.engine,
            on_step=lambda step, total_steps: reporter.step(stage.id, step, total_steps),
        )
        assert stage.budget is not None
        trained = stage_dir / "model"
        resumed_from = None
        if not trained.exists():
            from trainer.hf import latest_checkpoint

            ckpt = latest_checkpoint(stage_dir)
            resumed_from = str(ckpt.relative_to(self.run_dir)) if ckpt else None
        events.emit(
            "stage_start",
            stage=stage.id,
            stage_kind=stage.kind,
            model=stage.model,
            planned=planned_spend(self.plan, stage, labels),
            resumed_from=resumed_from,
            total_steps=stage.budget.steps,
        )
        reporter.stage_started(stage.id, stage.kind, stage.budget.steps)
        metrics: dict[str, float] = {}
        if (
            not trained.exists()
        ):  # a crash after training but before the marker only redoes the eval
            metrics = self._run_stage_fn(ctx).metrics
        spent = meter.spent()
        evals = []
        if self.plan.eval_after_each_stage and eval_sets:
            evals = self._evaluate(
                events,
                stage.id,
                stage.model,
                trained,
                self.plan.evaluation,
                verifier,
                eval_sets,
                device,
            )
        events.emit("stage_end", stage=stage.id, status="ok", spent=spent, metrics=metrics)
        atomic_write_text(
            done,
            json.dumps(
                {
                    "stage": stage.id,
                    "status": "ok",
                    "model_path": str(trained.relative_to(self.run_dir)),
                    "metrics": metrics,
                    "spent": spent.to_dict(),
                    "evals": evals,
                    "finished_at": time.time(),
                },
                indent=2,
            ),
        )
        lineage[stage.model] = trained
        reporter.stage_finished(stage.id, spent)
        return spent

    def _run_stage_fn(self, ctx: StageContext) -> Any:
        fn = stage_function(ctx.stage.kind)
        return fn(ctx)

    def _earlier_spend(self, stage_id: str) -> Spend:
        """What interrupted attempts of this stage already spent.

        Metrics events carry the stage's cumulative spend (earlier attempts
        included), so the last one is the total so far.
        """
        path = self.run_dir / EVENTS_FILE
        last = Spend()
        if path.exists():
            for e in read_events(path):
                if e.kind == "metrics" and e.get("stage") == stage_id and e.get("spent"):
                    last = Spend.from_dict(e["spent"])
        return last


def stage_function(kind: str) -> Callable[[StageContext], Any]:
    if kind == "grpo":
        from trainer.stages.grpo import run_grpo

        return run_grpo
    if kind == "forward_kl":
        from trainer.stages.forward_kl import run_forward_kl

        return run_forward_kl
    if kind == "opd":
        from trainer.stages.opd import run_opd

        return run_opd
    raise ValueError(f"no executor for stage kind {kind!r}")
