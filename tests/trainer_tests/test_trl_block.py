"""A stage's ``trl:`` block reaches its real TRL config; what the plan sets stays the plan's.

Checked before any work: names the plan's fields own are refused with the field to change;
names the stage's TRL config class lacks get a did-you-mean; values the class refuses and
reporting integrations that are not installed are refused. A run with
``trl: {report_to: tensorboard}`` leaves TensorBoard event files with the stage's metrics, and
every trained stage saves the TRL config it resolved.
"""

from __future__ import annotations

import json

import pytest

from planner.contracts import RunDir, ValidationError, load_plan, plan_from_dict
from planner.contracts.trl_block import OWNED
from tests import builders
from trainer.executor import Executor, RunOptions
from trainer.trl_settings import config_class, trl_problems

# What s2d sets that is not a plan field: its defaults, which a trl block may change.
S2D_DEFAULTS = {
    "report_to",
    "gradient_checkpointing",
    "activation_checkpointing",  # what transformers 5 calls gradient_checkpointing
    "dataloader_num_workers",
    "shuffle_dataset",
    "mask_truncated_completions",
    "log_completions",
}


def _plan(stage: int, **trl):
    data = builders.plan_dict()
    data["stages"][stage]["trl"] = trl
    return plan_from_dict(data, "test plan")


@pytest.mark.parametrize(
    "stage, block, message",
    [
        (0, {"learning_rate": 1e-5}, "stages[0].trl.learning_rate: set by optim.learning_rate"),
        (
            0,
            {"num_generations": 8},
            "stages[0].trl.num_generations: set by budget.samples_per_prompt",
        ),
        (1, {"bf16": True}, "stages[1].trl.bf16: set by precision"),
        (2, {"max_steps": 3}, "stages[2].trl.max_steps: set by budget.steps"),
        (0, {"save_steps": 3}, "stages[0].trl.save_steps: set by `s2d run --save-every`"),
        (0, {"adam_beta1": float("nan")}, "stages[0].trl.adam_beta1: nan is not a finite number"),
    ],
)
def test_names_the_plan_owns_and_values_that_are_not_data_are_refused_at_load(
    stage, block, message
):
    with pytest.raises(ValidationError) as raised:
        _plan(stage, **block)
    assert message in str(raised.value)


def test_an_eval_stage_takes_no_trl_block():
    data = builders.plan_dict()
    data["stages"].append({"id": "check", "kind": "eval", "trl": {"report_to": "tensorboard"}})
    with pytest.raises(ValidationError, match="an eval stage trains nothing"):
        plan_from_dict(data, "test plan")


@pytest.mark.parametrize(
    "stage, block, message",
    [
        (
            0,
            {"report_too": "tensorboard"},
            "GRPOConfig has no such setting; did you mean 'report_to'?",
        ),
        (
            1,
            {"packing_strategy": "bfd", "dataset_txt_field": "x"},
            "did you mean 'dataset_text_field'?",
        ),
        (
            2,
            {"lmbda": 0.5, "seq_kd": True, "teacher_temp": 2},
            "DistillationConfig has no such setting",
        ),
        (0, {"optim": "adamw_of_my_own"}, "GRPOConfig refused it:"),
        (1, {"report_to": "wandb"}, "report_to 'wandb' needs its package installed"),
    ],
)
def test_names_and_values_trl_does_not_know_are_refused_before_any_work(stage, block, message):
    pytest.importorskip("trl")
    problems = "\n".join(trl_problems(_plan(stage, **block)))
    if "wandb" in message:
        pytest.importorskip("transformers")
        import importlib.util

        if importlib.util.find_spec("wandb") is not None:
            pytest.skip("wandb is installed here")
    assert f"stages[{stage}].trl" in problems and message in problems


def test_a_refused_trl_block_stops_the_run_before_the_run_directory_exists(tiny_zoo, tmp_path):
    plan = _plan(0, report_too="tensorboard")
    run = tmp_path / "run"
    with pytest.raises(Exception, match="did you mean 'report_to'"):
        Executor(plan, run, RunOptions(verifier_workers=1, toy_zoo=tiny_zoo.root)).run()
    assert not run.exists()


def test_what_s2d_sets_in_each_trl_config_is_the_plans_or_a_default_a_block_may_change(tiny_run):
    """Every setting s2d's configs differ from TRL's defaults in is OWNED or one of S2D_DEFAULTS."""
    status, run_dir = tiny_run
    assert status == "ok"
    plan = load_plan(run_dir / "plan.yaml")
    for stage in plan.stages:
        cls = config_class(stage)
        if cls is None:
            continue
        saved = json.loads(RunDir(run_dir).trl_config(stage.id).read_text())
        defaults = cls(output_dir=str(run_dir), use_cpu=True).to_dict()
        changed = {k for k, v in saved.items() if k in defaults and v != defaults[k]}
        changed -= {"output_dir", "logging_dir"}  # paths
        assert changed <= set(OWNED) | S2D_DEFAULTS, (stage.id, changed - set(OWNED) - S2D_DEFAULTS)
        assert saved["max_steps"] == stage.budget.steps


def test_report_to_tensorboard_leaves_the_stages_metrics_in_event_files(tiny_zoo, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = builders.plan_dict()
    data["stages"] = data["stages"][:1]  # the teacher's GRPO
    data["stages"][0]["trl"] = {"report_to": "tensorboard", "log_completions": True}
    plan = plan_from_dict(data, "test plan")
    run = RunDir(tmp_path / "run")
    assert (
        Executor(plan, run.root, RunOptions(verifier_workers=1, toy_zoo=tiny_zoo.root)).run()
        == "ok"
    )

    files = list(run.stage_dir("teacher_rl").rglob("events.out.tfevents.*"))
    assert files, sorted(str(p) for p in run.root.rglob("*"))
    tags: set[str] = set()
    steps: set[int] = set()
    for f in files:
        acc = EventAccumulator(str(f))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            tags.add(tag)
            steps |= {e.step for e in acc.Scalars(tag)}
    assert {"train/loss", "train/reward"} <= tags, tags
    assert steps >= {1, 2}
    resolved = json.loads(run.trl_config("teacher_rl").read_text())
    assert resolved["report_to"] == ["tensorboard"] and resolved["log_completions"] is True
