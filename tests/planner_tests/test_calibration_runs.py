"""Calibration from synthetic run directories written with the run-log writer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.contracts.plan import save_plan
from planner.contracts.runlog import EventWriter, Spend
from planner.scenario.spec import load_scenario
from planner.search.pipeline import make_plans
from planner.simulator.response import load_profile
from s2d.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _toy_scenario(tmp_path, zoo):
    data = yaml.safe_load((ROOT / "examples" / "toy_scenario.yaml").read_text())
    data.update(zoo=str(zoo), teachers=["toy:m"])
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _fake_run(run_dir, plan, lift, time_factor, unit):
    """A finished run that measured ``lift`` more accuracy and took ``time_factor`` x the compute."""
    save_plan(plan, run_dir / "plan.yaml")
    with EventWriter(run_dir / "events.jsonl") as w:
        w.emit("run_start", plan=plan.name)
        for s in plan.stages:
            pred = plan.prediction.stages[s.id]
            w.emit("stage_start", stage=s.id, stage_kind=s.kind)
            w.emit(
                "stage_end",
                stage=s.id,
                status="ok",
                spent=Spend(**{unit: pred.compute * time_factor}),
            )
            w.emit(
                "eval",
                stage=s.id,
                benchmark="toy",
                accuracy=min(pred.accuracy + lift, 1.0),
                n=400,
                k=4,
            )
        w.emit("run_end", status="ok")


def test_calibrate_refits_accuracy_and_time_and_plan_uses_it(tmp_path, fake_zoo, capsys):
    scenario = _toy_scenario(tmp_path, fake_zoo)
    plan = make_plans(scenario, out=tmp_path / "plans", trials=10).best
    runs = []
    for i in range(2):
        run = tmp_path / "runs" / f"r{i}"
        _fake_run(run, plan, lift=0.04, time_factor=2.0, unit="cpu_seconds")
        runs.append(str(run))
    out = tmp_path / "calibrated.yaml"
    assert main(["calibrate", *runs, "--scenario", str(scenario), "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    prof = load_profile(out)
    errors = [abs(p["error"]) for p in prof.fit_report]
    befores = [abs(100 * (p["prior"] - p["measured"])) for p in prof.fit_report]
    assert max(errors) < max(befores)  # the fit moved toward what was measured
    # runs took twice the predicted compute: the overhead doubles, the utilisations halve
    cpu = load_scenario(scenario).hardware
    assert prof.hardware_overrides["decode_step_overhead_s"] == pytest.approx(
        2 * cpu.decode_step_overhead_s
    )
    assert prof.hardware_overrides["train_mfu"] == pytest.approx(cpu.train_mfu / 2)
    again = make_plans(scenario, out=tmp_path / "plans2", trials=10, profile=str(out)).best
    assert again.prediction.source.endswith("+calibrated")


def test_calibrate_without_evals_is_a_user_error(tmp_path, fake_zoo, capsys):
    scenario = _toy_scenario(tmp_path, fake_zoo)
    plan = make_plans(scenario, out=tmp_path / "plans", trials=5).best
    run = tmp_path / "run"
    save_plan(plan, run / "plan.yaml")
    with EventWriter(run / "events.jsonl") as w:
        w.emit("run_start", plan=plan.name)
    assert (
        main(
            ["calibrate", str(run), "--scenario", str(scenario), "--out", str(tmp_path / "p.yaml")]
        )
        == 2
    )
    assert "no eval events" in capsys.readouterr().err
