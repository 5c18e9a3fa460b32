"""How the comparison schedules its runs and reads its table (no training here)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from planner.calibrate.arms import PAPER_ROWS, ROWS, Row
from planner.contracts.plan import load_plan
from planner.contracts.runlog import EventWriter, Spend
from s2d import compare

EXAMPLE = Path(__file__).parents[2] / "examples" / "toy_plan.yaml"


def test_runs_that_reuse_the_workflow_wait_for_it():
    lanes = compare.lanes_for(["direct", "raw_bridge", "workflow", "replay", "opd_only"], 2)
    assert lanes[0] == ["workflow", "replay", "opd_only"]
    assert sorted(lanes[1]) == ["direct", "raw_bridge"]
    assert compare.lanes_for(["workflow", "direct"], 1) == [["workflow", "direct"]]
    # without a workflow chain (pilots) every lane takes runs
    assert compare.lanes_for(["a", "b", "c"], 2) == [["a", "c"], ["b"]]


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
    assert "chosen" in compare.lanes_for(list(comp.runs), 2)[1]  # not after the workflow
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
