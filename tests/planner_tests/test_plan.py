"""The plan contract: YAML round trips, and every invalid plan refused with its field and fix."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.contracts.errors import UserError, ValidationError
from planner.contracts.plan import (
    Prediction,
    StagePrediction,
    dump_plan,
    load_plan,
    loads_plan,
    plan_from_dict,
    plan_to_dict,
    save_plan,
)
from tests import builders

EXAMPLE = Path(__file__).parents[2] / "examples" / "toy_plan.yaml"


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def problems_of(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        plan_from_dict(data, "p.yaml")
    return [str(p) for p in info.value.problems]


def test_example_loads_with_defaults_filled():
    plan = load_plan(EXAMPLE)
    assert [s.id for s in plan.stages] == ["teacher_rl", "warmup", "opd", "student_rl"]
    assert plan.stage("teacher_rl").options.epsilon_high == 0.28
    assert plan.stage("opd").options.estimator == "full"
    assert plan.stage("student_rl").label_source == "stage3"
    assert plan.labels_used == 400


def test_round_trip_through_yaml_file(tmp_path):
    plan = load_plan(EXAMPLE)
    plan = plan.with_prediction(
        Prediction(
            compute_unit="cpu_seconds",
            stages={"opd": StagePrediction(0.2, 0.15, 0.25, 30.0)},
            labels_used=400,
        )
    )
    out = save_plan(plan, tmp_path / "sub" / "plan.yaml")
    again = load_plan(out)
    assert again == plan
    assert dump_plan(again) == dump_plan(plan)


def test_scientific_notation_without_dot_is_a_number(raw):
    raw["stages"][0]["optim"]["learning_rate"] = "3e-5"  # YAML 1.1 reads 3e-5 as a string
    assert plan_from_dict(raw).stages[0].optim.learning_rate == pytest.approx(3e-5)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["stages"][2].update(kind="opdd"),
            "stages[2].kind: unknown value 'opdd' (did you mean 'opd'?",
        ),
        (lambda d: d["labels"].update(stage3=300), "beyond the pool of 400"),
        (
            lambda d: d["labels"].update(stage3=0),
            "stages[3].data: reads labels.stage3, but labels.stage3 allocates no labels",
        ),
        (
            lambda d: d["stages"][1]["budget"].update(steps=0),
            "stages[1].budget.steps: must be positive (got 0)",
        ),
        (
            lambda d: d["stages"][1]["budget"].update(prompts_per_step=-4),
            "stages[1].budget.prompts_per_step: must be positive (got -4)",
        ),
        (
            lambda d: d["stages"][3].update(id="opd"),
            "stages[3].id: duplicate stage id 'opd' (also stages[2])",
        ),
        (
            lambda d: d["stages"][1].update(data="labels.stage1"),
            "stages[1].data: the warmup reads prompts only",
        ),
        (
            lambda d: d["stages"][2].update(data="labels.stage3"),
            "stages[2].data: OPD without a task reward reads prompts only",
        ),
        (lambda d: d["stages"][0].update(data="prompts"), "stages[0].data: GRPO needs labels"),
        (
            lambda d: d.pop("teacher"),
            "stages[0].model: trains the teacher, but the plan has no teacher",
        ),
        (
            lambda d: d["stages"][3]["budget"].update(samples_per_prompt=1),
            "GRPO needs a group of at least 2",
        ),
        (
            lambda d: d["stages"][3].setdefault("options", {}).update(replay=True),
            "stages[3].options.replay: the replay control re-reads stage-1 labels",
        ),
        (lambda d: d["stages"][0]["options"].update(lr=1), "stages[0].options.lr: unknown field"),
        (
            lambda d: d["stages"][0]["optim"].update(learning_rate="fast"),
            "stages[0].optim.learning_rate: expected a number",
        ),
        (
            lambda d: d.update(verifier={"extraction": "any_boxed"}),
            "verifier.extraction: unknown value 'any_boxed' (did you mean 'all_boxed'? use one of: last_boxed, all_boxed)",
        ),
        (
            lambda d: d.update(verifier={"rule": "last_boxed"}),
            "verifier.rule: unknown field (known fields: extraction)",
        ),
        (
            lambda d: d.update(rollout={"max_batch_sequences": 0}),
            "rollout.max_batch_sequences: must be positive (got 0)",
        ),
        (
            lambda d: d.update(rollout={"gpu_memory_utilization": 1.5}),
            "rollout.gpu_memory_utilization: must be at most 1 (got 1.5)",
        ),
        (
            lambda d: d.update(rollout={"tensor_parallel_size": 0}),
            "rollout.tensor_parallel_size: must be positive (got 0)",
        ),
        (
            lambda d: d.update(rollout={"max_batch_tokens": 8}),
            "rollout.max_batch_tokens: 8 KV-cache slots hold no sequence of",
        ),
        (lambda d: d.update(stages=[]), "stages: a plan needs a non-empty list of stages"),
        (lambda d: d.update(schema_version=9), "schema_version: unsupported version 9"),
        (lambda d: d.pop("student"), "student: missing required field"),
        (
            lambda d: d["stages"].append(
                {"id": "ev", "kind": "eval", "options": {"sets": ["aime"]}}
            ),
            "stages[4].options.sets: unknown eval set 'aime'",
        ),
    ],
)
def test_invalid_plans_name_the_field_and_fix(raw, mutate, expected):
    mutate(raw)
    found = problems_of(raw)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once(raw):
    raw["stages"][1]["budget"]["steps"] = 0
    raw["stages"][2]["budget"]["steps"] = -1
    raw["labels"]["stage1"] = 500
    assert len(problems_of(raw)) == 3


def test_bad_yaml_names_line_and_column():
    with pytest.raises(UserError, match=r"not valid YAML at line 2, column"):
        loads_plan("name: x\n  stages: [oops\n", "broken.yaml")


def test_yaml_never_constructs_objects():
    with pytest.raises(UserError, match="not valid YAML"):
        loads_plan("!!python/object/apply:os.system ['echo pwned']\n")


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_plan(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_plan(bad)


def test_save_is_atomic_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "plan.yaml"
    plan = load_plan(EXAMPLE)
    save_plan(plan, path)
    before = path.read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        save_plan(plan, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan.yaml"]


_ids = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def plans(draw):
    base = yaml.safe_load(EXAMPLE.read_text())
    # each GRPO stage gets at least one step's prompts (16 in the example)
    pool = draw(st.integers(32, 20_000))
    stage1 = draw(st.integers(16, pool - 16))
    stage3 = draw(st.integers(16, pool - stage1))
    ids = draw(st.lists(_ids, min_size=4, max_size=4, unique=True))
    data = copy.deepcopy(base)
    data["labels"] = {
        "pool": pool,
        "stage1": stage1,
        "stage3": stage3,
        "prompts": draw(st.integers(64, 10**6)),  # at least one OPD step (64 prompts)
        "seed": draw(st.integers(0, 2**31)),
    }
    for stage, sid in zip(data["stages"], ids, strict=True):
        stage["id"] = sid
        stage["budget"]["steps"] = draw(st.integers(1, 10_000))
        stage["optim"]["learning_rate"] = draw(st.floats(1e-9, 1.0))
    if stage3 == 0:
        data["stages"].pop()
    data["seed"] = draw(st.integers(0, 2**31))
    return data


@settings(max_examples=60, deadline=None)
@given(plans())
def test_property_round_trip(data):
    plan = plan_from_dict(data)
    again = loads_plan(dump_plan(plan))
    assert again == plan
    assert plan_to_dict(again) == plan_to_dict(plan)
    assert plan.labels_used == plan.labels.stage1 + plan.labels.stage3


def test_the_verifier_keeps_the_last_box_unless_the_plan_says_otherwise(raw):
    from typing import get_args, get_type_hints

    from planner.contracts.plan import VerifierOptions

    plan = load_plan(EXAMPLE)
    assert plan.verifier.extraction == "last_boxed"  # the paper's protocol
    assert plan_to_dict(plan)["verifier"] == {"extraction": "last_boxed"}
    raw["verifier"] = {"extraction": "all_boxed"}
    assert plan_from_dict(raw).verifier == VerifierOptions(extraction="all_boxed")
    # The rules a plan may name are the ones the trainer's verifier knows.
    allowed = get_args(get_type_hints(VerifierOptions)["extraction"])
    extraction = pytest.importorskip("trainer.verifier").Extraction
    assert allowed == tuple(e.value for e in extraction) == ("last_boxed", "all_boxed")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_written_whole_get_the_permissions_of_the_users_umask(tmp_path, umask, mode):
    from planner.contracts import atomic_write_text

    previous = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "plan.yaml", "name: x\n")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode


def test_a_grpo_stage_with_fewer_labels_than_one_step_is_refused():
    data = builders.plan_dict(labels={"pool": 40, "stage1": 1, "stage3": 16, "prompts": 32})
    with pytest.raises(
        ValidationError, match=r"a step draws \d+ distinct problems, but labels.stage1 allocates 1"
    ):
        plan_from_dict(data, "plan")


def test_an_opd_stage_with_fewer_prompts_than_one_step_is_refused():
    data = builders.plan_dict(labels={"pool": 40, "stage1": 16, "stage3": 16, "prompts": 1})
    with pytest.raises(ValidationError, match=r"distinct prompts, but labels.prompts draws 1"):
        plan_from_dict(data, "plan")
