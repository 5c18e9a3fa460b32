"""s2d pilot: which workflows it pilots, how short, and what it refuses (no training here)."""

from __future__ import annotations

import json

import pytest

from planner.contracts.plan import load_plan
from planner.scenario.spec import load_scenario
from planner.search.pilot import Contender, chance_better, contenders, propose
from planner.simulator.simulator import Simulator
from s2d.cli import main


def _sim(path, profile="v2"):
    return Simulator.create(load_scenario(path), profile)


def test_each_workflow_gets_its_best_plan_and_the_first_is_the_decision(toy_problem_path):
    ranked = contenders(_sim(toy_problem_path))
    names = [c.workflow for c in ranked]
    assert len(names) == len(set(names))
    assert {"direct GRPO", "toy-m: raw bridge", "toy-m: RL-teacher bridge + stage 3"} <= set(names)
    assert [c.objective for c in ranked] == sorted((c.objective for c in ranked), reverse=True)
    for c in ranked:
        ids = [s.id for s in c.plan.stages]
        assert ("teacher_rl" in ids) == ("RL-teacher" in c.workflow)
        assert ("student_rl" in ids) == ("stage 3" in c.workflow or c.workflow == "direct GRPO")


def test_the_chance_a_rival_wins_follows_the_bands():
    def c(final, sd):
        return Contender("x", None, final, final, sd)  # type: ignore[arg-type]

    assert chance_better(c(0.5, 0.02), c(0.5, 0.02)) == pytest.approx(0.5)
    assert chance_better(c(0.45, 0.01), c(0.5, 0.01)) < 0.001
    assert chance_better(c(0.48, 0.03), c(0.5, 0.03)) == pytest.approx(0.3184, abs=1e-3)
    assert chance_better(c(0.6, 0.0), c(0.5, 0.0)) == 1.0


def test_pilots_are_the_contenders_shortened_to_the_share_of_the_budget(toy_problem_path):
    problem = _sim(toy_problem_path)
    ranked, pilots = propose(problem, share=0.2, max_pilots=3, min_chance=0.01)
    assert pilots and pilots[0].contender is ranked[0]
    assert len(pilots) <= 3
    assert all(p.contender.chance >= 0.01 for p in pilots[1:])
    budget = problem.sc.budget
    # whole steps, at least one per stage: a little over the share at most
    assert sum(p.compute for p in pilots) <= 0.2 * budget * 1.1
    for p in pilots:
        full = {s.id: s.budget.steps for s in p.contender.plan.stages if s.budget}
        short = {s.id: s.budget.steps for s in p.plan.stages if s.budget}
        assert short.keys() == full.keys()
        assert all(1 <= short[k] <= full[k] for k in full)
        assert p.plan.labels == p.contender.plan.labels
        assert p.plan.prediction is not None and p.plan.prediction.total_compute == p.compute


def test_dry_run_writes_the_decision_and_the_pilot_plans(toy_problem_path, tmp_path, capsys):
    out = tmp_path / "pilot"
    args = ["pilot", str(toy_problem_path), "--out", str(out), "--dry-run", "--json"]
    assert main([*args, "--min-chance", "0.01"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == "response-v2"
    before = load_plan(out / "before.yaml")
    first = doc["before"][0]["workflow"]
    assert ("teacher_rl" in [s.id for s in before.stages]) == ("RL-teacher" in first)
    assert before.teacher is not None and first.startswith(before.teacher.name)
    written = sorted(p.stem for p in (out / "pilots" / "plans").glob("*.yaml"))
    assert written == sorted(p["name"] for p in doc["pilots"])
    assert not (out / "calibrated.yaml").exists() and not (out / "best.yaml").exists()
    for p in doc["pilots"]:
        plan = load_plan(out / "pilots" / "plans" / f"{p['name']}.yaml")
        assert {s.id: s.budget.steps for s in plan.stages if s.budget} == p["steps"]


def test_a_decision_no_rival_can_overturn_gets_no_pilot(paper_scenario, tmp_path, capsys):
    # one teacher-free workflow only: nothing to choose between
    path = paper_scenario(teachers=[])
    out = tmp_path / "pilot"
    assert main(["pilot", str(path), "--out", str(out)]) == 0
    assert "nothing to pilot" in capsys.readouterr().out
    assert load_plan(out / "best.yaml").teacher is None
    assert not (out / "pilots").exists()


@pytest.mark.parametrize(
    "flag, value", [("--share", "0"), ("--share", "1.5"), ("--min-chance", "x")]
)
def test_bad_options_exit_2(flag, value, paper_scenario, tmp_path, capsys):
    assert main(["pilot", str(paper_scenario()), "--out", str(tmp_path / "o"), flag, value]) == 2
    assert "must be a fraction of the budget" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _world(path, **values) -> Simulator:
    """The shipped second model with some values replaced: a stand-in for how the world behaves."""
    from planner.simulator import response_v2 as M

    truth = _sim(path)
    fit = truth.profile.params.fitted
    for name, v in values.items():
        fit.z[fit.names.index(name)] = M.to_free(name, v)
    return truth


def _measured_in(world: Simulator, flat: bool = False):
    """Pilot runs whose evals measure what ``world`` predicts (``flat``: the student never moves).

    Written as s2d run writes them: the base eval, then each stage's end and eval.
    """
    from dataclasses import replace

    from planner.contracts.plan import save_plan
    from planner.contracts.runlog import EventWriter, Spend
    from planner.simulator.plans import simulate_plan

    base = world.sc.student.accuracy("toy", "student")

    def execute(plans, out, zoo, lanes, on_finish=None):
        dirs = []
        for p in plans:
            truth = simulate_plan(world, replace(p, prediction=None))
            run = out / p.name
            save_plan(truth, run / "plan.yaml")
            with EventWriter(run / "events.jsonl") as w:
                w.emit("run_start", plan=p.name)
                w.emit("eval", stage="base", benchmark="toy", accuracy=base, n=400, k=4)
                for s in truth.stages:
                    pred = truth.prediction.stages[s.id]
                    student = s.model == "student"
                    acc = base if flat and student else pred.accuracy
                    w.emit("stage_start", stage=s.id, stage_kind=s.kind)
                    w.emit(
                        "stage_end", stage=s.id, status="ok", spent=Spend(cpu_seconds=pred.compute)
                    )
                    w.emit("eval", stage=s.id, benchmark="toy", accuracy=acc, n=400, k=4)
                w.emit("run_end", status="ok")
            dirs.append(run)
        return dirs

    return execute


# A world where the pilots carry the information that decides (README, "Pilot runs", has the
# whole table of ten, worlds where they do not among them).
@pytest.mark.parametrize("world", [{"rl_mid.toy": 3000.0}], ids=["rl-slower-than-fitted"])
def test_planning_after_the_pilots_chooses_better_in_the_world_they_measured(
    world, toy_problem_path, tmp_path, monkeypatch, capsys
):
    from dataclasses import replace

    from planner.simulator.plans import simulate_plan

    truth = _world(toy_problem_path, **world)
    monkeypatch.setattr("s2d.commands.pilot.execute_pilots", _measured_in(truth))
    out = tmp_path / "pilot"
    assert main(["pilot", str(toy_problem_path), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)

    def measured(plan):
        return simulate_plan(truth, replace(plan, prediction=None)).prediction.final_accuracy

    best_in_world = contenders(truth)[0].final
    before, after = load_plan(out / "before.yaml"), load_plan(out / "best.yaml")
    # the uncalibrated decision is wrong in this world; after the pilots it is the world's best
    assert measured(before) < best_in_world - 0.002
    assert measured(after) == pytest.approx(best_in_world, abs=0.002)
    assert len(doc["points"]) == sum(
        len(
            [
                s
                for s in load_plan(out / "pilots" / "plans" / f"{p['name']}.yaml").stages
                if s.budget
            ]
        )
        for p in doc["pilots"]
    )


def test_pilots_too_short_to_move_the_student_leave_the_decision_as_it_was(
    toy_problem_path, tmp_path, monkeypatch, capsys
):
    # what the toy world's short pilots did: the student measured at its base after every stage
    truth = _world(toy_problem_path)
    monkeypatch.setattr("s2d.commands.pilot.execute_pilots", _measured_in(truth, flat=True))
    out = tmp_path / "pilot"
    assert main(["pilot", str(toy_problem_path), "--out", str(out)]) == 0
    assert "too short for the student to move" in capsys.readouterr().out
    assert (out / "best.yaml").read_text() == (out / "before.yaml").read_text()
    assert (out / "calibrated.yaml").is_file()
