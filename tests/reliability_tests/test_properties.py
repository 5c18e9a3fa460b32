"""Monotonicity the planner must never break, checked with hypothesis.

Cost never decreases when any stage's budget grows; predicted accuracy never decreases when
labels grow with everything else fixed, at the three levels the planner computes it: the
response model's inputs, a plan as written (``s2d simulate``) and the search's allocations.
(Plan YAML round trips and label-split properties live in tests/planner_tests/test_plan.py and
tests/trainer_tests/test_data.py.)
"""

from __future__ import annotations

import copy
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.scenario.models import PROFILE_DIR
from planner.scenario.spec import scenario_from_dict
from planner.search import space
from planner.search.pipeline import plans_from_params
from planner.simulator.plans import simulate_plan
from planner.simulator.response import Inputs, load_profile, predict
from planner.simulator.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
PAPER = yaml.safe_load((ROOT / "examples" / "paper_scenario.yaml").read_text())
HARDWARE = {
    "h100": ({"device": "h100", "count": 8}, {"gpu_hours": 600}),
    "a100": ({"device": "a100", "count": 2}, {"gpu_hours": 600}),
    "cpu": ({"device": "cpu", "count": 2}, {"cpu_seconds": 1e9}),
}
WORKFLOW = {
    "teacher": "qwen3-8b",
    "stage1_fraction": 0.5,
    "w_teacher_rl": 1.0,
    "w_warmup": 1.0,
    "w_opd": 1.0,
    "w_student_rl": 1.0,
}
BUDGET_FIELDS = ("steps", "prompts_per_step", "samples_per_prompt", "max_new_tokens")
PROFILES = [
    load_profile(PROFILE_DIR / name).params for name in ("response_paper.yaml", "response_toy.yaml")
]


@cache
def problem(device: str) -> Simulator:
    hardware, budget = HARDWARE[device]
    return Simulator.create(
        scenario_from_dict({**PAPER, "hardware": hardware, "budget": budget}, "paper")
    )


@cache
def workflow_plan(device: str):
    """Teacher RL, warmup, OPD and student RL: every stage the simulator prices."""
    return plans_from_params(problem(device), [WORKFLOW])[0]


@st.composite
def budgets(draw):
    """A four-stage plan with arbitrary budgets, a stage index, a field and how much it grows."""
    plan = copy.deepcopy(workflow_plan("h100"))
    for s in plan.stages:
        s.budget.steps = draw(st.integers(1, 20_000))
        s.budget.prompts_per_step = draw(st.integers(1, 2048))
        s.budget.samples_per_prompt = draw(st.integers(2 if s.kind == "grpo" else 1, 32))
        s.budget.max_new_tokens = draw(st.integers(1, 32_768))
    return (
        plan,
        draw(st.integers(0, len(plan.stages) - 1)),
        draw(st.sampled_from(BUDGET_FIELDS)),
        draw(st.integers(1, 10_000)),
    )


@settings(max_examples=200, deadline=None)
@given(budgets(), st.sampled_from(sorted(HARDWARE)))
def test_cost_never_decreases_when_a_stage_budget_grows(case, device):
    plan, index, name, extra = case
    prob = problem(device)
    grown = copy.deepcopy(plan)
    budget = grown.stages[index].budget
    setattr(budget, name, getattr(budget, name) + extra)
    before, after = simulate_plan(prob, plan).prediction, simulate_plan(prob, grown).prediction
    stage_id = plan.stages[index].id
    assert after.stages[stage_id].compute >= before.stages[stage_id].compute
    assert after.total_compute >= before.total_compute
    for other in plan.stages:  # nothing else moves
        if other.id != stage_id:
            assert after.stages[other.id].compute == before.stages[other.id].compute


accuracy = st.floats(0.0, 1.0)
counts = st.integers(0, 200_000)


@st.composite
def response_inputs(draw):
    has_teacher = draw(st.booleans())
    replay = draw(st.integers(1, 50_000)) if draw(st.integers(0, 9)) == 0 else 0
    return Inputs(
        student_acc=np.array([draw(st.floats(0.0, 0.95))]),
        teacher_acc=np.array([draw(accuracy)]),
        has_teacher=np.array([has_teacher]),
        param_ratio=np.array([draw(st.floats(1.0, 64.0))]),
        labels1=np.array([draw(counts)]),
        visits1=np.array([draw(counts)]),
        warmup_samples=np.array([draw(st.sampled_from([0, draw(counts)]))]),
        opd_samples=np.array([draw(st.sampled_from([0, draw(counts)]))]),
        labels3=np.array([draw(counts)]),
        visits3=np.array([draw(counts)]),
        replay_labels=np.array([replay]),
        interpolated=np.array([draw(st.booleans())]),
    )


@settings(max_examples=300, deadline=None)
@given(
    response_inputs(),
    st.sampled_from(["labels1", "labels3", "replay_labels"]),
    st.integers(1, 20_000),
    st.sampled_from([0, 1]),
    st.sampled_from(["math", "aime24", "toy"]),
)
def test_response_model_accuracy_never_decreases_with_more_labels(
    x, field, extra, profile, benchmark
):
    if field == "replay_labels" and not x.replay_labels[0]:
        field = "labels3"  # growing replay labels from 0 would switch stage 3 to the replay control
    params = PROFILES[profile]
    more = replace(x, **{field: getattr(x, field) + extra})
    before, after = predict(x, params, benchmark), predict(more, params, benchmark)
    for stage in ("teacher", "bridge", "final"):
        assert getattr(after, stage)[0] >= getattr(before, stage)[0] - 1e-12, stage


@settings(max_examples=150, deadline=None)
@given(budgets(), st.sampled_from(["stage1", "stage3"]), st.integers(1, 20_000))
def test_simulated_plan_accuracy_never_decreases_with_more_labels(case, which, extra):
    plan, _, _, _ = case
    prob = problem("h100")
    grown = copy.deepcopy(plan)
    setattr(grown.labels, which, getattr(grown.labels, which) + extra)
    grown.labels.pool += extra
    before, after = simulate_plan(prob, plan).prediction, simulate_plan(prob, grown).prediction
    for stage_id, predicted in before.stages.items():
        assert after.stages[stage_id].accuracy >= predicted.accuracy - 1e-12, stage_id
    assert after.total_compute == before.total_compute  # labels cost nothing by themselves


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 30_000), st.integers(1, 30_000), st.integers(0, 2**32 - 1))
def test_allocations_never_lose_accuracy_with_a_larger_labeled_pool(labels, extra, seed):
    base = problem("h100")
    fewer = Simulator(replace(base.sc, labels=labels), base.profile, base.costs)
    more = Simulator(replace(base.sc, labels=labels + extra), base.profile, base.costs)
    arrays = space.random_arrays(base, 512, np.random.default_rng(seed), pareto=True)
    a, b = fewer.evaluate(*arrays), more.evaluate(*arrays)
    both = a.valid & b.valid
    assert np.all(b.final_acc[both] >= a.final_acc[both] - 1e-12)
    assert np.all(b.valid[a.valid])  # a runnable allocation stays runnable
