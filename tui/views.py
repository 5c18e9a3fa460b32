"""Rows for the budget bars and the accuracy table, and each stage's charts, from a :class:`RunState`.

Pure functions, tested on hand-built states. Planned spend comes from the
stage's ``stage_start`` event; where the log has none yet (the stage has not
started), the plan's prediction supplies planned compute and the label split
supplies planned labels. Tokens are the sum of the three token counters a
stage can spend (generated, trained, teacher-scored), planned and spent alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.contracts import Spend, kind_of, metrics
from tui.run_state import RunState, StageView


def run_banner(state: RunState) -> tuple[str | None, str]:
    """What the banner says about the run itself (message or None, and its level).

    Only the latest attempt counts: a failure that a later resume got past is
    history, kept in the log, not a banner.
    """
    if state.read_error:
        return state.read_error, "error"
    if state.last_error:
        return f"The run failed: {state.last_error}", "error"
    if state.plan_error:
        return (
            f"plan.yaml could not be read, so stages come from the log only. {state.plan_error}",
            "warning",
        )
    return None, "info"


def stage_charts(state: RunState, stage_id: str | None) -> tuple[str, ...]:
    """The metrics charted for a stage: its kind's charts (planner.contracts.kinds).

    A stage the plan does not name (the plan is unreadable, or the log ran
    ahead of it) charts whichever known metrics it has logged.
    """
    if stage_id is None:
        return ()
    if state.plan is not None and any(s.id == stage_id for s in state.plan.stages):
        stage = state.plan.stage(stage_id)
        return kind_of(stage).charts(stage)
    view = state.stages.get(stage_id)
    return tuple(k for k in metrics.METRICS if view is not None and k in view.curves)


def tokens_total(spend: Spend) -> int:
    return (
        spend.tokens_generated
        + spend.tokens_trained
        + spend.teacher_tokens_scored
        + spend.student_tokens_scored
    )


def compute_of(spend: Spend, unit: str) -> float:
    return spend.gpu_hours if unit == "gpu_hours" else spend.cpu_seconds


@dataclass
class BudgetRow:
    stage: str
    status: str
    compute_spent: float
    compute_planned: float | None
    tokens_spent: int
    tokens_planned: int | None
    labels_spent: int
    labels_planned: int | None


def _planned_labels(state: RunState, view: StageView) -> int | None:
    if view.planned is not None:
        return view.planned.labels
    if state.plan is not None and view.in_plan:
        source = state.plan.stage(view.id).label_source
        return getattr(state.plan.labels, source) if source else 0
    return None


def budget_rows(state: RunState) -> list[BudgetRow]:
    unit = state.compute_unit
    rows = []
    for view in state.stages.values():
        if view.kind == "eval":
            continue
        planned_compute: float | None = None
        if view.planned is not None and compute_of(view.planned, unit) > 0:
            planned_compute = compute_of(view.planned, unit)
        elif view.predicted is not None and view.predicted.compute > 0:
            planned_compute = view.predicted.compute
        planned_tokens = (
            tokens_total(view.planned)
            if view.planned is not None and tokens_total(view.planned) > 0
            else None
        )
        rows.append(
            BudgetRow(
                stage=view.id,
                status=view.status,
                compute_spent=compute_of(view.spent, unit),
                compute_planned=planned_compute,
                tokens_spent=tokens_total(view.spent),
                tokens_planned=planned_tokens,
                labels_spent=view.spent.labels,
                labels_planned=_planned_labels(state, view),
            )
        )
    return rows


@dataclass
class AccuracyRow:
    stage: str
    model: str
    predicted: float | None  # 0..1
    low: float | None
    high: float | None
    measured: float | None  # 0..1, on the main benchmark
    greedy: float | None
    n: int | None = None  # problems the measurement sampled
    k: int | None = None  # samples per problem

    @property
    def half_width(self) -> float | None:
        """Half the 95% interval of the measurement: binomial over the n problems.

        The k samples of one problem are not independent draws of the benchmark (a problem
        is mostly solved or mostly not), so the problems are the sampling unit; this is wider
        than an interval over n x k samples, and honest about a 64-problem eval.
        """
        if self.measured is None or not self.n:
            return None
        p = self.measured
        return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / self.n)

    @property
    def difference(self) -> float | None:
        """measured - predicted, in accuracy units (0..1); the UI shows percentage points."""
        if self.predicted is None or self.measured is None:
            return None
        return self.measured - self.predicted

    @property
    def inside_band(self) -> bool | None:
        if self.measured is None or self.low is None or self.high is None:
            return None
        return self.low <= self.measured <= self.high


def accuracy_rows(state: RunState, benchmark: str | None = None) -> list[AccuracyRow]:
    """One row per stage that has a prediction or a measurement on ``benchmark``."""
    bench = benchmark or state.main_benchmark
    rows = []
    for view in state.stages.values():
        p = view.predicted
        result = view.evals.get(bench) if bench else None
        if p is None and result is None:
            continue
        rows.append(
            AccuracyRow(
                stage=view.id,
                model=view.model,
                predicted=p.accuracy if p else None,
                low=p.low if p else None,
                high=p.high if p else None,
                measured=result.accuracy if result else None,
                greedy=result.greedy if result else None,
                n=result.n if result else None,
                k=result.k if result else None,
            )
        )
    return rows


def stage_eta(view: StageView, now: float | None) -> float | None:
    """Seconds left in a running stage at its current pace (of its phase, or of its steps)."""
    if view.status != "running" or now is None:
        return None
    phase = view.phase
    if phase is not None:
        start = view.phase_started_t
        if start is None or phase.done <= 0 or now <= start:
            return None
        return (phase.total - phase.done) * (now - start) / phase.done
    if view.started_t is None or not view.total_steps or view.step <= 0 or now <= view.started_t:
        return None
    return max(0, view.total_steps - view.step) * (now - view.started_t) / view.step


def run_eta(state: RunState) -> float | None:
    """Seconds left in the run: the current stage's ETA, then each stage still to come at the
    wall time per unit of compute the run has shown so far, times its planned compute."""
    if state.finished or state.last_t is None:
        return None
    unit = state.compute_unit
    wall = spent = 0.0
    left = 0.0
    current = state.stages.get(state.current_stage or "")
    for view in state.stages.values():
        if view.started_t is not None:
            end = view.ended_t if view.ended_t is not None else state.last_t
            wall += max(0.0, end - view.started_t)
            spent += compute_of(view.spent, unit)
    if spent <= 0 or wall <= 0:
        return None
    for view in state.stages.values():
        if view.status != "pending" or view.kind == "eval":
            continue
        planned = compute_of(view.planned, unit) if view.planned is not None else 0.0
        if planned <= 0 and view.predicted is not None:
            planned = view.predicted.compute
        left += planned * wall / spent
    if current is not None and current.status == "running":
        eta = stage_eta(current, state.last_t)
        if eta is None:
            return None
        left += eta
    return left


BURN_DOWN = "budget"  # the run's burn-down chart, last in every stage's chart cycle


def watch_charts(state: RunState, stage_id: str | None) -> tuple[str, ...]:
    """The charts ``c`` cycles through for a stage: its metrics, then the run's burn-down."""
    return () if stage_id is None else (*stage_charts(state, stage_id), BURN_DOWN)


@dataclass
class BurnDown:
    """The run's compute over its running time: what is left of the planned budget, or what
    was spent when the plan does not state a budget for every stage that trains."""

    unit: str
    seconds: list[float]  # running time: since the first event, less the stops between attempts
    spent: list[float]
    planned: float | None  # the plan's compute for every stage that trains; None: not stated
    elapsed: float  # running seconds at the latest event
    finished: bool = False  # the run ended (ok, failed or interrupted): no projection

    @property
    def remaining(self) -> list[float] | None:
        return None if self.planned is None else [self.planned - s for s in self.spent]

    @property
    def rate(self) -> float | None:
        """Compute per running second so far (the slope of the spent line)."""
        if not self.spent or self.elapsed <= 0:
            return None
        return self.spent[-1] / self.elapsed

    @property
    def runs_out_in(self) -> float | None:
        """Running seconds until the planned budget is spent at the pace so far."""
        rate = self.rate
        if self.planned is None or not rate or self.finished:
            return None
        return max(0.0, (self.planned - self.spent[-1]) / rate)


def burn_down(state: RunState) -> BurnDown:
    unit = state.compute_unit
    xs, ys = state.burn[unit].points()
    total = state.burn_total(unit)
    elapsed = state.running_seconds()
    if total and (not ys or ys[-1] != total):
        xs.append(max(xs[-1] if xs else 0.0, elapsed))
        ys.append(total)  # the latest total, between the series' points
    planned = [r.compute_planned for r in budget_rows(state)]
    # a budget is stated only when every stage that trains has one: part of it would make the
    # pace's end and the overspend wrong
    stated = sum(p for p in planned if p is not None) if planned and None not in planned else None
    return BurnDown(unit, xs, ys, stated, elapsed, finished=state.finished)
