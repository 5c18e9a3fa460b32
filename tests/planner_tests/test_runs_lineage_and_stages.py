"""Each stage is predicted from the plan truncated after it; runs reusing checkpoints calibrate."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from planner.calibrate.from_runs import calibrate_from_runs, observations_from_run
from planner.contracts.plan import load_plan
from planner.simulator.lineage import from_scratch
from planner.simulator.plans import plan_inputs, simulate_plan
from planner.simulator.response import load_profile, predict
from s2d.cli import main
from tests.planner_tests.plans_for_tests import comparison, workflow


def test_warmup_is_predicted_as_the_bridge_without_opd(toy_problem):
    wf = workflow()
    pred = simulate_plan(toy_problem, wf).prediction
    x, _, _ = plan_inputs(toy_problem, wf)
    no_opd = predict(
        replace(x, opd_samples=x.opd_samples * 0, labels3=0, visits3=0),
        toy_problem.profile.params,
        "toy",
    )
    assert pred.stages["warmup"].accuracy == pytest.approx(float(no_opd.bridge[0]))
    assert pred.stages["warmup"].accuracy < pred.stages["opd"].accuracy
    assert pred.stages["student_rl"].accuracy == pytest.approx(pred.final_accuracy)


def test_replay_and_opd_only_runs_are_read_as_their_from_scratch_pipelines(tmp_path, toy_problem):
    _, replay, only = comparison(tmp_path)
    (obs,), _ = observations_from_run(toy_problem, replay)
    assert obs.key == "replay:student_rl" and obs.stage == "final" and obs.accuracy == 0.31
    assert float(obs.inputs.replay_labels[0]) == 200 and float(obs.inputs.labels3[0]) == 0
    assert float(obs.inputs.warmup_samples[0]) > 0 and float(obs.inputs.visits1[0]) > 0
    (obs,), _ = observations_from_run(toy_problem, only)
    assert obs.stage == "bridge" and float(obs.inputs.warmup_samples[0]) == 0
    assert float(obs.inputs.opd_samples[0]) > 0 and float(obs.inputs.visits1[0]) > 0


def test_calibrate_accepts_the_runs_that_reuse_checkpoints(
    tmp_path, toy_problem, toy_problem_path, capsys
):
    runs = comparison(tmp_path)
    report = calibrate_from_runs(toy_problem, list(runs))
    assert {p["run"] for p in report.points} == {"workflow", "replay", "opd_only"}
    out = tmp_path / "cal.yaml"
    args = ["calibrate", *map(str, runs), "--scenario", str(toy_problem_path), "--out", str(out)]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # the command fits what the function fits
    assert doc["points"] == report.points and doc["fitted"] == report.fitted
    written = load_profile(out).params
    for name in report.fitted:
        assert getattr(written, name) == pytest.approx(
            getattr(report.profile.params, name), rel=1e-5
        )


def test_a_run_whose_origin_is_gone_is_a_user_error(tmp_path, toy_problem_path, capsys):
    wf, replay, _ = comparison(tmp_path)
    (wf / "plan.yaml").unlink()
    args = [
        "calibrate",
        str(replay),
        "--scenario",
        str(toy_problem_path),
        "--out",
        str(tmp_path / "p.yaml"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "workflow" in err


def test_calibration_moves_a_parameter_with_a_wide_calibration_prior_further(tmp_path, toy_problem):
    runs = comparison(tmp_path)
    narrow_priors = {
        n: {k: v for k, v in meta.items() if k != "calibration_sd_log"}
        for n, meta in toy_problem.profile.priors.items()
    }
    narrow = replace(toy_problem, profile=replace(toy_problem.profile, priors=narrow_priors))
    start = toy_problem.profile.params.opd_cold_share
    wide_fit = calibrate_from_runs(toy_problem, list(runs)).profile.params.opd_cold_share
    narrow_fit = calibrate_from_runs(narrow, list(runs)).profile.params.opd_cold_share
    # OPD alone measured +2 points: the share available without a warmup drops, more so when free
    assert wide_fit < narrow_fit < start


def test_a_plan_reusing_a_checkpoint_simulates_as_its_pipeline(tmp_path, toy_problem):
    wf, replay, _ = comparison(tmp_path)
    plan = load_plan(replay / "plan.yaml")
    pred = simulate_plan(toy_problem, plan).prediction
    assert list(pred.stages) == ["student_rl"]
    pipeline = simulate_plan(toy_problem, from_scratch(plan)).prediction
    assert pred.final_accuracy == pytest.approx(pipeline.final_accuracy)
    assert pred.total_compute == pytest.approx(pipeline.stages["student_rl"].compute)
    # replay continues the bridged student (at this toy student's accuracy GRPO's signal is
    # thin, so it may add nothing, but it never starts below the bridge)
    assert (
        pred.final_accuracy
        >= simulate_plan(toy_problem, workflow()).prediction.stages["opd"].accuracy
    )


def test_runs_of_another_scenario_join_the_accuracy_fit(tmp_path, toy_problem):
    low = comparison(tmp_path / "low")
    high = comparison(tmp_path / "high", lift=0.2)
    alone = calibrate_from_runs(toy_problem, [low[0]])
    both = calibrate_from_runs(toy_problem, [low[0]], others=[(toy_problem, [high[0]])])
    assert len(both.points) == 2 * len(alone.points)
    # the higher runs pull every prediction of the joint fit up
    joint = {p["stage"]: p["predicted"] for p in both.points[: len(alone.points)]}
    single = {p["stage"]: p["predicted"] for p in alone.points}
    assert joint["opd"] > single["opd"]
