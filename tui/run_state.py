"""Everything ``s2d watch`` shows, folded from the run's events (no UI code here).

:class:`RunState` starts from the plan (its stages give the timeline, its
prediction the predicted accuracy and planned compute) and applies events one
by one. Stages that appear in events but not in the plan are appended, so a
log without a readable plan still shows. Curves are downsampled and the log is
a bounded deque, so a state built from any number of events stays small. The
file follower mutates it in a worker thread under ``lock``; the UI reads it
under the same lock.

An event whose fields have the wrong type (a step that is not a whole number, a
spend that is not a table of numbers, an accuracy outside 0..1) changes
nothing: each handler checks what it reads before it changes the state, and
the event is counted in ``bad_events`` (shown with the log's unparseable lines
as bad lines skipped) and described in ``problems``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from planner.contracts import BASE_STAGE, Event, Plan, Spend, StagePrediction
from planner.contracts.metrics import PROGRESS
from tui.series import DownsampledSeries

CURVE_CAPACITY = 400
LOG_CAPACITY = 1000
PROBLEM_CAPACITY = 20
SPEND_FIELDS = frozenset(Spend.__dataclass_fields__)
BURN_UNITS = ("gpu_hours", "cpu_seconds")
BURN_STEP_S = 1.0  # at most one burn-down point per second of the run (replay stays fast)
# Run status shown in the header, in the order a run goes through them.
WAITING, STARTED, RUNNING, OK, ERROR, INTERRUPTED = (
    "waiting",
    "started",
    "running",
    "ok",
    "error",
    "interrupted",
)


class BadEvent(ValueError):
    """An event whose fields cannot be shown: skipped and counted."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadEvent(f"{what} is {_excerpt(value)}, not a number")
    return float(value)


def _whole(value: Any, what: str) -> int:
    if _number(value, what) != int(value):
        raise BadEvent(f"{what} is {_excerpt(value)}, not a whole number")
    return int(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadEvent(f"{what} is {_excerpt(value)}, not a name")
    return value


def _spend(value: Any, what: str) -> dict[str, Any] | None:
    """A spend as written in the log, checked: None when absent, else a table of numbers."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise BadEvent(f"{what} is {_excerpt(value)}, not a table of counters")
    for key, v in value.items():
        if key in SPEND_FIELDS:
            _number(v, f"{what}.{key}")
    return value


def _fraction(value: Any, what: str) -> float:
    x = _number(value, what)
    if not 0.0 <= x <= 1.0:
        raise BadEvent(f"{what} is {_excerpt(value)}, not a fraction 0..1")
    return x


_PROGRESS_KEYS = frozenset(k for pair in PROGRESS for k in pair)


def _phase(values: dict[str, Any], t: float) -> Phase | None:
    for (done, total), label in PROGRESS.items():
        if values.get(total):
            return Phase(label, int(values.get(done) or 0), int(values[total]), t)
    return None


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class MeasuredEval:
    benchmark: str
    accuracy: float  # 0..1
    n: int
    k: int
    greedy: float | None = None


@dataclass(frozen=True)
class Phase:
    """Progress through a part of a stage that is not training steps (rollouts, an eval)."""

    label: str
    done: int
    total: int
    t: float  # when it was reported


@dataclass
class StageView:
    id: str
    kind: str = "?"
    model: str = "student"
    data: str | None = None
    in_plan: bool = False
    status: str = "pending"  # pending | running | ok | skipped | error
    step: int = 0
    total_steps: int | None = None
    planned: Spend | None = None
    # The latest spend as written in the log; parsed on demand because a metrics
    # line carries one and converting each would dominate replay time.
    spent_raw: dict[str, Any] | None = None
    predicted: StagePrediction | None = None
    started_t: float | None = None
    ended_t: float | None = None
    attempt: int = 0  # the run attempt (RunState.attempts) of the stage's latest event; 0: none
    curves: dict[str, DownsampledSeries] = field(default_factory=dict)
    evals: dict[str, MeasuredEval] = field(default_factory=dict)
    phase: Phase | None = None  # rollouts or an eval in progress; None: training (or done)
    phase_started_t: float | None = None

    @property
    def spent(self) -> Spend:
        return Spend.from_dict(self.spent_raw)

    @property
    def progress(self) -> float:
        """0..1 of planned steps; 1 once the stage ended well."""
        if self.status in ("ok", "skipped"):
            return 1.0
        if not self.total_steps:
            return 0.0
        return min(1.0, self.step / self.total_steps)


@dataclass
class LogLine:
    t: float
    level: str  # info | warning | error
    stage: str | None
    text: str


class RunState:
    def __init__(self, plan: Plan | None = None):
        self.lock = threading.RLock()
        self.version = 0  # bumped by every change, so the UI can skip redraws
        self.plan: Plan | None = None
        self.plan_error: str | None = None
        self.run_name: str | None = None
        self.status = WAITING
        self.started_t: float | None = None
        self.last_t: float | None = None
        self.stages: dict[str, StageView] = {}
        self.current_stage: str | None = None
        self.events_applied = 0
        self.last_seq = -1
        self.skipped_lines = 0  # lines of the log that did not parse (counted by the reader)
        self.bad_events = 0  # parsed events whose fields could not be used
        self.problems: deque[str] = deque(maxlen=PROBLEM_CAPACITY)
        self.read_error: str | None = None  # the log cannot be read (not a file, the reader failed)
        self.partial_line = False
        self.caught_up = False  # the follower has read to the end of the file at least once
        self.total_spent: Spend | None = None
        self.warnings = 0
        self.errors = 0
        self.last_error: str | None = None
        self.log: deque[LogLine] = deque(maxlen=LOG_CAPACITY)
        self.log_total = 0  # lines ever logged; the UI appends those it has not shown
        self.benchmarks: list[str] = []
        self.attempts = 0  # run_start events: the first run and each resume
        # Compute spent by the whole run over time, for the burn-down chart: (seconds since the
        # run's first event, total spent) in each unit, downsampled like the curves.
        self.burn = {unit: DownsampledSeries(CURVE_CAPACITY) for unit in BURN_UNITS}
        self._burn_x = -math.inf  # the latest point's x
        self.stopped_seconds = 0.0  # between one attempt's last event and the next run_start
        if plan is not None:
            self.set_plan(plan)

    # -- plan ---------------------------------------------------------------
    def set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.plan_error = None
        self.run_name = self.run_name or plan.name
        prediction = plan.prediction.stages if plan.prediction else {}
        ordered: dict[str, StageView] = {}
        for s in plan.stages:
            view = self.stages.get(s.id) or StageView(id=s.id)
            view.kind, view.model, view.data, view.in_plan = s.kind, s.model, s.data, True
            if view.total_steps is None and s.budget is not None:
                view.total_steps = s.budget.steps
            view.predicted = prediction.get(s.id)
            ordered[s.id] = view
        for (
            sid,
            view,
        ) in self.stages.items():  # stages only the log knows about keep their place at the end
            ordered.setdefault(sid, view)
        self.stages = ordered
        if (
            plan.prediction
            and plan.prediction.benchmark
            and plan.prediction.benchmark not in self.benchmarks
        ):
            self.benchmarks.insert(0, plan.prediction.benchmark)
        self.version += 1

    @property
    def bad_lines(self) -> int:
        """Lines of the log skipped: unparseable ones and events that could not be used."""
        return self.skipped_lines + self.bad_events

    @property
    def compute_unit(self) -> str:
        """gpu_hours or cpu_seconds: the plan's unit, else whichever the log spends."""
        if self.plan is not None and self.plan.prediction is not None:
            return self.plan.prediction.compute_unit
        for view in self.stages.values():
            for spend in (view.planned, view.spent):
                if spend is not None and spend.gpu_hours > 0:
                    return "gpu_hours"
        return "cpu_seconds"

    @property
    def main_benchmark(self) -> str | None:
        return self.benchmarks[0] if self.benchmarks else None

    # -- events ---------------------------------------------------------------
    def _stage(self, stage_id: Any) -> StageView:
        sid = str(stage_id)
        view = self.stages.get(sid)
        if view is None:
            view = StageView(id=sid)
            if sid == BASE_STAGE:
                # The trainer's evaluation of the untrained student: it comes first.
                view.kind, view.model = "eval", "student"
                self.stages = {sid: view, **self.stages}
            else:
                self.stages[sid] = view
        return view

    def _log(self, event: Event, level: str, text: str) -> None:
        self.log.append(LogLine(event.t, level, event.get("stage"), text))
        self.log_total += 1

    def apply_all(self, events: list[Event]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            try:
                handler(event)
            except BadEvent as e:
                self.bad_events += 1
                self.problems.append(f"event {event.seq} ({event.kind}): {e}")
                self.version += 1
                return
        self.events_applied += 1
        self.last_seq = event.seq
        self.last_t = event.t
        if self.started_t is None:
            self.started_t = event.t
        self.version += 1

    def _burn(self, t: float) -> None:
        """Add the run's total spend at ``t`` to the burn-down series, at most a point per
        :data:`BURN_STEP_S` (a stage's spend is its total so far, so the run's total is the
        sum of each stage's latest; the chart adds the current total as its last point)."""
        x = self.running_seconds(t)
        if x - self._burn_x < BURN_STEP_S:
            return
        self._burn_x = x
        for unit in BURN_UNITS:
            total = self.burn_total(unit)
            if total:
                self.burn[unit].add(x, total)

    def running_seconds(self, t: float | None = None) -> float:
        """Seconds the run has been running at ``t`` (default: its latest event): from its first
        event, less the time it stood stopped between attempts."""
        t = self.last_t if t is None else t
        if t is None or self.started_t is None:
            return 0.0
        return max(0.0, t - self.started_t - self.stopped_seconds)

    def burn_total(self, unit: str) -> float:
        """The run's compute spent so far, in ``unit`` (gpu_hours or cpu_seconds)."""
        return sum(
            float(view.spent_raw.get(unit) or 0.0)
            for view in self.stages.values()
            if view.spent_raw is not None
        )

    def _on_run_start(self, e: Event) -> None:
        if self.last_t is not None and e.t > self.last_t:
            self.stopped_seconds += e.t - self.last_t  # a resume: the run stood stopped till now
        self.run_name = self.run_name or str(e["plan"])
        self.status = STARTED
        self.attempts += 1
        # Each attempt stands on its own: an earlier attempt's failure stays in the
        # log and the error count, but is no longer the run's state.
        self.last_error = None
        resumed = " (resumed)" if e.get("resumed") else ""
        where = " on ".join(str(x) for x in (e.get("host"), e.get("device")) if x)
        self._log(
            e, "info", f"run {e['plan']} started{resumed}" + (f" on {where}" if where else "")
        )

    def _on_stage_start(self, e: Event) -> None:
        stage = _text(e["stage"], "stage")
        planned = _spend(e.get("planned"), "planned")
        total = e.get("total_steps")
        total_steps = _whole(total, "total_steps") if total is not None else None
        view = self._stage(stage)
        view.kind = str(e["stage_kind"])
        if e.get("model"):
            view.model = str(e["model"])
        if planned is not None:
            view.planned = Spend.from_dict(planned)
        if total_steps:
            view.total_steps = total_steps
        view.status = "running"
        view.started_t = e.t
        view.ended_t = None
        view.attempt = self.attempts
        self.current_stage = view.id
        self.status = RUNNING
        note = f" (resumed from {e['resumed_from']})" if e.get("resumed_from") else ""
        self._log(e, "info", f"stage {view.id} [{view.kind}] started{note}")

    def _on_metrics(self, e: Event) -> None:
        d = e.data
        stage = d["stage"]
        view = self.stages.get(stage) if isinstance(stage, str) else None
        step = _whole(d["step"], "step")
        total = d.get("total_steps")
        total_steps = _whole(total, "total_steps") if total is not None else None
        spent = _spend(d.get("spent"), "spent")
        values = d["values"]
        if not isinstance(values, dict):
            raise BadEvent(f"values is {_excerpt(values)}, not a table of metrics")
        for name, value in values.items():  # null: a NaN or inf the writer could not write
            if value is not None:
                _number(value, f"values.{name}")
        if view is None:
            view = self._stage(_text(stage, "stage"))
        phase = _phase(values, e.t)
        if phase is not None:
            if view.phase is None or view.phase.label != phase.label:
                view.phase_started_t = e.t
            view.phase = phase
        else:
            view.phase = None
        view.step = step
        view.attempt = self.attempts
        if total_steps:
            view.total_steps = total_steps
        if spent is not None:
            view.spent_raw = spent
            self._burn(e.t)
        if view.status == "pending":
            view.status = "running"
        self.current_stage = view.id
        self.status = RUNNING
        curves = view.curves
        for name, value in values.items():
            if value is not None and name not in _PROGRESS_KEYS:
                series = curves.get(name)
                if series is None:
                    series = curves[name] = DownsampledSeries(CURVE_CAPACITY)
                series.add(step, float(value))

    def _on_progress(self, e: Event) -> None:
        view = self._stage(_text(e["stage"], "stage"))
        label = _text(e["phase"], "phase")
        if e.get("benchmark"):
            label = f"{label} {_text(e['benchmark'], 'benchmark')}"
        phase = Phase(label, _whole(e["done"], "done"), _whole(e["total"], "total"), e.t)
        old = view.phase
        if old is None or old.label != phase.label or phase.done < old.done:
            view.phase_started_t = e.t  # a new set (or its second pass): its own pace
        view.phase = phase
        if view.status == "pending":
            view.status = "running"
        self.current_stage = view.id

    def _on_eval(self, e: Event) -> None:
        stage = _text(e["stage"], "stage")
        bench = _text(e["benchmark"], "benchmark")
        measured = MeasuredEval(
            bench,
            _fraction(e["accuracy"], "accuracy"),
            _whole(e["n"], "n"),
            _whole(e["k"], "k"),
            None,
        )
        greedy = e.get("greedy_accuracy")
        if greedy is not None:
            measured.greedy = _fraction(greedy, "greedy_accuracy")
        view = self._stage(stage)
        view.evals[bench] = measured
        view.attempt = self.attempts
        if view.kind == "eval" and view.status == "running":
            # an eval stage (and the base eval) has no stage_end: its evals end it (the
            # executor emits them once every set is done)
            view.status, view.phase, view.ended_t = "ok", None, e.t
        if bench not in self.benchmarks:
            self.benchmarks.append(bench)
        self._log(
            e,
            "info",
            f"eval {bench} after {view.id}: {e['accuracy'] * 100:.1f}% (n={e['n']}, k={e['k']})",
        )

    def _on_checkpoint(self, e: Event) -> None:
        self._log(e, "info", f"checkpoint {e['stage']} step {e['step']}: {e['path']}")

    def _on_stage_end(self, e: Event) -> None:
        stage = _text(e["stage"], "stage")
        spent = _spend(e.get("spent"), "spent")
        view = self._stage(stage)
        view.status = str(e["status"])
        view.ended_t = e.t
        view.phase = None
        view.attempt = self.attempts
        if spent is not None:
            view.spent_raw = spent
            self._burn(e.t)
        if view.status == "ok" and view.total_steps:
            view.step = max(view.step, view.total_steps)
        self._log(e, "info", f"stage {view.id} ended: {view.status}")

    def _on_error(self, e: Event) -> None:
        self.errors += 1
        kind = f"{e['error_type']}: " if e.get("error_type") else ""
        self.last_error = f"{kind}{e['message']}"
        if e.get("stage"):
            self._stage(e["stage"]).status = "error"
        self._log(e, "error", self.last_error)

    def _on_warning(self, e: Event) -> None:
        self.warnings += 1
        self._log(e, "warning", str(e["message"]))

    def _on_run_end(self, e: Event) -> None:
        status = str(e["status"])
        spent = _spend(e.get("spent"), "spent")
        self.status = status if status in (OK, ERROR, INTERRUPTED) else status
        if spent is not None:
            self.total_spent = Spend.from_dict(spent)
        for (
            view
        ) in self.stages.values():  # a stage still "running" when the run ended was cut short
            if view.status == "running":
                view.status = "error" if status == ERROR else "interrupted"
        self._log(e, "error" if status == ERROR else "info", f"run ended: {status}")

    @property
    def finished(self) -> bool:
        return self.status in (OK, ERROR, INTERRUPTED)
