"""The UI-free core: folding events into a RunState, the derived rows, run-dir checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.contracts.runlog import Event, Spend
from tests.tui_tests.fixtures.toy_run import (
    MEASURED,
    TOTAL_EVENTS,
    TOY_RUN,
    TOY_RUN_ERROR,
    ToyRunWriter,
    toy_plan,
)
from tui.follower import RunFollower
from tui.run_dir import DirKind, inspect_run_dir, resolve_run_path
from tui.run_state import RunState
from tui.views import accuracy_rows, budget_rows, tokens_total


def _read(run_dir: Path) -> RunState:
    state = RunState()
    RunFollower(run_dir, state).read_to_end()
    return state


def test_finished_run_folds_into_stages_evals_and_log():
    state = _read(TOY_RUN)
    assert state.status == "ok" and state.events_applied == TOTAL_EVENTS
    assert list(state.stages) == ["teacher_rl", "warmup", "opd", "student_rl"]
    assert all(v.status == "ok" and v.progress == 1.0 for v in state.stages.values())
    assert state.stages["warmup"].step == 16
    assert "reward" not in state.stages["warmup"].curves  # forward KL has no reward
    assert state.stages["teacher_rl"].curves["reward"].count == 24
    assert state.warnings == 2 and state.errors == 0
    assert state.main_benchmark == "toy_math"
    assert state.total_spent is not None and state.total_spent.labels == 384


def test_error_run_marks_the_stage_and_keeps_the_message():
    state = _read(TOY_RUN_ERROR)
    assert state.status == "error"
    assert state.stages["opd"].status == "error"
    assert state.stages["student_rl"].status == "pending"
    assert state.last_error is not None and state.last_error.startswith(
        "FloatingPointError: teacher logits are NaN"
    )
    assert [line.level for line in state.log][-2:] == ["error", "error"]


def test_accuracy_rows_put_predicted_beside_measured():
    rows = {r.stage: r for r in accuracy_rows(_read(TOY_RUN))}
    r = rows["warmup"]
    assert (r.predicted, r.low, r.high) == (0.31, 0.25, 0.37)
    assert r.measured == MEASURED["warmup"][0] == 0.27
    assert r.difference == pytest.approx(-0.04)
    assert r.inside_band is True
    assert rows["teacher_rl"].model == "teacher"


def test_budget_rows_use_stage_start_planned_spend_else_the_prediction():
    state = RunState(toy_plan())
    rows = {r.stage: r for r in budget_rows(state)}  # nothing started: the plan's numbers
    assert rows["opd"].compute_planned == 120.0 and rows["opd"].tokens_planned is None
    assert rows["student_rl"].labels_planned == 128 and rows["warmup"].labels_planned == 0
    state.apply(
        Event(
            "stage_start",
            0,
            0.0,
            {
                "stage": "opd",
                "stage_kind": "opd",
                "planned": Spend(
                    cpu_seconds=100.0,
                    tokens_generated=10,
                    tokens_trained=20,
                    teacher_tokens_scored=5,
                ).to_dict(),
            },
        )
    )
    state.apply(
        Event(
            "metrics",
            1,
            1.0,
            {
                "stage": "opd",
                "step": 3,
                "values": {"loss": 1.0},
                "spent": Spend(cpu_seconds=12.5, tokens_generated=4).to_dict(),
            },
        )
    )
    row = next(r for r in budget_rows(state) if r.stage == "opd")
    assert (row.compute_spent, row.compute_planned, row.tokens_spent, row.tokens_planned) == (
        12.5,
        100.0,
        4,
        35,
    )
    assert tokens_total(Spend(tokens_generated=1, tokens_trained=2, teacher_tokens_scored=3)) == 6


def test_events_for_stages_missing_from_the_plan_are_still_shown():
    state = RunState(toy_plan())
    state.apply(
        Event(
            "eval",
            0,
            0.0,
            {"stage": "baseline", "benchmark": "toy_math", "accuracy": 0.2, "n": 10, "k": 1},
        )
    )
    assert list(state.stages)[-1] == "baseline"
    assert accuracy_rows(state)[-1].measured == 0.2


def test_half_written_last_line_waits_until_finished(tmp_path):
    writer = ToyRunWriter(tmp_path / "run")
    writer.write(5)
    events = tmp_path / "run" / "events.jsonl"
    line = json.dumps({"v": 1, "seq": 5, "t": 1.0, "kind": "warning", "message": "late"})
    with open(events, "a") as f:
        f.write(line[:20])
    state = RunState()
    follower = RunFollower(tmp_path / "run", state)
    follower.read_to_end()
    assert state.events_applied == 5 and state.partial_line and state.warnings == 0
    with open(events, "a") as f:
        f.write(line[20:] + "\n")
    follower.read_to_end()
    assert state.events_applied == 6 and not state.partial_line and state.warnings == 1


def test_bad_lines_are_counted_not_raised(tmp_path):
    run = tmp_path / "run"
    ToyRunWriter(run).write(3)
    with open(run / "events.jsonl", "a") as f:
        f.write("not json\n")
    state = _read(run)
    assert state.events_applied == 3 and state.skipped_lines == 1


def test_invalid_plan_is_reported_and_events_still_show(tmp_path):
    run = tmp_path / "run"
    ToyRunWriter(run, write_plan=False).write(10)
    (run / "plan.yaml").write_text("name: x\nstages: []\n")
    state = _read(run)
    assert state.plan is None and state.plan_error and "stages" in state.plan_error
    assert "teacher_rl" in state.stages


def test_inspect_run_dir(tmp_path):
    assert inspect_run_dir(tmp_path / "nope").kind is DirKind.MISSING
    assert inspect_run_dir(tmp_path).kind is DirKind.EMPTY
    (tmp_path / "stages").mkdir()
    assert inspect_run_dir(tmp_path).kind is DirKind.EMPTY  # a run in the making
    (tmp_path / "notes.txt").write_text("x")
    assert inspect_run_dir(tmp_path).kind is DirKind.NOT_RUN
    run = tmp_path / "r1"
    run.mkdir()
    (run / "events.jsonl").write_text("")
    st = inspect_run_dir(tmp_path)
    assert st.kind is DirKind.NOT_RUN and st.candidates == [run]
    assert "r1" in st.describe(following=False)
    assert inspect_run_dir(run).is_run
    assert inspect_run_dir(tmp_path / "notes.txt").kind is DirKind.FILE
    assert resolve_run_path(run / "events.jsonl") == run


def test_checked_in_fixtures_match_the_generator(tmp_path):
    for name, error_in in (("toy_run", None), ("toy_run_error", "opd")):
        from tests.tui_tests.fixtures.toy_run import write_toy_run

        fresh = write_toy_run(tmp_path / name, error_in)
        for f in ("plan.yaml", "events.jsonl"):
            assert (fresh / f).read_text() == ((TOY_RUN.parent / name) / f).read_text(), (
                f"{name}/{f} is stale: run python -m tests.tui_tests.fixtures.toy_run"
            )


def test_the_untrained_students_eval_comes_first_with_greedy_beside_it():
    state = RunState(toy_plan())
    state.apply(
        Event(
            "eval",
            0,
            0.0,
            {
                "stage": "base",
                "benchmark": "toy",
                "accuracy": 0.085,
                "greedy_accuracy": 0.28,
                "n": 200,
                "k": 4,
            },
        )
    )
    assert next(iter(state.stages)) == "base"
    base = state.stages["base"]
    assert base.kind == "eval" and base.evals["toy"].greedy == pytest.approx(0.28)


def test_a_failed_attempt_then_a_successful_resume_shows_no_failure_banner():
    from tests.tui_tests.fixtures.toy_run import toy_run_events
    from tui.views import run_banner

    failed = list(toy_run_events(error_in="opd"))
    finished = [
        (t, kind, {**fields, "resumed": True} if kind == "run_start" else fields)
        for t, kind, fields in toy_run_events()
    ]
    state = RunState(toy_plan())
    for seq, (t, kind, fields) in enumerate(failed + finished):
        state.apply(Event(kind, seq, t, fields))
    assert state.status == "ok"
    assert all(v.status == "ok" for v in state.stages.values())
    assert state.last_error is None
    assert run_banner(state) == (None, "info")
    # The failure stays in the log, where the earlier attempt is told.
    assert any(line.level == "error" for line in state.log)


def test_a_failed_latest_attempt_says_so_in_the_banner():
    from tests.tui_tests.fixtures.toy_run import toy_run_events
    from tui.views import run_banner

    state = RunState(toy_plan())
    for seq, (t, kind, fields) in enumerate(toy_run_events(error_in="opd")):
        state.apply(Event(kind, seq, t, fields))
    message, level = run_banner(state)
    assert level == "error" and message is not None
    assert message.startswith("The run failed: FloatingPointError")
