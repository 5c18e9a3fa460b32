"""How the comparison schedules its runs and reads its table (no training here)."""

from __future__ import annotations

import heapq
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from planner.calibrate.arms import PAPER_ROWS, ROWS, Row
from planner.contracts.errors import UserError
from planner.contracts.plan import load_plan
from planner.contracts.runlog import EventWriter, Spend
from s2d import compare

EXAMPLE = Path(__file__).parents[2] / "examples" / "toy_plan.yaml"


def _simulate(work: dict[str, float], seconds: dict[str, float], lanes: int):
    """Run a Schedule against fixed run times: (makespan, start time of each run)."""
    schedule = compare.Schedule(work)
    running: list[tuple[float, str]] = []
    starts: dict[str, float] = {}
    now, free = 0.0, lanes
    while True:
        while free and (name := schedule.take(block=False)) is not None:
            starts[name] = now
            heapq.heappush(running, (now + seconds[name], name))
            free -= 1
        if not running:
            return now, starts
        now, name = heapq.heappop(running)
        schedule.finish(name, ok=True)
        free += 1


# The demo's runs at the times they took on a 2-core machine (s, README): the static layout
# put direct, raw bridge and the planner's own run on one lane (334 s), the workflow and
# the replay control on the other (209 s).
DEMO = {"workflow": 188.0, "replay": 21.0, "direct": 41.0, "raw_bridge": 140.0, "chosen": 153.0}


def test_free_lanes_take_the_longest_ready_run_and_the_workflows_readers_wait_for_it():
    makespan, starts = _simulate(DEMO, DEMO, lanes=2)
    assert starts["replay"] >= DEMO["workflow"]  # reads the workflow's checkpoints
    assert starts["workflow"] == 0.0  # its chain (with replay) is the longest
    assert makespan == 153.0 + 140.0 < 334.0
    assert _simulate(DEMO, DEMO, lanes=1)[0] == sum(DEMO.values())
    # without a workflow (pilots) every lane takes runs, longest first
    _, starts = _simulate({"a": 1.0, "b": 3.0, "c": 2.0}, {"a": 1.0, "b": 3.0, "c": 2.0}, 2)
    assert starts == {"b": 0.0, "c": 0.0, "a": 2.0}


def test_nothing_new_starts_after_a_failure_and_a_blocked_lane_wakes_when_the_workflow_ends():
    schedule = compare.Schedule({"workflow": 2.0, "replay": 1.0, "direct": 1.0})
    assert schedule.take() == "workflow"
    assert schedule.take() == "direct"
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(schedule.take()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not got  # replay waits for the workflow
    schedule.finish("workflow", ok=True)
    waiter.join(5)
    assert got == ["replay"]
    failing = compare.Schedule({"a": 2.0, "b": 1.0})
    assert failing.take() == "a"
    failing.finish("a", ok=False)
    assert failing.take() is None
    # a workflow that fails releases the lanes waiting for it
    broken = compare.Schedule({"workflow": 2.0, "replay": 1.0})
    assert broken.take() == "workflow"
    waiter = threading.Thread(target=lambda: got.append(broken.take()))
    waiter.start()
    broken.finish("workflow", ok=False)
    waiter.join(5)
    assert not waiter.is_alive() and got[-1] is None


def test_the_workflow_goes_first_when_its_chain_is_longest_though_it_is_not():
    schedule = compare.Schedule({"workflow": 10.0, "replay": 10.0, "direct": 15.0})
    assert schedule.take(block=False) == "workflow"


def _runs_of(tmp_path, monkeypatch, on_finish=None, fail=()):
    """execute() with `s2d run` replaced by a recorder: the order the runs started in."""
    comp = compare.prepare(load_plan(EXAMPLE), tmp_path, PAPER_ROWS)
    started: list[str] = []

    def fake_run(cmd, **kwargs):
        name = Path(cmd[cmd.index("--run-dir") + 1]).name
        started.append(name)
        return subprocess.CompletedProcess(cmd, 1 if name in fail else 0)

    monkeypatch.setattr(compare.subprocess, "run", fake_run)
    return comp, started, lambda: compare.execute(comp, None, 2, on_finish=on_finish)


def test_execute_runs_every_plan_once_the_workflows_readers_after_it(tmp_path, monkeypatch):
    comp, started, go = _runs_of(tmp_path, monkeypatch)
    go()
    assert sorted(started) == sorted(comp.runs)
    assert started.index("replay") > started.index("workflow")
    assert all(o.returncode == 0 for o in comp.outcomes.values())


def test_a_lane_that_raises_or_fails_stops_the_comparison_without_a_hang(tmp_path, monkeypatch):
    def boom(outcome):
        if outcome.name == "workflow":
            raise BrokenPipeError("stdout closed")

    comp, started, go = _runs_of(tmp_path, monkeypatch, on_finish=boom)
    runner = threading.Thread(target=lambda: pytest.raises(UserError, go), daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive()  # before, the replay lane waited for ever
    assert "replay" not in started
    _, started, go = _runs_of(tmp_path / "b", monkeypatch, fail={"workflow"})
    with pytest.raises(UserError, match=r"workflow \(exit 1"):
        go()
    assert "replay" not in started


def test_runs_from_the_workflows_checkpoints_weigh_as_the_models_they_were_trained_from(tmp_path):
    comp = compare.prepare(load_plan(EXAMPLE), tmp_path, PAPER_ROWS)
    plan, replay = comp.plan, comp.runs["replay"]
    params = {plan.student.path: 1e4, plan.teacher.path: 1e5}
    assert replay.student.path not in params  # a checkpoint inside the workflow's run
    weighed = compare._as_trained(replay, plan, params)
    assert weighed[replay.student.path] == 1e4
    assert compare.planned_work(replay, weighed) > 1e3 * compare.planned_work(replay, {})


def test_planned_work_weighs_tokens_by_the_models_that_process_them():
    plan = load_plan(EXAMPLE)
    params = {plan.student.path: 1e4, plan.teacher.path: 1e5}
    by_stage = {s.id: compare.planned_work(replace(plan, stages=[s]), params) for s in plan.stages}
    rl = next(s for s in plan.stages if s.model == "teacher")
    b = rl.budget
    assert (
        by_stage[rl.id]
        == b.steps * b.prompts_per_step * b.samples_per_prompt * b.max_new_tokens * 1e5
    )
    opd = next(s for s in plan.stages if s.kind == "opd")
    b = opd.budget
    # the student's tokens, scored by the teacher as well
    assert (
        by_stage[opd.id]
        == b.steps * b.prompts_per_step * b.samples_per_prompt * b.max_new_tokens * 1.1e5
    )
    assert compare.planned_work(plan, params) == pytest.approx(sum(by_stage.values()))


def _fake_run(run_dir: Path, stages: dict[str, tuple[float, float]]) -> None:
    with EventWriter(run_dir / "events.jsonl") as w:
        w.emit("run_start", plan="x")
        for sid, (acc, cpu) in stages.items():
            w.emit("stage_start", stage=sid, stage_kind="grpo")
            w.emit(
                "eval",
                stage=sid,
                benchmark="toy",
                accuracy=acc,
                greedy_accuracy=acc + 0.1,
                n=10,
                k=4,
            )
            w.emit("stage_end", stage=sid, status="ok", spent=Spend(cpu_seconds=cpu, labels=1))
        w.emit("run_end", status="ok")


def test_table_reads_accuracy_after_the_rows_stage_and_adds_reused_compute(tmp_path):
    comp = compare.prepare(load_plan(EXAMPLE), tmp_path, PAPER_ROWS)
    assert set(comp.runs) == {"workflow", "direct", "raw_bridge", "replay"}
    assert (tmp_path / "plans" / "replay.yaml").exists()
    _fake_run(
        tmp_path / "workflow",
        {"teacher_rl": (0.4, 100), "warmup": (0.2, 50), "opd": (0.25, 20), "student_rl": (0.3, 40)},
    )
    _fake_run(tmp_path / "direct", {"student_rl": (0.15, 90)})
    _fake_run(tmp_path / "replay", {"student_rl": (0.26, 40)})
    rows = {r["key"]: r for r in compare.table_rows(comp, PAPER_ROWS, {})}
    assert rows["rl_bridge"]["measured"] == 0.25 and rows["rl_bridge"]["cpu_seconds"] == 170
    assert (
        rows["full"]["measured"] == 0.3
        and rows["full"]["cpu_seconds"] == 210
        and rows["full"]["labels"] == 400
    )
    assert (
        rows["replay"]["measured"] == 0.26
        and rows["replay"]["cpu_seconds"] == 40 + 170
        and rows["replay"]["labels"] == 200
    )
    assert rows["direct"]["labels"] == 400 and rows["raw_bridge"]["measured"] is None
    assert [r["key"] for r in compare.table_rows(comp, PAPER_ROWS, {})] == [
        r.key for r in ROWS if r.key in PAPER_ROWS
    ]


def test_an_extra_run_is_scheduled_and_read_as_its_own_row(tmp_path):
    plan = load_plan(EXAMPLE)
    bridge = replace(plan, stages=[s for s in plan.stages if s.id != "student_rl"])
    comp = compare.prepare(plan, tmp_path, PAPER_ROWS, {"chosen": bridge})
    assert set(comp.runs) == {"workflow", "direct", "raw_bridge", "replay", "chosen"}
    assert (tmp_path / "plans" / "chosen.yaml").exists()
    schedule = compare.Schedule({n: 1.0 for n in comp.runs})
    startable = list(iter(lambda: schedule.take(block=False), None))
    assert "chosen" in startable and "replay" not in startable  # it does not wait
    _fake_run(
        tmp_path / "chosen",
        {"teacher_rl": (0.5, 100), "warmup": (0.2, 50), "opd": (0.28, 20)},
    )
    row = Row("chosen", "planner's choice", "chosen", "opd", "stage 1")
    rows = compare.table_rows(comp, PAPER_ROWS, {"chosen": 0.3}, extra=(row,))
    assert [r["key"] for r in rows][-1] == "chosen"
    mine = rows[-1]
    assert mine["measured"] == 0.28 and mine["predicted"] == 0.3
    assert mine["cpu_seconds"] == 170 and mine["labels"] == plan.labels.stage1
    with pytest.raises(ValueError, match="already one of the comparison's runs"):
        compare.prepare(plan, tmp_path, PAPER_ROWS, {"direct": bridge})
