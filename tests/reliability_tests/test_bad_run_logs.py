"""A damaged run log never freezes ``s2d watch``: bad lines are skipped and counted, errors shown.

Each case puts one wrong-typed line into a copy of the recorded toy run (or makes its
events.jsonl something other than a regular file). The reader and the folding into the
dashboard's state must skip and count what they cannot use, the dashboard must still show
everything else, and ``s2d watch --screenshot`` must return.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from planner.contracts.runlog import read_events
from tests.reliability_tests.fs_snapshot import REPO
from tests.tui_tests.fixtures.toy_run import TOY_RUN
from tests.tui_tests.pilot import SIZE, wait_for_text
from tui.follower import RunFollower
from tui.run_state import RunState
from tui.watch_app import make_app

STAGE = "teacher_rl"
# One line each, wrong in one field's type or value; inserted after the first stage starts.
BAD_LINES = {
    "metrics-step-is-text": {"kind": "metrics", "stage": STAGE, "step": "abc", "values": {}},
    "metrics-step-is-huge": {"kind": "metrics", "stage": STAGE, "step": 1e999, "values": {}},
    "metrics-spent-is-text": {
        "kind": "metrics",
        "stage": STAGE,
        "step": 2,
        "values": {},
        "spent": "x",
    },
    "metrics-spent-holds-text": {
        "kind": "metrics",
        "stage": STAGE,
        "step": 2,
        "values": {},
        "spent": {"cpu_seconds": "lots"},
    },
    "metrics-values-is-a-list": {"kind": "metrics", "stage": STAGE, "step": 2, "values": [1]},
    "metrics-value-is-text": {
        "kind": "metrics",
        "stage": STAGE,
        "step": 2,
        "values": {"reward": "high"},
    },
    "metrics-total-steps-is-text": {
        "kind": "metrics",
        "stage": STAGE,
        "step": 2,
        "values": {},
        "total_steps": "many",
    },
    "eval-accuracy-is-text": {
        "kind": "eval",
        "stage": STAGE,
        "benchmark": "toy",
        "accuracy": "high",
        "n": 400,
        "k": 4,
    },
    "eval-accuracy-is-a-numeric-string": {
        "kind": "eval",
        "stage": STAGE,
        "benchmark": "toy",
        "accuracy": "0.5",
        "n": 400,
        "k": 4,
    },
    "eval-accuracy-is-a-percentage": {
        "kind": "eval",
        "stage": STAGE,
        "benchmark": "toy",
        "accuracy": 57.0,
        "n": 400,
        "k": 4,
    },
    "eval-n-is-text": {
        "kind": "eval",
        "stage": STAGE,
        "benchmark": "toy",
        "accuracy": 0.5,
        "n": "many",
        "k": 4,
    },
    "stage-start-planned-is-text": {
        "kind": "stage_start",
        "stage": "extra",
        "stage_kind": "grpo",
        "planned": "x",
    },
    "stage-start-total-steps-is-a-list": {
        "kind": "stage_start",
        "stage": "extra",
        "stage_kind": "grpo",
        "total_steps": [24],
    },
    "stage-end-spent-is-a-list": {
        "kind": "stage_end",
        "stage": STAGE,
        "status": "ok",
        "spent": [1],
    },
    "seq-is-text": {"kind": "warning", "message": "hi", "seq": "abc"},
    "time-is-text": {"kind": "warning", "message": "hi", "t": "noon"},
}


def _line(fields: dict) -> str:
    return json.dumps({"v": 1, "seq": 2, "t": 1767225602.0, **fields})


def _bad_run(tmp_path: Path, line: str) -> Path:
    run = tmp_path / "run"
    shutil.copytree(TOY_RUN, run)
    lines = (run / "events.jsonl").read_text().splitlines(keepends=True)
    lines.insert(2, line + "\n")
    (run / "events.jsonl").write_text("".join(lines))
    return run


def _good_state() -> RunState:
    state = RunState()
    RunFollower(TOY_RUN, state).read_to_end()
    return state


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_a_wrong_typed_line_is_skipped_and_counted(name, tmp_path):
    run = _bad_run(tmp_path, _line(BAD_LINES[name]))
    read_events(run / "events.jsonl")  # the reader does not raise
    state = RunState()
    RunFollower(run, state).read_to_end()
    good = _good_state()
    assert state.bad_lines == 1
    assert state.status == good.status == "ok"
    assert state.events_applied == good.events_applied
    assert "extra" not in state.stages
    assert {s: v.evals for s, v in state.stages.items()} == {
        s: v.evals for s, v in good.stages.items()
    }


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["metrics-step-is-text", "eval-accuracy-is-text", "seq-is-text"])
async def test_the_dashboard_shows_the_rest_and_the_count(name, tmp_path):
    run = _bad_run(tmp_path, _line(BAD_LINES[name]))
    app = make_app(run, follow=True, poll_interval_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "✔ finished", "1 bad line(s) skipped")


def _not_regular(tmp_path: Path, what: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(TOY_RUN / "plan.yaml", run / "plan.yaml")
    events = run / "events.jsonl"
    if what == "directory":
        events.mkdir()
    elif what == "fifo":
        os.mkfifo(events)
    else:
        events.symlink_to("/dev/zero")
    return run


NOT_REGULAR = ["directory", "fifo", "device"]


@pytest.mark.anyio
@pytest.mark.parametrize("what", NOT_REGULAR)
async def test_an_events_file_that_is_not_a_file_is_shown_not_waited_on(what, tmp_path):
    run = _not_regular(tmp_path, what)
    app = make_app(run, follow=True, poll_interval_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "is not a regular file", timeout_s=10)


@pytest.mark.anyio
async def test_an_error_in_the_reader_reaches_the_screen(tmp_path, monkeypatch):
    def boom(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(RunFollower, "step", boom)
    app = make_app(TOY_RUN, follow=True, poll_interval_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Reading the run stopped", "disk on fire")


def _watch(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "s2d", "watch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def test_screenshot_of_a_run_with_a_bad_line_returns(tmp_path):
    run = _bad_run(tmp_path, _line(BAD_LINES["metrics-spent-is-text"]))
    shot = tmp_path / "out.svg"
    result = _watch(str(run), "--screenshot", str(shot))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "1&#160;bad&#160;line(s)&#160;skipped" in shot.read_text()


@pytest.mark.parametrize("what", ["directory", "fifo"])
def test_screenshot_of_an_events_file_that_is_not_a_file_is_refused(what, tmp_path):
    run = _not_regular(tmp_path, what)
    shot = tmp_path / "out.svg"
    result = _watch(str(run), "--screenshot", str(shot))
    assert result.returncode == 2, result.stderr
    assert "is not a regular file" in result.stderr and "Traceback" not in result.stderr
    assert not shot.exists()
