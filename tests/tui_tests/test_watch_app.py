"""Behaviour of ``s2d watch`` driven headless with the pilot, on the recorded toy runs."""

from __future__ import annotations

import json

import pytest

from tests.tui_tests.fixtures.toy_run import TOTAL_EVENTS, TOY_RUN, TOY_RUN_ERROR, ToyRunWriter
from tests.tui_tests.pilot import SIZE, screen_text, wait_for_text, wait_until
from tui.watch_app import make_app

pytestmark = pytest.mark.anyio


def _chart_title(app) -> str:
    return str(app.screen.query_one("#metric-chart").border_title)


async def test_opens_a_finished_run_and_switches_stages_and_charts():
    app = make_app(TOY_RUN, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.watch_screen
        # predicted, measured and their difference; labels spent / planned for teacher RL
        await wait_for_text(
            pilot,
            "✔ finished",
            f"{TOTAL_EVENTS} events",
            "62.0% (55–69)",
            "65.5%",
            "+3.5 pt",
            "256/256",
        )
        assert _chart_title(app).startswith("reward · student_rl")  # follows the last stage
        await pilot.press("left")
        # each stage offers its kind's charts; OPD has no reward, so it opens on its loss
        assert screen.selected == "opd" and _chart_title(app).startswith("loss · opd")
        await pilot.press("left", "left")
        assert _chart_title(app).startswith("reward · teacher_rl")
        await pilot.press("left")  # wraps around
        assert screen.selected == "student_rl"
        await pilot.press("right", "right")
        assert screen.selected == "warmup" and _chart_title(app).startswith("loss · warmup")
        await pilot.press("c")
        assert _chart_title(app).startswith("grad norm · warmup")
        await pilot.press("c")
        assert _chart_title(app).startswith("trained tokens/s · warmup")
        await pilot.press("c")  # then the run's burn-down, last in every stage's cycle
        assert _chart_title(app).startswith("budget burn-down · ")
        await pilot.press("c")  # wraps around
        assert _chart_title(app).startswith("loss · warmup")
        await pilot.press("f")  # the chart chosen stays where the stage has it
        assert screen.selected is None and _chart_title(app).startswith("loss · student_rl")


async def test_the_burn_down_is_one_key_away_on_every_stage_even_one_that_trains_nothing():
    from pathlib import Path

    real_run = Path(__file__).parent / "fixtures" / "real_run"  # its base eval is a stage
    app = make_app(real_run, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "✔ finished")
        await pilot.press("C")  # back from the first chart: the last one
        title = _chart_title(app)
        assert title.startswith("budget burn-down · ") and "CPU-s" in title
        for _ in range(len(app.watch_screen.state.stages)):
            if app.watch_screen._selected_stage() == "base":
                break
            await pilot.press("left")
        assert app.watch_screen._selected_stage() == "base"
        assert _chart_title(app).startswith("budget burn-down · ")  # an eval's only chart


async def test_follows_a_run_that_grows_while_watched(tmp_path):
    writer = ToyRunWriter(tmp_path / "run")
    writer.write(3)  # run_start, stage_start, one metrics line
    app = make_app(tmp_path / "run", poll_interval_s=0.02)
    async with app.run_test(size=SIZE) as pilot:
        state = app.watch_screen.state
        await wait_until(pilot, lambda: state.events_applied == 3)
        assert state.status == "running" and state.stages["teacher_rl"].step == 1
        await wait_for_text(pilot, "stage teacher_rl 1/24")
        writer.write(20)
        await wait_for_text(pilot, "stage teacher_rl 20/24")
        writer.write()  # the rest, through run_end
        await wait_for_text(pilot, "✔ finished", f"{TOTAL_EVENTS} events")
    writer.close()


async def test_pause_freezes_the_screen_until_resumed(tmp_path):
    writer = ToyRunWriter(tmp_path / "run")
    writer.write(5)
    app = make_app(tmp_path / "run", poll_interval_s=0.02)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.watch_screen
        await wait_until(pilot, lambda: screen.state.events_applied == 5)
        await pilot.press("p")
        await wait_for_text(pilot, "PAUSED")
        writer.write(10)
        await pilot.pause(0.3)
        assert screen.state.events_applied == 5
        await pilot.press("p")
        await wait_until(pilot, lambda: screen.state.events_applied == 15)
        await wait_until(pilot, lambda: "PAUSED" not in screen_text(app))
    writer.close()


async def test_half_written_last_line_is_shown_once_complete(tmp_path):
    writer = ToyRunWriter(tmp_path / "run")
    writer.write(4)
    events = tmp_path / "run" / "events.jsonl"
    line = json.dumps(
        {
            "v": 1,
            "seq": 4,
            "t": 1_767_225_700.0,
            "kind": "warning",
            "stage": "teacher_rl",
            "message": "disk nearly full",
        }
    )
    with open(events, "a") as f:
        f.write(line[:30])
    app = make_app(tmp_path / "run", poll_interval_s=0.02)
    async with app.run_test(size=SIZE) as pilot:
        state = app.watch_screen.state
        await wait_until(pilot, lambda: state.caught_up and state.partial_line)
        assert state.events_applied == 4 and state.skipped_lines == 0
        assert "disk nearly full" not in screen_text(app)
        with open(events, "a") as f:
            f.write(line[30:] + "\n")
        await wait_for_text(pilot, "disk nearly full")
    writer.close()


async def test_a_run_ending_in_an_error_says_so():
    app = make_app(TOY_RUN_ERROR, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.watch_screen
        await wait_for_text(
            pilot,
            "✖ failed",
            "The run failed: FloatingPointError: teacher logits are NaN",
            "ERROR opd",
            "✖ opd",
            "10/20",
        )
        assert screen.state.caught_up


async def test_waits_for_a_run_directory_that_does_not_exist_yet(tmp_path):
    run = tmp_path / "later"
    app = make_app(run, poll_interval_s=0.02)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.watch_screen
        await wait_for_text(pilot, f"Waiting for {run} to be created")
        ToyRunWriter(run).write(6)
        await wait_until(pilot, lambda: screen.state.events_applied == 6)
        await wait_until(pilot, lambda: "Waiting for" not in screen_text(app))


async def test_empty_events_file_and_non_run_directory_give_clear_messages(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text("")
    app = make_app(run, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "is empty or missing: the run has not started")
    (tmp_path / "notes.txt").write_text("not a run")
    app = make_app(tmp_path, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "is not a run directory")


async def test_names_and_messages_with_brackets_are_shown_as_written(tmp_path):
    from planner.contracts.runlog import EventWriter, Spend

    run = tmp_path / "run"
    run.mkdir()
    spend = Spend(tokens_generated=64, cpu_seconds=3.0, labels=4).to_dict()
    with EventWriter(run / "events.jsonl") as events:
        events.emit("run_start", plan="p", run_dir=str(run), resumed=False)
        events.emit("stage_start", stage="[rl]", stage_kind="grpo", planned=spend, total_steps=2)
        events.emit("metrics", stage="[rl]", step=1, values={"loss": 0.5}, spent=spend)
        events.emit(
            "eval", stage="[rl]", benchmark="[/bench]", accuracy=0.5, n=4, k=1, greedy_accuracy=0.5
        )
        events.emit("stage_end", stage="[rl]", status="ok", spent=spend)
        events.emit("error", message="stages[1].budget: [/bad] [bold]x", error_type="ValueError")
        events.emit("run_end", status="error", spent=spend)
    app = make_app(run, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        text = await wait_for_text(pilot, "✖ failed", "on [/bench]")
        assert "stages[1].budget: [/bad] [bold]x" in text  # the banner
        assert text.count("[rl]") >= 3  # the timeline, the budget and the accuracy tables
        assert "on [/bench]" in text
        assert "loss · [rl]" in text  # the chart's title
