"""What the planner decides on the paper's scenario, and how it refuses bad input."""

from __future__ import annotations

import json

import pytest

from planner.contracts.errors import UserError
from planner.contracts.plan import load_plan
from planner.scenario.spec import load_scenario
from planner.search.pipeline import make_plans
from s2d.cli import main


def _plan(path, tmp_path, **kw):
    return make_plans(path, out=tmp_path / "out", trials=kw.pop("trials", 25), **kw).best


def test_paper_budget_picks_rl_teacher_with_bridge_and_most_labels_upstream(
    paper_scenario, tmp_path
):
    plan = _plan(paper_scenario(), tmp_path)
    assert plan.teacher is not None
    # the whole workflow: teacher RL, both halves of the bridge, then RL on held-out labels
    assert [(s.id, s.kind, s.model, s.data) for s in plan.stages] == [
        ("teacher_rl", "grpo", "teacher", "labels.stage1"),
        ("warmup", "forward_kl", "student", "prompts"),
        ("opd", "opd", "student", "prompts"),
        ("student_rl", "grpo", "student", "labels.stage3"),
    ]
    assert all(s.budget.steps > 0 for s in plan.stages)
    assert plan.labels.stage1 > plan.labels.stage3 > 0
    assert plan.labels.stage1 + plan.labels.stage3 == 14000  # every label is spent
    assert (
        plan.prediction.final_accuracy > 0.785
    )  # above the paper's full-workflow figure at its own budget


def test_budget_too_small_for_teacher_rl_falls_back_to_direct_grpo(paper_scenario, tmp_path):
    plan = _plan(paper_scenario(budget={"gpu_hours": 40}), tmp_path)
    assert plan.teacher is None
    assert [(s.kind, s.model, s.data) for s in plan.stages] == [
        ("grpo", "student", "labels.stage1")
    ]
    assert plan.labels.stage1 == 14000 and plan.labels.stage3 == 0


def test_no_labels_bridges_from_a_raw_teacher_and_says_so(paper_scenario, tmp_path):
    result = make_plans(paper_scenario(labels=0), out=tmp_path / "out", trials=20)
    plan = result.best
    assert plan.teacher is not None
    # the paper's raw-teacher bridge: warmup then OPD, nothing that needs a label
    assert [(s.id, s.kind) for s in plan.stages] == [("warmup", "forward_kl"), ("opd", "opd")]
    assert all(s.budget.steps > 0 for s in plan.stages) and plan.labels_used == 0
    assert 0.70 < plan.prediction.final_accuracy < 0.725  # the paper's raw-teacher bridge: 71.5
    assert any("no labels" in n and "raw teacher" in n for n in result.notes)


def test_emitted_plan_round_trips_and_carries_its_prediction(paper_scenario, tmp_path):
    result = make_plans(paper_scenario(), out=tmp_path / "out", trials=15)
    from planner.contracts.plan import save_plan

    path = save_plan(result.best, tmp_path / "best.yaml")
    again = load_plan(path)
    assert again.prediction.stages.keys() == {s.id for s in again.stages}
    assert again.prediction.total_compute <= 600
    assert again.prediction.compute_unit == "gpu_hours"


def test_search_is_seeded_and_reproducible(paper_scenario, tmp_path):
    a = make_plans(paper_scenario(), out=tmp_path / "a", trials=15, seed=3).best
    b = make_plans(paper_scenario(), out=tmp_path / "b", trials=15, seed=3).best
    assert a == b


def test_check_reports_gap_to_grid(paper_scenario, tmp_path):
    result = make_plans(paper_scenario(), out=tmp_path / "out", trials=20, check=True)
    assert result.check["grid_points"] > 50_000
    assert result.check["gap"] > -0.002  # within 0.2 points of the grid's best (or above it)


def test_pareto_front_is_sorted_by_cost_and_accuracy_rises(paper_scenario, tmp_path):
    result = make_plans(paper_scenario(), out=tmp_path / "out", trials=30, pareto=True)
    costs = [p.prediction.total_compute for p in result.front]
    accs = [p.prediction.final_accuracy for p in result.front]
    assert len(result.front) >= 2 and costs == sorted(costs) and accs == sorted(accs)


def test_infeasible_budget_names_the_cheapest_plan(paper_scenario, tmp_path, capsys):
    code = main(
        ["plan", str(paper_scenario(budget={"gpu_hours": 0.01})), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "cheapest feasible plan" in err and "0.107" in err


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"student": "qwen3-1.8b"}, "unknown model"),
        ({"labels": -5}, "must not be negative"),
        ({"budget": {"gpu_hours": -1}}, "must be positive"),
        ({"teachers": ["qwen3-8b", "qwen3-8b"]}, "repeat"),
        ({"hardware": {"device": "tpu"}}, "unknown device"),
    ],
)
def test_bad_scenarios_exit_2_with_a_message(paper_scenario, tmp_path, capsys, override, words):
    code = main(["plan", str(paper_scenario(**override)), "--out", str(tmp_path / "o")])
    assert code == 2
    assert words in capsys.readouterr().err


def test_labels_beyond_the_pool_are_refused_in_a_plan(paper_scenario, tmp_path, capsys):
    plan = _plan(paper_scenario(), tmp_path, trials=10)
    from dataclasses import replace

    from planner.contracts.plan import plan_from_dict, plan_to_dict

    bad = plan_to_dict(replace(plan, labels=replace(plan.labels, stage1=20000)))
    with pytest.raises(UserError, match="beyond the pool"):
        plan_from_dict(bad)


def test_plan_and_simulate_json(paper_scenario, tmp_path, capsys):
    scenario = paper_scenario()
    assert (
        main(["plan", str(scenario), "--out", str(tmp_path / "o"), "--trials", "10", "--json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["best"]["teacher"] and doc["storage"].startswith("journal:")
    assert (
        main(["simulate", str(tmp_path / "o" / "best.yaml"), "--scenario", str(scenario), "--json"])
        == 0
    )
    sim = json.loads(capsys.readouterr().out)
    # simulating the emitted plan gives back the search's own prediction
    assert sim["final_accuracy"] == pytest.approx(doc["best"]["final_accuracy"], abs=1e-9)
    assert sim["total_compute"] == pytest.approx(doc["best"]["total_compute"], rel=1e-9)


def test_simulate_prices_the_replay_control_low(paper_scenario, tmp_path):
    from dataclasses import replace

    from planner.simulator.plans import simulate_plan
    from planner.simulator.simulator import Simulator

    sc = load_scenario(paper_scenario())
    plan = _plan(paper_scenario(), tmp_path, trials=10)
    problem = Simulator.create(sc)
    replay_stages = [
        replace(s, data="labels.stage1", options=replace(s.options, replay=True))
        if s.id == "student_rl"
        else s
        for s in plan.stages
    ]
    fresh = simulate_plan(problem, plan).prediction
    replay = simulate_plan(problem, replace(plan, stages=replay_stages)).prediction
    assert (
        replay.final_accuracy - replay.stages["opd"].accuracy
        < 0.01
        < fresh.final_accuracy - fresh.stages["opd"].accuracy
    )


def test_emitted_stages_predict_the_pipeline_up_to_them_as_simulate_does(paper_scenario, tmp_path):
    from planner.simulator.plans import simulate_plan
    from planner.simulator.simulator import Simulator

    path = paper_scenario()
    plan = _plan(path, tmp_path)
    emitted = plan.prediction.stages
    assert {"warmup", "opd"} <= set(emitted)
    assert emitted["warmup"].accuracy < emitted["opd"].accuracy  # OPD adds to the warmup
    simulated = simulate_plan(Simulator.create(load_scenario(path)), plan).prediction.stages
    for stage, pred in emitted.items():
        assert pred.accuracy == pytest.approx(simulated[stage].accuracy, abs=1e-6), stage
