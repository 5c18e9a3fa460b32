"""What a grpo stage hands TRL: its GRPOConfig field by field, its reward and its token count.

README promises: top_p = 1 and top-k off (truncated sampling biases the importance ratio), one
policy update per generation batch, and the loss type, clipping and KL penalty set explicitly
from the plan rather than left to TRL defaults that move between releases. The config is built
without a model; the reward runs the real verifier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.contracts.errors import UserError
from planner.contracts.plan import Plan
from tests import builders
from trainer.context import SpendMeter, StageContext, StageData
from trainer.stages.grpo import (
    VerifierReward,
    grpo_config,
    grpo_config_kwargs,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*gradient_checkpointing.* is deprecated:FutureWarning"
)
OPTIONS = {  # every value differs from both the plan's defaults and TRL's
    "loss_type": "dr_grpo",
    "epsilon": 0.15,
    "epsilon_high": 0.35,
    "beta": 0.04,
    "temperature": 0.9,
    "scale_rewards": "batch",
}


def context(plan: Plan, index: int, tmp_path: Path) -> StageContext:
    """What the executor hands the stage, minus what only training needs."""
    return StageContext(
        plan=plan,
        stage=plan.stages[index],
        index=index,
        run_dir=tmp_path / "run",
        model_path=tmp_path / "model",
        teacher_path=None,
        data=StageData(),
        verifier=None,
        events=None,  # type: ignore[arg-type]
        meter=SpendMeter(),
        engine=plan.rollout.engine,
    )


def rl_plan(**options) -> Plan:
    return builders.plan(
        seed=5,
        stages=[
            builders.teacher_rl(
                steps=7,
                prompts=3,
                samples=4,
                tokens=48,
                optim={"learning_rate": 2e-5},
                options=options or None,
            )
        ],
    )


def test_the_plan_sets_sampling_updates_loss_clipping_and_kl(tmp_path):
    ctx = context(rl_plan(**OPTIONS), 0, tmp_path)
    config = grpo_config(ctx)

    # rollouts sample from the whole distribution: no nucleus, no top-k (0 switches it off)
    assert config.top_p == 1.0 and config.top_k == 0
    assert config.temperature == 0.9
    # one generation batch per optimizer step, and one update on it
    assert config.steps_per_generation == 1 and config.num_iterations == 1
    assert config.per_device_train_batch_size == 3 * 4 == config.generation_batch_size
    assert config.num_generations == 4
    # loss, clipping and KL penalty from the plan
    assert config.loss_type == "dr_grpo"
    assert (config.epsilon, config.epsilon_high) == (0.15, 0.35)
    assert config.beta == 0.04
    assert config.scale_rewards == "batch"
    # the stage's budget and optimiser
    assert config.max_steps == 7 and config.max_completion_length == 48
    assert config.learning_rate == 2e-5
    assert config.seed == ctx.seed == config.data_seed
    assert not config.use_vllm and not config.mask_truncated_completions
    assert config.output_dir == str(tmp_path / "run" / "stages" / "teacher_rl" / "checkpoints")


def test_a_plan_without_options_gets_the_documented_defaults(tmp_path):
    config = grpo_config(context(rl_plan(), 0, tmp_path))
    assert config.loss_type == "dapo"
    assert (config.epsilon, config.epsilon_high, config.beta) == (0.2, 0.28, 0.0)
    assert config.top_p == 1.0 and config.top_k == 0 and config.temperature == 1.0


def test_the_vllm_engine_is_handed_to_trl(tmp_path):
    plan = rl_plan()
    plan.rollout.engine = "vllm"
    plan.rollout.vllm_mode = "server"
    plan.rollout.gpu_memory_utilization, plan.rollout.tensor_parallel_size = 0.55, 2
    kwargs = grpo_config_kwargs(context(plan, 0, tmp_path))
    assert kwargs["use_vllm"] is True and kwargs["vllm_mode"] == "server"
    assert kwargs["vllm_gpu_memory_utilization"] == 0.55
    assert kwargs["vllm_tensor_parallel_size"] == 2 and "vllm_max_model_length" not in kwargs
    plan.rollout.max_model_len = 4096
    config = grpo_config(context(plan, 0, tmp_path))
    assert (config.vllm_max_model_length, config.vllm_tensor_parallel_size) == (4096, 2)


def test_one_optimizer_step_is_the_plans_batch_over_processes_and_accumulation(
    tmp_path, monkeypatch
):
    plan = rl_plan()  # 3 prompts x 4 samples = 12 completions per step
    plan.stages[0].optim.gradient_accumulation_steps = 2
    ctx = context(plan, 0, tmp_path)
    import trainer.distributed

    monkeypatch.setattr(trainer.distributed, "world_size", lambda: 2)
    kwargs = grpo_config_kwargs(ctx)
    # 12 = 3 per micro-batch x 2 processes x 2 accumulation steps, generated once per step
    assert kwargs["per_device_train_batch_size"] == 3
    assert kwargs["steps_per_generation"] == 2 and kwargs["num_generations"] == 4
    monkeypatch.setattr(trainer.distributed, "world_size", lambda: 5)
    with pytest.raises(UserError, match=r"12 rows per step cannot be split over 5 process\(es\)"):
        grpo_config_kwargs(ctx)


def test_the_reward_is_one_exactly_for_a_verified_answer():
    from trainer.verifier import Verifier

    completions = [
        # conversational: the message's text counts
        [{"role": "assistant", "content": "so \\boxed{7}"}],
        "\\boxed{8}",
        [{"role": "assistant", "content": "7"}],  # no box: not an answer
        # the last box is the answer (the default rule, the paper's)
        "first \\boxed{1}, then \\boxed{5}",
    ]
    with Verifier(workers=1, timeout_s=5.0) as verifier:
        reward = VerifierReward(verifier)
        got = reward(prompts=[None] * 4, completions=completions, answer=["7", "7", "7", "5"])
    assert got == [1.0, 0.0, 0.0, 1.0]


def test_meters_count_every_token_a_pass_runs_over_as_the_cost_model_prices_it():
    import torch

    from planner.scenario import StageShape
    from planner.scenario.hardware import resolve_hardware
    from planner.simulator import cost
    from trainer.hf import count_batch

    # a GRPO micro-batch: 2 completions, left-padded prompts of 5 and 3 tokens, 4 and 2 sampled
    batch = {
        "prompt_mask": torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]),
        "completion_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]),
    }
    meter = SpendMeter()
    count_batch(meter, batch, generated=True, scorers=())
    assert (meter.tokens_generated, meter.tokens_trained, meter.examples) == (6, 14, 2)
    # sampled OPD: teacher and student score each sequence once more
    count_batch(meter, batch, generated=True, scorers=("teacher", "student"))
    assert (meter.teacher_tokens_scored, meter.student_tokens_scored) == (14, 14)
    # the warmup's SFT batch: one mask over prompt and completion, nothing sampled here
    sft = SpendMeter()
    count_batch(sft, {"attention_mask": torch.tensor([[1, 1, 1, 0]])}, False, ("teacher",))
    assert (sft.tokens_generated, sft.tokens_trained, sft.teacher_tokens_scored) == (0, 3, 3)

    # the cost model prices the same tokens: 2 sequences of 4 prompt + 3 completion tokens
    shape = StageShape(
        prompts_per_step=1,
        samples_per_prompt=2,
        max_new_tokens=3,
        response_tokens=3,
        prompt_tokens=4,
    )
    hw = resolve_hardware("h100")
    step = cost.opd_step(1e6, 2e6, shape, hw, sampled=True)
    assert (step.tokens_generated, step.tokens_trained) == (6, 14)
    assert step.teacher_tokens_scored == step.student_tokens_scored == 14
    assert cost.opd_step(1e6, 2e6, shape, hw).student_tokens_scored == 0
