"""Execute a plan stage by stage into a resumable, observable run directory.

The executor resolves models and data, checks teacher/student compatibility
before any weights load, splits the labeled pool so that each stage sees only
what the plan allocated to it, then runs the stages in order. Every stage ends
with a DONE marker (metrics and spend); re-running on the same directory skips
finished stages and restarts an unfinished one from its last complete
checkpoint. Everything observable goes to events.jsonl (see planner.contracts.runlog).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from planner.contracts import (
    BASE_STAGE,
    EvalOptions,
    EventWriter,
    Plan,
    RunDir,
    Spend,
    Stage,
    StageRecord,
    UserError,
    kind_of,
    read_events,
)
from planner.contracts.data import as_ref
from trainer.context import StageContext, StageResult, run_training
from trainer.run_guard import Frozen, RunLock, check_same_plan, freeze_plan
from trainer.stages import StageInterrupted
from trainer.trl_settings import check_trl


def write_eval_samples(path: Path, samples: list[dict[str, Any]]) -> None:
    """A few completions of an eval with their verdicts, replaced whole (s2d watch reads them)."""
    from planner.contracts.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))


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
    # A verifier to grade with (verify_batch, close), owned by the caller; None: the run starts
    # its own math-verify workers. A caller running several plans keeps one set of workers.
    verifier: Any = None
    toy_zoo: Path | None = None  # where toy: names resolve; None: the plan's, else the default rule


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# How a full disk reads where no errno survives: safetensors' Rust error, torch's stream writer.
_FULL_TEXTS = ("No space left on device", "StorageFull", "Disk quota exceeded")
# torch.save's writer fails without naming the cause: trusted only when the disk is nearly full.
_WRITE_FAILED = ("file write failed", "iostream error", "unexpected pos")


def disk_full(exc: BaseException, run_dir: Path) -> str | None:
    """The message for an error that a full disk under ``run_dir`` caused; None for any other."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    where = Path(run_dir)
    while not where.exists() and where != where.parent:
        where = where.parent
    stat = os.statvfs(where)
    free = stat.f_bavail * stat.f_frsize
    nearly_full = free < min(64 << 20, stat.f_blocks * stat.f_frsize // 100)
    for e in chain:
        said = str(e)
        if (
            (isinstance(e, OSError) and e.errno in _FULL_ERRNOS)
            or any(t in said for t in _FULL_TEXTS)
            or (nearly_full and any(t in said for t in _WRITE_FAILED))
        ):
            name = getattr(e, "filename", None)
            return (
                f"the disk holding {run_dir} is full ({free / 2**20:.1f} MiB free)"
                + (f" while writing {name}" if name else "")
                + "; free some space and run the same command again: the run resumes from its "
                "last complete checkpoint, and the run log holds only whole events."
            )
    return None


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def _graceful_stop(
    stop: threading.Event, reporter: Reporter, received: list[int], quiet: threading.Event
) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop at the next step boundary with a checkpoint. Second: now.

    SIGTERM (what schedulers, ``kill`` and container runtimes send) is handled
    as Ctrl-C is, so a terminated run still ends with a checkpoint and a
    ``run_end`` event; ``received`` records the signals, for the exit code.
    While ``quiet`` is set (the run's outcome is being written) a signal is
    only recorded, so the run's last words are never cut off.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if quiet.is_set():
            return
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        what = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        reporter.note(
            f"{what}: stopping at the next step boundary (checkpoint first); {what} again to stop now"
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Executor:
    def __init__(self, plan: Plan, run_dir: Path, options: RunOptions | None = None):
        self.plan = plan
        self.run_dir = Path(run_dir)
        self.paths = RunDir(self.run_dir)
        self.options = options or RunOptions()
        self.stop = threading.Event()
        self.signals: list[int] = []  # the stop signals received (SIGINT, SIGTERM), in order
        self.toy_zoo = self.options.toy_zoo or plan.toy_zoo

    # -- preparation (no weights loaded) -------------------------------------

    def resolve_models(self) -> tuple[Path, Path | None]:
        from trainer.models import check_compatible, resolve_model_path

        zoo = self.toy_zoo
        student = resolve_model_path(self.plan.student.path, zoo)
        teacher = resolve_model_path(self.plan.teacher.path, zoo) if self.plan.teacher else None
        if teacher is not None:
            check_compatible(teacher, student)
        return student, teacher

    def load_data(self, check_fit: bool = True) -> tuple[Any, dict[str, list[Any]]]:
        """The split and the eval sets, refused when they overlap; with ``check_fit`` (not
        needed on the ranks of a stage the run checked already), also when a model's files
        are broken or a prompt does not fit the context of a model that reads it."""
        from trainer.data import find_overlap, load_problems, split_pool

        plan, lab, zoo = self.plan, self.plan.labels, self.toy_zoo
        eval_sets = {e.name: load_problems(e.ref, zoo=zoo) for e in plan.datasets.eval}
        labeled = load_problems(as_ref(plan.datasets.labeled), zoo=zoo)
        prompt_pool = (
            load_problems(as_ref(plan.datasets.prompts), require_answers=False, zoo=zoo)
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
        if check_fit:
            from trainer.preflight import preflight

            preflight(plan, zoo, split, eval_sets)
        return split, eval_sets

    def verifier(self) -> AbstractContextManager[Any]:
        """The verifier of every reward and eval of this run, grading as the plan says
        (or the caller's own, ``RunOptions.verifier``, which the caller closes)."""
        from trainer.verifier import Verifier

        if self.options.verifier is not None:
            return nullcontext(self.options.verifier)
        return Verifier(
            workers=self.options.verifier_workers,
            timeout_s=self.options.verifier_timeout_s,
            extraction=self.plan.verifier.extraction,
        )

    # -- the run --------------------------------------------------------------

    def run(self) -> str:
        """Run (or resume) the plan. Returns the final status: ok or interrupted."""
        from trainer.hf import quiet_libraries

        quiet_libraries()
        # Whatever can refuse the run is checked before the run directory is touched: a
        # refused run must leave no trace (a frozen plan.yaml would then refuse the fixed plan).
        check_same_plan(self.run_dir, self.plan)
        check_trl(self.plan)
        student, teacher = self.resolve_models()
        split, eval_sets = self.load_data()
        lock = RunLock(self.run_dir)
        lock.acquire()
        try:
            frozen = freeze_plan(self.run_dir, self.plan)
            with EventWriter(self.paths.events) as events:
                return self._run(events, frozen, student, teacher, split, eval_sets)
        finally:
            lock.release()

    def _run(
        self,
        events: EventWriter,
        frozen: Frozen,
        student: Path,
        teacher: Path | None,
        split: Any,
        eval_sets: dict[str, list[Any]],
    ) -> str:
        opts, plan, reporter = self.options, self.plan, self.options.reporter
        device = opts.device or _default_device()
        gpus = 1 if device.startswith("cuda") else 0
        resumed = frozen.resumed
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
        if frozen.replaced:
            self._note_replaced(events, frozen)
        total = Spend()
        ended = False
        outcome = "interrupted"  # what the run_end says if the run stops before deciding
        writing = threading.Event()

        def end(status: str, **fields: Any) -> None:
            nonlocal ended
            if not ended:
                writing.set()
                try:
                    events.emit("run_end", status=status, spent=total, **fields)
                    ended = True
                finally:
                    writing.clear()

        # The signal handlers stay until run_end is written; while it is written a signal is
        # only recorded, and an interrupt raised before it ends in the ``finally`` below.
        with _graceful_stop(self.stop, reporter, self.signals, writing):
            try:
                # Every run, not only a resumed one: a run directory whose plan.yaml was
                # removed by hand still holds what a crash may have damaged.
                self._recover(events)
                with self.verifier() as verifier:
                    if plan.eval_after_each_stage and eval_sets:
                        self._base_eval(events, verifier, student, eval_sets, device)
                    for index, stage in enumerate(plan.stages):
                        total = total + self._stage(
                            index,
                            stage,
                            events,
                            verifier,
                            (student, teacher),
                            split,
                            eval_sets,
                            device,
                            gpus,
                        )
            except StageInterrupted as e:
                end("interrupted", stage=str(e))
                return "interrupted"
            except KeyboardInterrupt:
                end("interrupted")
                raise
            except BaseException as e:
                outcome = "error"
                with contextlib.suppress(OSError):  # a full disk may refuse the long line
                    events.emit(
                        "error",
                        message=str(e) or type(e).__name__,
                        error_type=type(e).__name__,
                        traceback=traceback.format_exc(limit=20),
                    )
                with contextlib.suppress(OSError):
                    end("error")
                full = disk_full(e, self.run_dir)
                if full:
                    raise UserError(full) from e
                raise
            else:
                outcome = "ok"
                end("ok")
                return "ok"
            finally:
                if not ended:  # an interrupt raised while the outcome was being written
                    with contextlib.suppress(OSError):
                        end(outcome)

    def _note_replaced(self, events: EventWriter, frozen: Frozen) -> None:
        assert frozen.superseded is not None
        shown = "; ".join(frozen.replaced[:5]) + (
            f"; and {len(frozen.replaced) - 5} more" if len(frozen.replaced) > 5 else ""
        )
        message = (
            f"the run had done no work yet, so the corrected plan replaces the frozen one "
            f"({shown}); the old plan.yaml is in {self.paths.relative(frozen.superseded)}"
        )
        events.emit("warning", message=message)
        self.options.reporter.note(message)

    def _recover(self, events: EventWriter) -> None:
        """Set aside damaged markers, models and checkpoints (trainer.recovery), saying which."""
        from trainer.recovery import recover

        def warn(stage_id: str, message: str) -> None:
            events.emit("warning", stage=stage_id, message=message)
            self.options.reporter.note(f"[{stage_id}] {message}")

        recover(self.paths, self.plan, warn)

    def _base_eval(
        self,
        events: EventWriter,
        verifier: Any,
        student: Path,
        eval_sets: dict[str, list[Any]],
        device: str,
    ) -> None:
        if self.paths.read_done(BASE_STAGE) is not None:
            return
        results = self._evaluate(
            events,
            BASE_STAGE,
            "student",
            student,
            self.plan.evaluation,
            verifier,
            eval_sets,
            device,
        )
        self.paths.write_done(StageRecord(stage=BASE_STAGE, evals=results))

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
        from trainer.models import weights_dtype
        from trainer.stages.evaluate import evaluate_model

        t0 = time.perf_counter()
        out = []
        dtype = weights_dtype(self.plan.precision, device)

        def progress(name: str, done: int, total: int) -> None:
            # The eval's progress, as s2d watch shows it: its own event, never a training step.
            events.emit(
                "progress", stage=stage_id, phase="eval", done=done, total=total, benchmark=name
            )

        samples: list[dict[str, Any]] = []
        for r in evaluate_model(
            model_path,
            eval_sets,
            options,
            verifier,
            device=device,
            seed=self.plan.seed,
            dtype=dtype,
            template=self.plan.prompt,
            rollout=self.plan.rollout,
            on_progress=progress,
        ):
            samples += [{"benchmark": r.benchmark, **s} for s in r.samples]
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
        write_eval_samples(self.paths.eval_samples(stage_id), samples)
        return out

    def _stage(
        self,
        index: int,
        stage: Stage,
        events: EventWriter,
        verifier: Any,
        models: tuple[Path, Path | None],
        split: Any,
        eval_sets: dict[str, list[Any]],
        device: str,
        gpus: int,
    ) -> Spend:
        reporter, run = self.options.reporter, self.paths
        done = run.read_done(stage.id)
        if done is not None:
            if kind_of(stage).trains and done.model_path:
                self._keep_model_card(index, run.root / done.model_path, done.evals)
            reporter.stage_skipped(stage.id)
            return Spend.from_dict(done.spent)  # the run's total holds every finished stage
        if not kind_of(stage).trains:
            model_path = run.lineage(self.plan, *models, before=index)[stage.model]
            assert model_path is not None
            results = self._evaluate(
                events,
                stage.id,
                stage.model,
                model_path,
                stage.options_as(EvalOptions),
                verifier,
                eval_sets,
                device,
            )
            run.write_done(StageRecord(stage=stage.id, evals=results))
            return Spend()

        ctx = StageContext.create(
            self.plan,
            index,
            self.run_dir,
            student=models[0],
            teacher=models[1],
            split=split,
            verifier=verifier,
            events=events,
            device=device,
            gpus=gpus,
            stop=self.stop,
            save_every=self.options.save_every,
            on_step=lambda step, total_steps: reporter.step(stage.id, step, total_steps),
        )
        ctx.meter.offset = self._earlier_spend(stage.id)
        assert stage.budget is not None
        trained = run.model_dir(stage.id)
        resumed_from = None
        if not trained.exists():
            from trainer.hf import latest_checkpoint

            ckpt = latest_checkpoint(run.checkpoints_dir(stage.id))
            resumed_from = run.relative(ckpt) if ckpt else None
        planned = kind_of(stage).planned_spend
        events.emit(
            "stage_start",
            stage=stage.id,
            stage_kind=stage.kind,
            model=stage.model,
            planned=planned(self.plan, stage, ctx.meter.labels, self._prompt_tokens(ctx))
            if planned
            else Spend(),
            resumed_from=resumed_from,
            total_steps=stage.budget.steps,
        )
        reporter.stage_started(stage.id, stage.kind, stage.budget.steps)
        metrics: dict[str, float] = {}
        if (
            not trained.exists()
        ):  # a crash after training but before the marker only redoes the eval
            metrics = self._run_stage_fn(ctx).metrics
        spent = ctx.meter.spent()
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
        from trainer.model_card import write_model_card

        # The card the model was published with holds the prediction only: now the measured
        # accuracy too, before the DONE marker (a crash in between redoes the eval and this).
        write_model_card(trained, self.plan, index, evals)
        events.emit("stage_end", stage=stage.id, status="ok", spent=spent, metrics=metrics)
        run.write_done(
            StageRecord(
                stage=stage.id,
                model_path=run.relative(trained),
                metrics=metrics,
                spent=spent.to_dict(),
                evals=evals,
                finished_at=time.time(),
            )
        )
        reporter.stage_finished(stage.id, spent)
        return spent

    def _keep_model_card(self, index: int, model: Path, evals: list[dict[str, Any]]) -> None:
        """A finished stage's model keeps its card; one missing (a run from before cards) or
        unreadable is written from the DONE marker. A readable card is left as it is."""
        from trainer.model_card import card_readable, write_model_card

        card = model / RunDir.MODEL_CARD
        if model.is_dir() and not card.is_dir() and not card_readable(card):
            write_model_card(model, self.plan, index, evals)

    def _prompt_tokens(self, ctx: StageContext) -> float:
        """Mean prompt tokens (chat template included) of the stage's data, for its planned spend."""
        from trainer.models import load_tokenizer
        from trainer.rollouts import prompt_tokens

        problems = ctx.data.labeled or ctx.data.prompts or []
        if not problems:
            return 0.0
        return prompt_tokens(
            load_tokenizer(ctx.model_path), [p.problem for p in problems[:256]], ctx.plan.prompt
        )

    def _run_stage_fn(self, ctx: StageContext) -> StageResult:
        """Train the stage in this process (the accelerate launcher overrides it)."""
        return run_training(ctx)

    def _earlier_spend(self, stage_id: str) -> Spend:
        """What interrupted attempts of this stage already spent, labels aside.

        Metrics events carry the stage's cumulative spend (earlier attempts
        included), so the last one is the total so far. Labels are not spent per
        attempt: they belong to the stage, which the new attempt's meter counts
        once, so they are left out of the offset.
        """
        path = self.paths.events
        last = Spend()
        if path.exists():
            for e in read_events(path):
                if e.kind == "metrics" and e.get("stage") == stage_id:
                    spent = Spend.parse(e.get("spent"))
                    last = spent if spent is not None else last
        return replace(last, labels=0)
