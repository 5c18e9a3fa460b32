"""The measured-runs dataset: records from run directories, the packaged file, the paper's figures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner.calibrate import arms
from planner.calibrate import records as R
from planner.contracts.errors import UserError
from planner.contracts.plan import load_plan, save_plan
from planner.contracts.runlog import EventWriter, Spend
from planner.simulator.plans import ROLE_OUTPUT
from planner.simulator.response import load_profile, predict
from tests.builders import RecordingModel

ROOT = Path(__file__).resolve().parents[2]


def _run(run_dir: Path, plan, evals: dict[str, float]) -> None:
    """A finished run: each own stage spent a little and was evaluated (``base`` first)."""
    save_plan(plan, run_dir / "plan.yaml")
    with EventWriter(run_dir / "events.jsonl") as w:
        w.emit("run_start", plan=plan.name)
        w.emit("eval", stage="base", benchmark="toy", accuracy=evals["base"], n=200, k=4)
        for s in plan.stages:
            w.emit("stage_start", stage=s.id, stage_kind=s.kind)
            w.emit("stage_end", stage=s.id, status="ok", spent=Spend(cpu_seconds=10.0))
            w.emit(
                "eval",
                stage=s.id,
                benchmark="toy",
                accuracy=evals[s.id],
                greedy_accuracy=0.5,
                n=200,
                k=4,
            )
        w.emit("run_end", status="ok")


@pytest.fixture
def comparison(tmp_path, fake_zoo):
    plan = load_plan(ROOT / "examples" / "toy_plan.yaml")
    root = tmp_path / "cmp"
    runs = arms.arm_plans(plan, (root / "workflow").resolve(), ("direct", "full", "replay"))
    acc = {"base": 0.09, "teacher_rl": 0.4, "warmup": 0.2, "opd": 0.27, "student_rl": 0.3}
    _run(root / "workflow", runs["workflow"], acc)
    _run(root / "direct", runs["direct"], {"base": 0.11, "student_rl": 0.12})
    _run(root / "replay", runs["replay"], {"base": 0.27, "student_rl": 0.29})
    return root, fake_zoo


def test_a_comparison_becomes_one_record_per_run(comparison):
    root, zoo = comparison
    recs = {r["arm"]: r for r in R.records_from_comparison(root, "toy/s-m/L400/seed0", zoo)}
    assert set(recs) == {"workflow", "direct", "replay"}
    wf = recs["workflow"]
    # the zoo's figures, and the base the comparison's own runs measured (mean of workflow and direct)
    assert wf["student"] == {
        "name": "toy:s",
        "params": 154_000,
        "accuracy": 0.095,
        "greedy": 0.34,
        "base_eval": 0.1,
    }
    assert recs["replay"]["student"]["base_eval"] == 0.1  # it has no eval of the untrained student
    assert wf["teacher"]["name"] == "toy:m"
    assert [s["role"] for s in wf["stages"]] == ["teacher_rl", "warmup", "opd", "student_rl"]
    assert wf["measured"]["opd"]["accuracy"] == 0.27
    assert wf["spent"]["opd"]["cpu_seconds"] == 10.0
    assert R.points(wf) == ["teacher_rl", "warmup", "opd", "student_rl"]
    assert recs["direct"]["teacher"] is None


def test_a_run_from_another_runs_checkpoint_is_its_pipeline_from_scratch(comparison):
    root, zoo = comparison
    rec = R.record_from_run(root / "replay", "toy/s-m/L400/seed0", zoo)
    # the base models, not the workflow's bridged checkpoint
    assert rec["student"]["name"] == "toy:s" and rec["teacher"]["name"] == "toy:m"
    assert [(s["id"], s["own"]) for s in rec["stages"]] == [
        ("teacher_rl", False),
        ("warmup", False),
        ("opd", False),
        ("student_rl", True),
    ]
    # its base eval measured the bridged checkpoint: filed under opd, and not a point of its own
    assert rec["measured"]["opd"]["accuracy"] == 0.27 and "base" not in rec["measured"]
    assert R.points(rec) == ["student_rl"]
    a = R.allocation(rec, "student_rl")
    assert a["replay_labels"] == rec["labels"]["stage1"] and a["labels3"] == 0


@pytest.mark.parametrize("arm", ["workflow", "direct", "replay"])
def test_allocation_counts_as_the_plan_simulator_does(comparison, tmp_path, arm):
    """Every stage of every arm: the record's counts are plan_inputs' counts of the same plan."""
    import yaml

    from planner.scenario.spec import load_scenario
    from planner.simulator.lineage import from_scratch
    from planner.simulator.plans import plan_inputs
    from planner.simulator.simulator import Simulator

    root, zoo = comparison
    data = yaml.safe_load((ROOT / "examples" / "toy_scenario.yaml").read_text())
    data.update(zoo=str(zoo), teachers=["toy:m"])
    (tmp_path / "sc.yaml").write_text(yaml.safe_dump(data))
    problem = Simulator.create(load_scenario(tmp_path / "sc.yaml"))
    plan = from_scratch(load_plan(root / arm / "plan.yaml"))
    rec = R.record_from_run(root / arm, "toy/s-m/L400/seed0", zoo)
    fields = (
        "labels1",
        "visits1",
        "warmup_samples",
        "opd_samples",
        "labels3",
        "visits3",
        "replay_labels",
    )
    for i, stage in enumerate(plan.stages):
        want, _, _ = plan_inputs(problem, replace(plan, stages=plan.stages[: i + 1]))
        got = R.v1_inputs(rec, stage.id)
        for f in fields:
            assert float(np.asarray(getattr(got, f))[0]) == float(
                np.asarray(getattr(want, f))[0]
            ), (arm, stage.id, f)


def test_records_are_added_by_key_sorted_and_atomically(tmp_path, comparison):
    root, zoo = comparison
    path = tmp_path / "data.jsonl"
    new = R.records_from_comparison(root, "toy/s-m/L400/seed0", zoo)
    R.add_records(path, new)
    R.add_records(path, new[:1])  # the same key again replaces, never duplicates
    got = R.load_records(path)
    assert len(got) == len(new)
    assert [R.record_key(r) for r in got] == sorted(R.record_key(r) for r in new)


def test_a_damaged_dataset_line_is_named(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"setting": "x"}\n')
    with pytest.raises(UserError, match=r"data.jsonl:1: a record needs arm"):
        R.load_records(path)
    path.write_text("\n{not json\n")
    with pytest.raises(UserError, match=r"data.jsonl:2: not JSON"):
        R.load_records(path)


def test_paper_records_are_the_figures_the_first_model_was_fitted_to():
    """Read through the first model, each paper record gives back its PAPER.md figure."""
    params = load_profile().params
    recs = R.paper_records()
    assert len(recs) == 15
    for rec in recs:
        roles = {s["id"]: s["role"] for s in rec["stages"]}
        for stage in R.points(rec):
            out = predict(R.v1_inputs(rec, stage), params, rec["benchmark"])
            got = float(np.asarray(getattr(out, ROLE_OUTPUT[roles[stage]]))[0])
            assert got == pytest.approx(rec["measured"][stage]["accuracy"], abs=0.0025), rec["arm"]


def test_the_packaged_dataset_loads_and_holds_the_paper_as_the_code_states_it():
    recs = R.load_records()
    paper = sorted((r for r in recs if r["world"] == "paper"), key=R.record_key)
    stated = sorted((json.loads(json.dumps(r)) for r in R.paper_records()), key=R.record_key)
    assert paper == stated  # regenerate with examples/measured_runs/generate.py after changing them
    for r in recs:
        if r["world"] == "toy":
            assert r["setting"].startswith("toy/") and R.points(r), r["setting"]


def test_the_rebuilt_zoos_runs_stay_out_of_the_dataset_and_are_scored_as_transfer():
    """Another zoo build trained other models under the same names: a check, not evidence."""
    from planner.calibrate import validate as V

    dataset, other = R.load_records(), R.load_records(R.REBUILT_ZOO)
    assert other and all(r["world"] == "toy" and R.points(r) for r in other)
    assert not {r["setting"] for r in other} & {r["setting"] for r in dataset}
    # the models differ from the dataset's at the same names (sampled accuracy, zoo's figure)
    seen = {r["student"]["name"]: r["student"]["accuracy"] for r in dataset if r["world"] == "toy"}
    assert all(r["student"]["accuracy"] != seen[r["student"]["name"]] for r in other)

    probe = RecordingModel()
    scored = V.transfer(probe, dataset, other)
    assert probe.fits == [dataset]  # one fit, on the dataset alone
    assert scored.n == sum(len(R.points(r)) for r in other)
    assert {row["setting"] for row in scored.rows} == {r["setting"] for r in other}


def test_the_planners_plans_are_on_the_datasets_zoo_and_scored_as_transfer():
    """The plans a planner chose, run on the dataset's zoo: kept out of the fit, scored."""
    from planner.calibrate import validate as V

    dataset, plans = R.load_records(), R.load_records(R.PLANNER_PLANS)
    assert plans and all(r["world"] == "toy" and R.points(r) for r in plans)
    assert not {r["setting"] for r in plans} & {r["setting"] for r in dataset}
    models = [m for r in plans for m in (r["student"], r["teacher"]) if m]
    assert R.other_zoo_models(models, dataset) == []  # the same models as the dataset's
    probe = RecordingModel()
    scored = V.transfer(probe, dataset, plans)
    assert probe.fits == [dataset]
    assert scored.n == sum(len(R.points(r)) for r in plans)


def test_models_of_another_zoo_build_are_told_apart_from_the_datasets():
    dataset = R.load_records()
    same = [r["student"] for r in dataset if r["world"] == "toy"][:3]
    assert R.other_zoo_models(same, dataset) == []
    rebuilt = [r["student"] for r in R.load_records(R.REBUILT_ZOO)]
    found = R.other_zoo_models(rebuilt, dataset)
    assert found and all("the dataset's" in line for line in found)
    assert any(line.startswith("toy:s sampled / greedy 5.8 / 21.1%") for line in found)
    unknown = [{**same[0], "name": "toy:xl"}]
    assert R.other_zoo_models(unknown, dataset) == []  # a model the dataset never measured


def test_a_zoo_other_than_the_datasets_is_named_in_a_notice_and_in_the_planners_notes(
    fake_zoo, toy_problem_path, tmp_path
):
    import json

    from planner.search import make_plans

    doc = json.loads((fake_zoo / "zoo.json").read_text())
    dataset_figures = {"s": (0.0766, 0.253), "m": (0.2604, 0.619)}  # the dataset's toy:s, toy:m
    key, seed = R.DATASET_ZOO
    for name, (sampled, greedy) in dataset_figures.items():
        doc["models"][name].update(sampled_accuracy=sampled, greedy_accuracy=greedy)
    fake_key = doc["key"]
    doc.update(key=key, seed=seed)
    (fake_zoo / "zoo.json").write_text(json.dumps(doc))
    assert R.zoo_notice(fake_zoo) is None  # the dataset's own zoo: nothing to say

    doc["models"]["s"]["sampled_accuracy"] = 0.058
    (fake_zoo / "zoo.json").write_text(json.dumps(doc))
    notice = R.zoo_notice(fake_zoo)
    assert notice and "another build" in notice and "toy:s sampled / greedy 5.8 / 25.3%" in notice
    assert "toy:m" not in notice and "s2d pilot" in notice

    doc.update(key=fake_key)
    (fake_zoo / "zoo.json").write_text(json.dumps(doc))
    notice = R.zoo_notice(fake_zoo)
    assert notice and f"key {fake_key}, seed 0" in notice and "another config" in notice

    result = make_plans(toy_problem_path, out=tmp_path / "plans", trials=4)
    assert notice in result.notes
    assert R.zoo_notice(tmp_path / "no-zoo-here") is None
