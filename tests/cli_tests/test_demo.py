"""`s2d demo` end to end on the tiny toy zoo: plan, four runs in two lanes, the table."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from planner.calibrate.arms import direct_grpo, raw_bridge, row_of
from s2d.cli import main
from s2d.demo import Choice, verdict
from tests.builders import plan as tiny_plan


@pytest.mark.extended
def test_demo_plans_runs_every_arm_and_prints_the_table(tiny_zoo, tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--preset",
            "tiny",
            "--cache-dir",
            str(tiny_zoo.root.parent),
            "--no-tui",
            "--budget",
            "8",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    for setting in ("direct GRPO", "raw-teacher bridge", "RL-teacher bridge", "replay control"):
        assert setting in printed
    assert "demo wall time" in printed
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    # the planner's choice is judged against the workflows measured, in print and in the summary
    assert "planner: the planner" in printed
    assert summary["measured_best"] in ("direct", "raw_bridge", "rl_bridge", "full", "chosen")
    assert summary["planner_choice"] in ("direct", "raw_bridge", "rl_bridge", "full", None)
    rows = {r["key"]: r for r in summary["rows"]}
    # the planner's own plan runs beside the four-stage plan when it is another one
    own = {"chosen"} if summary["planner_run"] == "chosen" else set()
    assert set(rows) == {"direct", "raw_bridge", "rl_bridge", "full", "replay", *own}
    assert (out / "chosen" / "events.jsonl").exists() == bool(own)
    assert all(r["measured"] is not None for r in rows.values())
    assert (
        rows["raw_bridge"]["labels"] == 0 and rows["direct"]["labels"] == rows["full"]["labels"] > 0
    )
    for run in ("workflow", "direct", "raw_bridge", "replay"):
        assert (out / run / "events.jsonl").exists()


def _rows(**measured):
    return [{"key": k, "measured": v} for k, v in measured.items()]


def test_each_workflow_plan_is_read_as_its_row():
    full = tiny_plan()
    bridge = replace(full, stages=[s for s in full.stages if s.id != "student_rl"])
    raw_then_rl = replace(full, stages=[s for s in full.stages if s.id != "teacher_rl"])
    assert [row_of(p) for p in (full, bridge, raw_bridge(full), direct_grpo(full))] == [
        "full",
        "rl_bridge",
        "raw_bridge",
        "direct",
    ]
    assert row_of(raw_then_rl) is None  # no row of the paper's table is that workflow
    no_warmup = replace(full, stages=[s for s in full.stages if s.id != "warmup"])
    assert row_of(no_warmup) is None  # every bridge row warms up first


def test_the_demo_says_whether_the_planners_choice_measured_best():
    full = tiny_plan()
    bridge = replace(full, stages=[s for s in full.stages if s.id != "student_rl"])
    rows = _rows(direct=0.20, raw_bridge=0.25, rl_bridge=0.31, full=0.30, replay=0.40)

    line, out = verdict(rows, Choice(full, full, True, []))
    # the replay control is a control, not a workflow: the bridge measured best
    assert out == {
        "planner_plan": full.name,
        "planner_run": "workflow",
        "planner_choice": "full",
        "measured_best": "rl_bridge",
        "regret_points": pytest.approx(1.0),
    }
    assert "1.0 points under the best" in line and "RL-teacher bridge measured best (31.0%)" in line

    # a best plan that is not the four-stage plan runs beside it and is judged by its own run
    line, out = verdict(rows, Choice(full, bridge, False, []))
    assert "which was not measured" in line and out["measured_best"] == "rl_bridge"
    line, out = verdict([*rows, *_rows(chosen=0.33)], Choice(full, bridge, False, []))
    assert out["measured_best"] == "chosen" and out["regret_points"] == 0
    assert "run at its own allocation" in line and "measured best of the workflows (33.0%)" in line
    line, out = verdict([*rows, *_rows(chosen=0.29)], Choice(full, bridge, False, []))
    assert out["planner_choice"] == "rl_bridge" and out["regret_points"] == pytest.approx(2.0)
    assert "2.0 points under the best; RL-teacher bridge measured best (31.0%)" in line

    raw_then_rl = replace(full, name="raw-then-rl", stages=full.stages[1:])
    line, out = verdict(rows, Choice(full, raw_then_rl, True, []))
    assert out["planner_choice"] is None and "raw-then-rl) is none of the workflows run" in line
    assert "regret_points" not in out
    line, out = verdict([*rows, *_rows(chosen=0.35)], Choice(full, raw_then_rl, False, []))
    assert "none of the paper's workflows" in line and out["measured_best"] == "chosen"

    # a tie goes to the planner's choice; a chosen row without a measurement says so
    line, out = verdict(_rows(rl_bridge=0.31, full=0.31), Choice(full, full, True, []))
    assert out["measured_best"] == "full" and out["regret_points"] == 0
    line, out = verdict(_rows(rl_bridge=0.31, full=None), Choice(full, full, True, []))
    assert "which was not measured" in line and out["measured_best"] == "rl_bridge"


def test_a_best_plan_that_is_not_the_four_stage_plan_runs_beside_it():
    full = tiny_plan()
    bridge = replace(full, name="bridge", stages=[s for s in full.stages if s.id != "student_rl"])
    assert Choice(full, full, True, []).extra_runs() == {}
    assert Choice(full, full, True, []).extra_rows() == ()
    choice = Choice(full, bridge, False, [])
    ((name, plan),) = choice.extra_runs().items()
    assert name == "chosen" and [s.id for s in plan.stages] == [s.id for s in bridge.stages]
    assert plan.evaluation.max_problems == 200  # evaluated as the comparison's runs are
    (row,) = choice.extra_rows()
    assert (row.run, row.stage) == ("chosen", "opd")
    assert row.label == "planner's choice: RL-teacher bridge, own allocation"
    assert row.labels == "stage 1"
