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
    assert summary["planner_kind"] in ("direct", "raw_bridge", "rl_bridge", "full", None)
    assert summary["planner_choice"] in ("full", "chosen")
    rows = {r["key"]: r for r in summary["rows"]}
    # the planner's own plan runs beside the four-stage plan when it is another one
    own = {"chosen"} if summary["planner_choice"] == "chosen" else set()
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
        "planner_kind": "full",
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
    assert out["planner_kind"] == "rl_bridge" and out["planner_choice"] == "chosen"
    assert out["measured_best"] == "rl_bridge" and out["regret_points"] == pytest.approx(2.0)
    # the rows it lost to are the four-stage plan's, and the line says so
    assert (
        "2.0 points under the best; the four-stage plan's RL-teacher bridge measured best" in line
    )

    raw_then_rl = replace(full, name="raw-then-rl", stages=full.stages[1:])
    line, out = verdict([*rows, *_rows(chosen=0.35)], Choice(full, raw_then_rl, False, []))
    assert out["planner_kind"] is None and "raw-then-rl: none of the paper's workflows" in line
    assert out["measured_best"] == out["planner_choice"] == "chosen"

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


def test_the_demo_runs_and_tabulates_the_planners_own_plan_beside_the_comparison(
    tmp_path, monkeypatch
):
    """The path taken when the planner's best plan is not four-stage, without training."""
    from rich.console import Console

    from planner.contracts import Prediction
    from planner.contracts.runlog import EventWriter, Spend
    from s2d import compare, demo

    full = tiny_plan()
    bridge = replace(
        full,
        name="bridge",
        stages=[s for s in full.stages if s.id != "student_rl"],
        prediction=Prediction(final_accuracy=0.33),
    )
    measured = {
        "workflow": 0.30,
        "direct": 0.10,
        "raw_bridge": 0.20,
        "replay": 0.29,
        "chosen": 0.32,
    }

    def fake_execute(comp, zoo_root, lanes, on_finish=None):
        for name, plan in comp.runs.items():
            with EventWriter(comp.run_dir(name) / "events.jsonl") as w:
                for stage in plan.stages:
                    w.emit(
                        "eval", stage=stage.id, benchmark="toy", accuracy=measured[name], n=8, k=4
                    )
                    w.emit("stage_end", stage=stage.id, status="ok", spent=Spend(cpu_seconds=5))

    class Zoo:
        root, reused, build_seconds = tmp_path / "zoo", True, 0.0

    monkeypatch.setattr(demo, "_zoo", lambda cfg, console: Zoo())
    monkeypatch.setattr(demo, "scenario_dict", lambda root, cfg: {"kind": "scenario"})
    monkeypatch.setattr(
        demo, "choose_plan", lambda path, out, cfg: Choice(full, bridge, False, ["a note"])
    )
    monkeypatch.setattr(compare, "predictions", lambda plan, path, rows: {"full": 0.31})
    monkeypatch.setattr(compare, "execute", fake_execute)
    out = tmp_path / "demo"
    console = Console(record=True, width=200)
    assert demo.run_demo(demo.DemoConfig(out=out, tui=False), console) == 0

    assert (out / "plans" / "chosen.yaml").exists()
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    rows = {r["key"]: r for r in summary["rows"]}
    mine = rows["chosen"]
    assert mine["predicted"] == 0.33 and mine["measured"] == 0.32  # the run's last stage, opd
    assert mine["labels"] == full.labels.stage1 and mine["cpu_seconds"] == 15
    assert summary["planner_choice"] == summary["measured_best"] == "chosen"
    assert summary["regret_points"] == 0
    printed = console.export_text()
    assert "planner's choice: RL-teacher bridge, own allocation" in printed
    assert "it measured best of the workflows (32.0%)" in printed
