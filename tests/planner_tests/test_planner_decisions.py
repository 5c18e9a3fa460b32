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


def test_no_plan_that_fits_in_memory_is_refused_with_each_stage_figures(
    paper_scenario, tmp_path, capsys
):
    # an 8B student and a 14B teacher on one H100: 131 GB of training state for the student alone
    path = paper_scenario(
        student="qwen3-8b", teachers=["qwen3-14b"], hardware={"device": "h100", "count": 1}
    )
    assert main(["plan", str(path), "--out", str(tmp_path / "o")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no plan fits in memory on 1 x h100" in err and "Traceback" not in err
    for stage in ("student_rl of qwen3-8b", "teacher_rl of qwen3-14b", "warmup of qwen3-8b"):
        assert f"{stage}" in err
    assert "GiB on its one device, 79.6 GiB available" in err
    assert "hardware.count" in err and not (tmp_path / "o").exists()


def test_a_teacher_too_large_for_rl_is_only_ever_a_raw_teacher(paper_scenario, tmp_path):
    from planner.search import space
    from planner.simulator.simulator import Simulator

    # a 14B-parameter decoder of the student's vocabulary on 2 GPUs: its RL state does not fit
    # even sharded over both, while its bf16 weights fit whole beside the student's training
    model = tmp_path / "my-14b"
    model.mkdir()
    config = {
        "hidden_size": 5120,
        "num_hidden_layers": 48,
        "intermediate_size": 13824,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 151936,
    }
    (model / "config.json").write_text(json.dumps(config))
    path = paper_scenario(
        teachers=[{"model": str(model), "accuracy": {"math": 0.9}}],
        hardware={"device": "h100", "count": 2, "engine": "transformers"},
    )
    problem = Simulator.create(load_scenario(path))
    workflow = {
        "teacher": "my-14b",
        "stage1_fraction": 0.5,
        **dict.fromkeys(space.WEIGHTS, 0.25),
    }
    raw = {**workflow, "w_teacher_rl": 0.0}
    ev = space.evaluate_params(problem, [workflow, raw])
    assert ev.pop.steps["teacher_rl"][0] > 0 and not ev.valid[0]  # would fit the budget
    assert ev.valid[1]
    result = make_plans(path, out=tmp_path / "out", trials=60)
    assert all(s.id != "teacher_rl" for s in result.best.stages)
    assert any("does not fit in memory" in n and "teacher_rl of my-14b" in n for n in result.notes)


def test_the_paper_plan_shards_teacher_rl_and_says_so(paper_scenario, tmp_path):
    result = make_plans(paper_scenario(), out=tmp_path / "out", trials=25)
    stages = result.best.prediction.stages
    assert stages["teacher_rl"].sharding == "full"  # 131 GB of state for the 8B, 16 GB per GPU
    assert all(stages[s].sharding == "none" for s in ("warmup", "opd", "student_rl"))
    assert 0 < stages["teacher_rl"].memory_gib < 79.6 and stages["student_rl"].memory_gib > 30
    assert any("teacher_rl fits in memory only" in n and "FSDP" in n for n in result.notes)
    assert any("with num_processes set to 8" in n for n in result.notes)
    # the plan file carries it, and a plan written without it loads as unsharded
    from planner.contracts.plan import dump_plan, loads_plan

    text = dump_plan(result.best)
    assert loads_plan(text).prediction.stages["teacher_rl"].sharding == "full"
    older = "".join(line for line in text.splitlines(True) if "sharding" not in line)
    assert loads_plan(older).prediction.stages["teacher_rl"].sharding == "none"
