"""One rule for which toy zoo ``toy:`` names mean, shared by ``s2d plan`` and ``s2d run``.

Before, the planner took the scenario's zoo (or the newest built one) and the
trainer took ``$S2D_TOY_ZOO`` (or the default preset's), so a plan could be
priced on one zoo and trained on another. An emitted toy plan now records the
zoo it was planned on, and the trainer resolves in it.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from planner.contracts import UserError, load_plan
from planner.scenario import resolve_zoo
from s2d.cli import main
from trainer.executor import Executor, RunOptions


def _copy_zoo(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_a_plan_runs_on_the_zoo_it_was_planned_on(tiny_zoo, tmp_path, monkeypatch):
    other = _copy_zoo(tiny_zoo.root, tmp_path / "home" / "toy" / "default-seed0-other")
    monkeypatch.setenv("S2D_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("S2D_TOY_ZOO", str(other))  # what a user's shell may still say
    scenario = tmp_path / "toy.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "kind": "scenario",
                "name": "toy",
                "world": "toy",
                "zoo": str(tiny_zoo.root),
                "student": "toy:xs",
                "teachers": ["toy:s"],
                "labels": 40,
                "prompts": 32,
                "hardware": {"device": "cpu", "count": 1, "probe": False},
                "budget": {"cpu_seconds": 60},
            }
        )
    )
    out = tmp_path / "plans"
    assert main(["plan", str(scenario), "--out", str(out), "--trials", "8"]) == 0
    plan = load_plan(out / "best.yaml")  # as s2d run reads it
    assert plan.toy_zoo == str(tiny_zoo.root)
    student, teacher = Executor(plan, tmp_path / "run").resolve_models()
    assert student.is_relative_to(tiny_zoo.root) and not student.is_relative_to(other)
    # --toy-zoo still wins over the plan's
    forced, _ = Executor(plan, tmp_path / "run", RunOptions(toy_zoo=other)).resolve_models()
    assert forced.is_relative_to(other)


def test_the_default_rule_in_order(tiny_zoo, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("S2D_HOME", str(home))
    monkeypatch.delenv("S2D_TOY_ZOO", raising=False)
    with pytest.raises(UserError, match="no built toy zoo .* `s2d toy build`"):
        resolve_zoo()
    tiny = _copy_zoo(tiny_zoo.root, home / "toy" / "tiny-seed0-abc")
    assert resolve_zoo() == tiny  # only a non-default build: use it
    default = _copy_zoo(tiny_zoo.root, home / "toy" / "default-seed0-abc")
    newer_tiny = _copy_zoo(tiny_zoo.root, home / "toy" / "tiny-seed1-def")
    assert newer_tiny.exists() and resolve_zoo() == default  # the default preset first
    monkeypatch.setenv("S2D_TOY_ZOO", str(tiny))
    assert resolve_zoo() == tiny
    assert resolve_zoo(newer_tiny) == newer_tiny  # explicit beats the environment
    with pytest.raises(UserError, match="holds no zoo.json"):
        resolve_zoo(tmp_path)
    monkeypatch.setenv("S2D_TOY_ZOO", str(tmp_path))
    with pytest.raises(UserError, match="S2D_TOY_ZOO=.* is not a built toy zoo"):
        resolve_zoo()


def test_a_scenario_without_prompts_emits_plans_that_validate(tiny_zoo, tmp_path):
    """Labels are allocated in full to stages 1 and 3, and bridge prompts are never labels:
    a scenario with no prompt pool used to emit bridged plans its own validator refused."""
    scenario = tmp_path / "toy.yaml"
    data = {
        "kind": "scenario",
        "name": "toy-no-prompts",
        "world": "toy",
        "zoo": str(tiny_zoo.root),
        "student": "toy:xs",
        "teachers": ["toy:s"],
        "labels": 40,
        "prompts": 0,
        "hardware": {"device": "cpu", "count": 1, "probe": False},
        "budget": {"cpu_seconds": 60},
    }
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "plans"
    for pareto in ([], ["--pareto"]):
        assert main(["plan", str(scenario), "--out", str(out), "--trials", "16", *pareto]) == 0
    for path in sorted(out.rglob("*.yaml")):
        plan = load_plan(path)
        assert all(s.data != "prompts" for s in plan.stages), path


def test_no_grpo_stage_is_planned_with_fewer_labels_than_one_step_draws(tiny_zoo, tmp_path):
    """A GRPO step draws prompts_per_step distinct problems. The planner used to give the
    teacher's RL 1 label of 32 with 4 prompts a step: TRL's sampler yields no batch, and the
    stage "trained" zero steps and reported ok."""
    scenario = tmp_path / "toy.yaml"
    data = {
        "kind": "scenario",
        "name": "toy-few-labels",
        "world": "toy",
        "zoo": str(tiny_zoo.root),
        "student": "toy:xs",
        "teachers": ["toy:s"],
        "labels": 32,
        "prompts": 32,
        "hardware": {"device": "cpu", "count": 1, "probe": False},
        "budget": {"cpu_seconds": 6},
        "settings": {
            stage: {"prompts_per_step": 4, "samples_per_prompt": 4, "max_new_tokens": 24}
            for stage in ("teacher_rl", "warmup", "opd", "student_rl")
        },
    }
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "plans"
    for pareto in ([], ["--pareto"]):
        assert main(["plan", str(scenario), "--out", str(out), "--trials", "16", *pareto]) == 0
    plans = [load_plan(p) for p in sorted(out.rglob("*.yaml"))]
    assert plans
    for plan in plans:
        for s in plan.stages:
            if s.label_source is not None:
                assert getattr(plan.labels, s.label_source) >= s.budget.prompts_per_step, plan.name
