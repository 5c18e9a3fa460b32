"""A run that failed before it did any work takes the corrected plan; once it has work, never.

The first attempt freezes plan.yaml, measures the untrained student (the base eval) and then
fails in the first stage before any step is done (here: out of memory, as a first real step on
a GPU often does). The user fixes the plan and runs again on the same directory: the corrected
plan replaces the frozen one, the replaced plan is kept, and the base eval is reused only when
what it measured is unchanged.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from planner.contracts import RunDir, UserError, load_plan, plan_from_dict, plan_to_dict
from planner.contracts.runlog import read_events
from trainer.executor import Executor, RunOptions

PLAN = load_plan(Path(__file__).parents[1] / "trainer_tests" / "tiny_plan.yaml")


def _edited(edit) -> object:
    data = copy.deepcopy(plan_to_dict(PLAN))
    edit(data)
    return plan_from_dict(data, "corrected plan")


def _out_of_memory(self, ctx):
    raise RuntimeError("CUDA out of memory. Tried to allocate 100.00 GiB")


@pytest.fixture
def failed_run(tiny_zoo, tmp_path, monkeypatch) -> RunDir:
    import torch

    torch.set_num_threads(1)
    run = RunDir(tmp_path / "run")
    with monkeypatch.context() as m:
        m.setattr(Executor, "_run_stage_fn", _out_of_memory)
        with pytest.raises(RuntimeError, match="out of memory"):
            Executor(PLAN, run.root, _options(tiny_zoo)).run()
    assert run.done_marker("base").exists() and not run.done_marker("teacher_rl").exists()
    return run


def _options(zoo) -> RunOptions:
    return RunOptions(verifier_workers=1, toy_zoo=zoo.root)


def _run(run: RunDir, plan, zoo) -> list:
    before = len(read_events(run.events))
    assert Executor(plan, run.root, _options(zoo)).run() == "ok"
    return read_events(run.events)[before:]


def test_a_corrected_stage_replaces_the_plan_and_keeps_the_base_eval(failed_run, tiny_zoo):
    frozen = failed_run.plan.read_text()
    fixed = _edited(lambda d: d["stages"][0]["budget"].update(prompts_per_step=1))

    new = _run(failed_run, fixed, tiny_zoo)

    warning = next(e["message"] for e in new if e.kind == "warning")
    assert "stages[0].budget.prompts_per_step: 2 in the run, 1 given" in warning
    (kept,) = (failed_run.root / RunDir.SUPERSEDED).glob("*/plan.yaml")
    assert kept.read_text() == frozen and str(failed_run.relative(kept.parent)) in warning
    assert load_plan(failed_run.plan).stages[0].budget.prompts_per_step == 1
    assert not [e for e in new if e.kind == "eval" and e["stage"] == "base"]  # reused
    assert all(failed_run.read_done(s.id) for s in fixed.stages)


def test_a_corrected_evaluation_redoes_the_base_eval(failed_run, tiny_zoo):
    fixed = _edited(lambda d: d["evaluation"].update(k=3))

    new = _run(failed_run, fixed, tiny_zoo)

    base = [e for e in new if e.kind == "eval" and e["stage"] == "base"]
    assert base and all(e["k"] == 3 for e in base)
    assert list((failed_run.root / RunDir.SUPERSEDED).glob("*/base/DONE.json"))


@pytest.mark.parametrize("work", ["finished", "checkpoint", "rollouts", "one-ranks-rollouts"])
def test_once_the_run_holds_work_a_different_plan_is_refused(work, failed_run, tiny_zoo):
    if work == "finished":
        failed_run.write_done(failed_run.read_done("base").__class__(stage="teacher_rl"))
    elif work == "checkpoint":
        (failed_run.checkpoints_dir("teacher_rl") / "checkpoint-1").mkdir(parents=True)
    else:  # the merged file, or (a run stopped before the merge) one rank's share
        path = failed_run.teacher_rollouts("warmup")
        if work == "one-ranks-rollouts":
            path = path.with_name("teacher_rollouts.rank0-of-2.jsonl")
        path.parent.mkdir(parents=True)
        path.write_text("")
    frozen = failed_run.plan.read_text()
    fixed = _edited(lambda d: d["stages"][0]["budget"].update(prompts_per_step=1))

    with pytest.raises(UserError, match="already holds a different plan .* and work done under it"):
        Executor(fixed, failed_run.root, _options(tiny_zoo)).run()
    assert failed_run.plan.read_text() == frozen
    assert not (failed_run.root / RunDir.SUPERSEDED).exists()
