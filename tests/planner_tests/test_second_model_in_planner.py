"""The second response model as the planner uses it: the shipped fit, search and simulate alike, bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml

from planner.calibrate.fit_v2 import second_profile
from planner.calibrate.records import DATASET, load_records
from planner.contracts.errors import UserError
from planner.scenario.spec import load_scenario
from planner.search.emit import plan_for, warmup_only
from planner.search.pipeline import make_plans
from planner.simulator import second
from planner.simulator.plans import simulate_plan
from planner.simulator.response import load_profile
from planner.simulator.response_v2 import SecondParams
from planner.simulator.simulator import Simulator
from s2d.cli import main

# one allocation per workflow: (teacher index, stage-1 share of labels, shares per stage)
WORKFLOWS = {
    "direct": (-1, 0.5, [0, 0, 0, 1]),
    "raw bridge": (0, 0.5, [0, 1, 1, 0]),
    "rl bridge": (0, 1.0, [1, 1, 1, 0]),
    "full": (0, 0.6, [1, 1, 1, 1]),
    "no warmup": (0, 0.6, [1, 0, 1, 1]),
}


def _v2(path) -> Simulator:
    return Simulator.create(load_scenario(path), "v2")


def test_the_shipped_profile_is_the_fit_of_the_packaged_dataset():
    # a dataset that grew without `python examples/measured_runs/fit_profile.py` fails here
    shipped = load_profile("v2").params
    assert isinstance(shipped, SecondParams)
    refit = second_profile(load_records(), DATASET.name).params
    assert isinstance(refit, SecondParams)
    assert refit.fitted.names == shipped.fitted.names
    assert refit.fitted.shifted == shipped.fitted.shifted
    np.testing.assert_allclose(refit.fitted.z, shipped.fitted.z, atol=1e-4)
    np.testing.assert_allclose(refit.fitted.structural_sd, shipped.fitted.structural_sd, atol=1e-4)
    assert shipped.fitted.evidence is not None and refit.fitted.evidence is not None
    np.testing.assert_allclose(refit.fitted.evidence, shipped.fitted.evidence)


@pytest.mark.parametrize("world", ["toy", "paper"])
def test_search_and_simulate_predict_an_emitted_plan_alike(world, toy_problem_path, paper_scenario):
    """The population reader (search) and the record reader (simulate) count a plan the same way."""
    problem = _v2(toy_problem_path if world == "toy" else paper_scenario())
    sc = problem.sc
    rows = list(WORKFLOWS.values())
    ev = problem.evaluate(
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows], dtype=float),
        0.8,
    )
    assert ev.valid.all()
    warm = warmup_only(sc, ev.pop, problem.profile.params)
    for i, name in enumerate(WORKFLOWS):
        plan = plan_for(
            sc, ev, i, "v2", name.replace(" ", "-"), 1.645, problem.profile.params, warm
        )
        again = simulate_plan(problem, replace(plan, prediction=None))
        assert plan.prediction is not None and again.prediction is not None
        assert set(again.prediction.stages) == set(plan.prediction.stages), name
        for stage, p in plan.prediction.stages.items():
            q = again.prediction.stages[stage]
            assert q.accuracy == pytest.approx(p.accuracy, abs=1e-9), (name, stage)
            assert (q.low, q.high) == pytest.approx((p.low, p.high), abs=1e-9), (name, stage)
        assert again.prediction.final_accuracy == pytest.approx(ev.final_acc[i], abs=1e-9)


def test_training_moves_the_prediction_and_the_band_comes_from_the_fit(toy_problem_path):
    problem = _v2(toy_problem_path)
    base = problem.sc.student.accuracy("toy", "student")
    ev = problem.evaluate(
        np.array([0, -1]),
        np.array([0.6, 0.5]),
        np.array([[1, 1, 1, 1], [0, 0, 0, 1]], dtype=float),
        1.0,
    )
    # the fitted toy world: both workflows train the student above its base, with a band
    # at least the world's structural spread wide and, but for its widening past the fit's
    # evidence (the whole budget buys more stage-3 steps than the dataset ran), a few points
    fitted = problem.profile.params.fitted
    structural = fitted.structural_sd[0]
    widening = fitted.widening(second.population_points(problem.sc, ev.pop, fitted, second.FINAL))
    assert (ev.final_acc > base).all()
    assert (ev.sd_final >= structural - 1e-12).all() and (ev.sd_final / widening < 0.1).all()
    assert ev.teacher_acc[0] > 0 and ev.teacher_acc[1] == 0.0 and ev.sd_teacher[1] == 0.0


def test_an_estimated_model_widens_the_band_by_the_profile_factor(paper_scenario):
    measured = _v2(paper_scenario(teachers=[{"model": "qwen3-8b", "measured": True}]))
    estimated = _v2(paper_scenario(teachers=[{"model": "qwen3-8b", "measured": False}]))
    args = (np.array([0]), np.array([0.6]), np.array([[1, 1, 1, 1]], dtype=float), 1.0)
    a, b = measured.evaluate(*args), estimated.evaluate(*args)
    assert b.final_acc[0] == pytest.approx(a.final_acc[0])
    assert b.sd_final[0] == pytest.approx(2.0 * a.sd_final[0])


def test_a_derived_base_gets_the_fitted_shift_and_a_given_one_is_taken_as_given(paper_scenario):
    shipped = load_scenario(paper_scenario(teachers=["qwen3-8b"]))
    given = load_scenario(
        paper_scenario(teachers=[{"model": "qwen3-8b", "accuracy": {"math": 0.853}}])
    )
    assert second.model_facts(shipped.teachers[0], shipped)["base"] == "derived"
    assert second.model_facts(given.teachers[0], given)["base"] == "measured"
    assert second.model_facts(shipped.student, shipped)["base"] == "measured"


def test_a_benchmark_the_second_model_cannot_read_is_refused(paper_scenario, capsys):
    path = paper_scenario(
        student={"model": "qwen3-1.7b", "accuracy": {"gsm8k": 0.8}},
        teachers=[{"model": "qwen3-8b", "accuracy": {"gsm8k": 0.9}}],
        objective={"benchmark": "gsm8k"},
    )
    with pytest.raises(UserError, match="math, aime24, aime25"):
        _v2(path)
    assert main(["plan", str(path), "--profile", "v2", "--trials", "5"]) == 2
    assert "no readout for 'gsm8k'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "fit, words",
    [
        ({}, "not a fitted second-version response model"),
        (
            {
                "names": ["rl_exponent"],
                "free_values": [0.1],
                "covariance": [[1.0]],
                "structural_sd": {"toy": 0, "paper": 0},
            },
            "lacks parameters",
        ),
    ],
)
def test_a_broken_second_model_profile_exits_2_and_says_how_to_write_one(
    fit, words, paper_scenario, tmp_path, capsys
):
    bad = tmp_path / "v2.yaml"
    bad.write_text(yaml.safe_dump({"name": "broken", "model": "response_v2", "fit": fit}))
    assert main(["plan", str(paper_scenario()), "--profile", str(bad), "--trials", "5"]) == 2
    err = capsys.readouterr().err
    assert words in err and "fit_profile.py" in err


def test_calibrate_refits_the_second_model_on_the_dataset_and_the_runs_and_plan_uses_it(
    toy_problem_path, tmp_path, capsys
):
    """Runs that measured 8 points above the prediction pull the refit toward them."""
    from tests.planner_tests.test_calibration_runs import _fake_run

    plan = make_plans(toy_problem_path, out=tmp_path / "p", trials=30, profile="v2").best
    assert plan.prediction is not None and plan.prediction.source == "response-v2"
    for seed in (0, 1):
        _fake_run(tmp_path / f"run{seed}", replace(plan, seed=seed), 0.08, 1.5, "cpu_seconds")
    out = tmp_path / "cal.yaml"
    args = ["calibrate", str(tmp_path / "run0"), str(tmp_path / "run1"), "--scenario"]
    assert main([*args, str(toy_problem_path), "--profile", "v2", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    points = report["points"]
    assert len(points) == 2 * len(plan.stages)
    before = np.mean([abs(p["prior"] - p["measured"]) for p in points])
    after = np.mean([abs(p["predicted"] - p["measured"]) for p in points])
    assert before == pytest.approx(0.08, abs=1e-6) and after < 0.5 * before
    cal = load_profile(out)
    assert isinstance(cal.params, SecondParams) and cal.name == "response-v2+calibrated"
    assert cal.hardware_overrides["train_mfu"] < load_scenario(toy_problem_path).hardware.train_mfu
    again = simulate_plan(Simulator.create(load_scenario(toy_problem_path), str(out)), plan)
    assert again.prediction is not None
    lifted = again.prediction.final_accuracy - plan.prediction.final_accuracy
    assert lifted > 0.04
    assert again.prediction.total_compute > 1.3 * plan.prediction.total_compute


def test_plan_with_the_second_model_writes_a_plan_that_simulates_to_its_prediction(
    paper_scenario, tmp_path, capsys
):
    scenario, out = str(paper_scenario()), tmp_path / "plans"
    assert main(["plan", scenario, "--profile", "v2", "--trials", "40", "--out", str(out)]) == 0
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["prediction"]["source"] == "response-v2"
    capsys.readouterr()
    plan = str(out / "best.yaml")
    assert main(["simulate", plan, "--scenario", scenario, "--profile", "v2", "--json"]) == 0
    simulated = json.loads(capsys.readouterr().out)
    assert simulated["final_accuracy"] == pytest.approx(best["prediction"]["final_accuracy"])
    for row in simulated["stages"]:
        assert row["accuracy"] == pytest.approx(best["prediction"]["stages"][row["id"]]["accuracy"])


def test_an_unknown_profile_name_lists_the_shipped_ones(paper_scenario, capsys):
    assert main(["plan", str(paper_scenario()), "--profile", "v3", "--trials", "5"]) == 2
    err = capsys.readouterr().err
    assert "response profile v3 does not exist" in err and "paper, toy, toy_measured, v2" in err


def test_a_plan_past_the_profiles_evidence_is_called_an_extrapolation(
    toy_problem_path, tmp_path, capsys
):
    """The toy dataset runs stage 3 for at most 110 steps; a plan of 40 times that is warned of."""
    from planner.contracts.plan import save_plan
    from planner.simulator.plans import evidence_warnings

    problem = _v2(toy_problem_path)
    ev = problem.evaluate(
        np.array([0]), np.array([0.6]), np.array([[1, 1, 1, 1]], dtype=float), 1.0
    )
    warm = warmup_only(problem.sc, ev.pop, problem.profile.params)
    plan = plan_for(problem.sc, ev, 0, "v2", "full", 1.645, problem.profile.params, warm)
    stages = {s.id: s for s in plan.stages}
    grid = {"teacher_rl": 60, "warmup": 150, "opd": 60, "student_rl": 50}  # the dataset's own
    inside = replace(
        plan, stages=[replace(s, budget=replace(s.budget, steps=grid[s.id])) for s in plan.stages]
    )
    assert evidence_warnings(problem, inside) == []
    s3 = stages["student_rl"]
    far = replace(
        inside,
        stages=[
            replace(s, budget=replace(s.budget, steps=4400)) if s.id == s3.id else s
            for s in inside.stages
        ],
    )
    (line,) = evidence_warnings(problem, far)
    assert "stage-3 prompts visited" in line and "the most the fit measured (1,760)" in line
    assert "s2d pilot" in line
    short = replace(
        inside,
        stages=[
            replace(s, budget=replace(s.budget, steps=10)) if s.id == "warmup" else s
            for s in inside.stages
        ],
    )
    (line,) = evidence_warnings(problem, short)  # a warmup shorter than any measured
    assert "warmup samples: 640, 1/10.2 of the least the fit measured (6,528)" in line
    path = save_plan(far, tmp_path / "far.yaml")
    capsys.readouterr()
    args = ["simulate", str(path), "--scenario", str(toy_problem_path), "--profile", "v2"]
    assert main(args) == 0  # a prediction still
    assert "warning: full goes outside the evidence" in capsys.readouterr().err
    # the band of the far plan's final accuracy is wider than the inside plan's
    a, b = simulate_plan(problem, inside).prediction, simulate_plan(problem, far).prediction
    assert a is not None and b is not None
    width = lambda p: p.stages["student_rl"].high - p.stages["student_rl"].low  # noqa: E731
    assert width(b) > 2 * width(a)
