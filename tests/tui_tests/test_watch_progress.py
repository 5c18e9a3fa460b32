"""Progress, time left, measurement intervals and smoothing, on events the real executor wrote.

``fixtures/real_run`` was planned by ``s2d plan`` and run by the executor
(tests/tui_tests/fixtures/real_run.py); its log holds the eval progress the trainer
reports and the teacher-rollout progress of the warmup.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.contracts import BASE_STAGE, load_plan, read_events
from tui.run_state import RunState
from tui.views import accuracy_rows, run_eta, stage_eta
from tui.widgets.metric_chart import ema
from tui.widgets.samples_pane import read_samples

REAL_RUN = Path(__file__).parent / "fixtures" / "real_run"


def _events():
    return read_events(REAL_RUN / "events.jsonl")


def _state_until(predicate) -> RunState:
    state = RunState(load_plan(REAL_RUN / "plan.yaml"))
    for event in _events():
        state.apply(event)
        if predicate(event):
            break
    return state


def test_an_eval_in_progress_shows_as_the_stage_phase_and_ends_with_the_eval():
    first = next(e for e in _events() if e.kind == "progress")
    state = _state_until(lambda e: e.seq == first.seq)
    view = state.stages[first["stage"]]
    assert view.phase is not None and view.phase.label == f"eval {first['benchmark']}"
    assert (view.phase.done, view.phase.total) == (first["done"], first["total"])
    # an eval's progress is its own event: never a training step, never a curve
    assert not any(e.kind == "metrics" and "eval" in str(e["values"]) for e in _events())
    done = _state_until(lambda e: False)
    assert done.stages[BASE_STAGE].status == "ok"  # the base eval ends the base stage
    assert all(v.phase is None for v in done.stages.values())


def test_the_warmups_teacher_rollouts_show_their_progress():
    rollout = [e for e in _events() if e.kind == "metrics" and "rollout_total" in e["values"]]
    assert rollout, "the recorded warmup reports its teacher-rollout progress"
    state = _state_until(lambda e: e.seq == rollout[0].seq)
    phase = state.stages[rollout[0]["stage"]].phase
    assert phase is not None and phase.label == "teacher rollouts"


def test_eta_of_a_stage_follows_its_pace_and_the_run_adds_what_is_planned():
    metrics = [e for e in _events() if e.kind == "metrics" and "loss" in e["values"]]
    middle = metrics[len(metrics) // 2]
    state = _state_until(lambda e: e.seq == middle.seq)
    view = state.stages[middle["stage"]]
    eta = stage_eta(view, state.last_t)
    assert eta is not None and view.started_t is not None
    pace = (state.last_t - view.started_t) / view.step
    assert eta == pytest.approx((view.total_steps - view.step) * pace)
    assert run_eta(state) is not None and run_eta(state) >= eta
    assert run_eta(_state_until(lambda e: False)) is None  # a finished run has none


def test_measured_accuracy_carries_its_interval_over_the_problems():
    rows = accuracy_rows(_state_until(lambda e: False))
    measured = [r for r in rows if r.measured is not None]
    assert measured and all(r.n and r.k for r in measured)
    from tui.views import AccuracyRow

    r = AccuracyRow("s", "student", None, None, None, 0.5, None, n=64, k=4)
    assert r.half_width == pytest.approx(1.96 * (0.25 / 64) ** 0.5)


def test_ema_smooths_and_starts_unbiased():
    assert ema([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])
    smoothed = ema([0.0, 10.0, 0.0, 10.0])
    assert smoothed[0] == 0.0 and max(smoothed[1:]) < 10.0


def test_the_eval_samples_the_trainer_kept_read_back():
    rows = read_samples(REAL_RUN / "artifacts" / BASE_STAGE / "eval_samples.jsonl")
    assert rows and {"problem", "gold", "completion", "verdict"} <= set(rows[0])
    assert read_samples(REAL_RUN / "artifacts" / "nope" / "eval_samples.jsonl") == []


def test_an_eval_stage_ends_with_its_evals_and_each_eval_set_has_its_own_pace():
    from planner.contracts import Event

    state = RunState()

    def event(seq: int, t: float, kind: str, **data) -> None:
        state.apply(Event(kind=kind, seq=seq, t=t, data=data))

    state._stage("final_eval").kind = "eval"  # as the plan names it
    event(0, 0.0, "run_start", plan="p", run_dir="r", resumed=False)
    event(1, 10.0, "progress", stage="final_eval", phase="eval", done=100, total=200, benchmark="a")
    event(2, 20.0, "progress", stage="final_eval", phase="eval", done=200, total=200, benchmark="a")
    event(3, 60.0, "progress", stage="final_eval", phase="eval", done=10, total=100, benchmark="b")
    view = state.stages["final_eval"]
    assert view.status == "running" and view.phase_started_t == 60.0  # b started afresh
    event(4, 61.0, "progress", stage="final_eval", phase="eval", done=20, total=100, benchmark="b")
    assert stage_eta(view, 61.0) == pytest.approx(80 * (1.0 / 20))
    event(5, 70.0, "eval", stage="final_eval", benchmark="a", accuracy=0.5, n=200, k=1)
    event(6, 71.0, "run_end", status="ok")
    assert view.status == "ok" and view.phase is None  # not "interrupted" by the run's end


def test_the_burn_down_adds_each_stages_latest_spend_and_subtracts_it_from_the_plan():
    from tui.views import budget_rows, burn_down

    state = _state_until(lambda e: False)
    burn = burn_down(state)
    assert burn.unit == "cpu_seconds" and burn.spent
    # the run's total at the end is each stage's final spend, added up
    final = sum(r.compute_spent for r in budget_rows(state))
    assert burn.spent[-1] == pytest.approx(final, rel=0.02)  # the last bucket is a mean
    assert burn.planned == pytest.approx(sum(r.compute_planned or 0 for r in budget_rows(state)))
    assert burn.remaining == pytest.approx([burn.planned - s for s in burn.spent])
    # one attempt: what is spent only grows, inside the run's wall time
    assert burn.spent == sorted(burn.spent)
    assert all(0 <= x <= burn.elapsed for x in burn.seconds)


def test_the_burn_down_says_when_the_budget_runs_out_at_the_pace_so_far():
    from planner.contracts import Event
    from tui.views import burn_down

    state = RunState()

    def event(seq: int, t: float, kind: str, **data) -> None:
        state.apply(Event(kind=kind, seq=seq, t=t, data=data))

    event(0, 100.0, "run_start", plan="p", run_dir="r", resumed=False)
    event(1, 100.0, "stage_start", stage="a", stage_kind="grpo", planned={"cpu_seconds": 60.0})
    event(2, 110.0, "metrics", stage="a", step=1, values={"loss": 1.0}, spent={"cpu_seconds": 10.0})
    event(3, 120.0, "metrics", stage="a", step=2, values={"loss": 1.0}, spent={"cpu_seconds": 20.0})
    burn = burn_down(state)
    assert burn.seconds == [10.0, 20.0] and burn.remaining == [50.0, 40.0]
    assert burn.runs_out_in == pytest.approx(40.0)  # 1 CPU-s per second, 40 left
    # a line within a second of the latest point adds none (the chart ends on the latest
    # total all the same); a second stage adds to the total
    event(4, 120.5, "metrics", stage="a", step=3, values={"loss": 1.0}, spent={"cpu_seconds": 21.0})
    assert burn_down(state).spent == [10.0, 20.0, 21.0]
    assert burn_down(state).seconds == [10.0, 20.0, 20.5]
    event(5, 130.0, "stage_start", stage="b", stage_kind="grpo", planned={"cpu_seconds": 40.0})
    event(6, 140.0, "metrics", stage="b", step=1, values={"loss": 1.0}, spent={"cpu_seconds": 5.0})
    burn = burn_down(state)
    assert burn.seconds == [10.0, 20.0, 40.0] and burn.spent == [10.0, 20.0, 26.0]
    assert burn.planned == 100.0


def _burn_state():
    from planner.contracts import Event

    state = RunState()

    def event(seq: int, t: float, kind: str, **data) -> None:
        state.apply(Event(kind=kind, seq=seq, t=t, data=data))

    return state, event


def test_the_burn_down_runs_on_running_time_so_a_resume_days_later_keeps_the_pace():
    from tui.views import burn_down

    state, event = _burn_state()
    planned = {"cpu_seconds": 1000.0}
    event(0, 0.0, "run_start", plan="p", run_dir="r", resumed=False)
    event(1, 0.0, "stage_start", stage="a", stage_kind="grpo", planned=planned)
    event(2, 50.0, "metrics", stage="a", step=1, values={"loss": 1.0}, spent={"cpu_seconds": 50.0})
    later = 3 * 86400.0
    event(3, later, "run_start", plan="p", run_dir="r", resumed=True)
    event(4, later, "stage_start", stage="a", stage_kind="grpo", planned=planned)
    event(
        5,
        later + 50,
        "metrics",
        stage="a",
        step=2,
        values={"loss": 1},
        spent={"cpu_seconds": 100.0},
    )
    burn = burn_down(state)
    assert burn.elapsed == pytest.approx(100.0) and burn.seconds[-1] == pytest.approx(100.0)
    assert burn.runs_out_in == pytest.approx(900.0)  # 1 CPU-s per running second, 900 left


def test_an_ended_run_has_no_projection_and_a_partial_budget_is_no_budget():
    from tui.views import burn_down

    state, event = _burn_state()
    event(0, 0.0, "run_start", plan="p", run_dir="r", resumed=False)
    event(1, 0.0, "stage_start", stage="a", stage_kind="grpo", planned={"cpu_seconds": 100.0})
    event(2, 80.0, "stage_end", stage="a", status="ok", spent={"cpu_seconds": 80.0})
    event(3, 80.0, "stage_start", stage="b", stage_kind="grpo")  # no planned compute
    event(4, 90.0, "metrics", stage="b", step=1, values={"loss": 1.0}, spent={"cpu_seconds": 5.0})
    assert burn_down(state).planned is None  # b's share unknown: spent only, no end in sight
    ended, event = _burn_state()  # a run that ended with budget left: no "runs out in"
    event(0, 0.0, "run_start", plan="p", run_dir="r", resumed=False)
    event(1, 0.0, "stage_start", stage="a", stage_kind="grpo", planned={"cpu_seconds": 100.0})
    event(2, 80.0, "stage_end", stage="a", status="ok", spent={"cpu_seconds": 80.0})
    event(3, 80.0, "run_end", status="ok")
    burn = burn_down(ended)
    assert burn.planned == 100.0 and burn.remaining[-1] == 20.0
    assert burn.finished and burn.runs_out_in is None
