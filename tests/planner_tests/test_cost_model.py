"""Cost model arithmetic on hand-computed cases."""

from __future__ import annotations

import pytest

from planner.scenario.hardware import resolve_hardware
from planner.simulator import cost as C


def test_opd_flops_for_one_million_tokens_match_2n_2nt_6n():
    hw = resolve_hardware("h100")
    shape = C.StageShape(
        prompts_per_step=1000,
        samples_per_prompt=1,
        max_new_tokens=1000,
        response_tokens=1000,
        prompt_tokens=0,
    )
    step = C.opd_step(1.7e9, 8e9, shape, hw)
    # 2 x 1.7e9 (generate) + 2 x 8e9 (teacher scores) + 6 x 1.7e9 (train), per token, 1e6 tokens
    assert step.flops == pytest.approx(2.96e16)
    assert step.tokens_generated == 1e6
    assert step.teacher_tokens_scored == 1e6
    assert step.tokens_trained == 1e6


def test_decode_is_overhead_plus_weight_streaming():
    hw = resolve_hardware("h100")
    # 68 ms + 1.72e9 params x 2 bytes / (3.35e12 B/s x 0.33) = 68 ms + 3.11 ms
    assert C.decode_step_seconds(1.72e9, hw) == pytest.approx(0.068 + 3.44e9 / (3.35e12 * 0.33))
    # batch 128, 256 new tokens: about 1,800 tokens/s as measured on the H100
    shape = C.StageShape(128, 1, 256, 256, 0)
    gen = C.generation(1.72e9, shape, hw)
    assert 1600 < gen.tokens_generated / gen.device_seconds < 2000


def test_budget_units_and_wall_time_across_devices():
    hw = resolve_hardware("h100", count=8)
    cost = C.StepCost(device_seconds=3600 * 0.9)  # one device-hour after 90% scaling efficiency
    assert C.to_budget_units(cost, hw) == pytest.approx(1.0)
    assert C.wall_seconds(cost, hw) == pytest.approx(3600 / 8)
    cpu = resolve_hardware("cpu")
    assert C.to_budget_units(C.StepCost(device_seconds=5.0), cpu) == pytest.approx(5.0)


def test_training_uses_6n_per_token_at_the_profile_mfu():
    hw = resolve_hardware("h100")
    t = C.training(1e9, 1000, hw)
    assert t.flops == 6e12
    assert t.device_seconds == pytest.approx(6e12 / (9.89e14 * 0.21))


# ---------------------------------------------------------------------------
# memory floors (planner/simulator/memory.py)

PAPER_GRPO = C.StageShape(512, 8, 8192, 2048, 200)  # sequences of 200 + 8,192 tokens


def test_grpo_memory_floor_of_the_paper_student_by_hand():
    from planner.scenario.models import shipped_models
    from planner.simulator import memory as M

    student = shipped_models()["qwen3-1.7b"]
    hw = resolve_hardware("h100", count=8)
    m = M.grpo_memory(student, PAPER_GRPO, hw)
    t = 8392
    state = 16 * 1.72e9  # fp32 weights, gradients and two AdamW moments
    acts = t * 2048 * (2 * 28 + 34)  # checkpointed bf16 layer inputs + one layer's working set
    logits = 4 * t * 151936
    kv = 2 * 2 * t * 28 * 8 * 128  # K and V, bf16, 28 layers x 8 heads x 128 dims
    assert m.whole == pytest.approx(state + acts + logits + kv)
    assert m.sharded == pytest.approx(state / 8 + acts + logits + kv)
    assert m.whole / M.GIB == pytest.approx(32.72, abs=0.01)
    assert m.fits and m.sharding == "none" and m.needed == m.whole
    # a KL penalty keeps a bf16 reference copy beside it
    assert M.grpo_memory(student, PAPER_GRPO, hw, beta=0.04).whole == pytest.approx(
        m.whole + 2 * 1.72e9
    )


def test_teacher_rl_of_the_8b_fits_only_sharded_and_a_70b_not_at_all():
    from dataclasses import replace

    from planner.scenario.models import shipped_models
    from planner.simulator import memory as M

    teacher = shipped_models()["qwen3-8b"]
    hw = resolve_hardware("h100", count=8)
    m = M.grpo_memory(teacher, PAPER_GRPO, hw)
    assert m.whole > hw.memory_bytes > m.sharded  # 131 GB of training state, 16 GB per GPU
    assert m.fits and m.sharding == "full" and m.needed == m.sharded
    big = replace(teacher, params=7.07e10, hidden_size=8192, num_layers=80)
    huge = M.grpo_memory(big, PAPER_GRPO, hw)
    assert huge.sharded > 16 * 7.07e10 / 8 > hw.memory_bytes and not huge.fits
    assert "GiB per device fully sharded over 8 devices, 79.6 GiB available" in huge.describe()


def test_warmup_and_opd_hold_the_frozen_teacher_and_vllm_its_share():
    from planner.scenario.models import shipped_models
    from planner.simulator import memory as M

    models = shipped_models()
    student, teacher = models["qwen3-1.7b"], models["qwen3-8b"]
    shape = C.StageShape(256, 1, 8192, 2048, 200)
    hw = resolve_hardware("h100", count=8)
    grpo = M.grpo_memory(student, shape, hw)
    opd = M.opd_memory(student, teacher, shape, hw)
    assert opd.whole == pytest.approx(grpo.whole + 2 * 8.19e9)  # the teacher's bf16 weights
    # the frozen teacher is loaded whole on every device: sharding divides the student's state only
    assert opd.sharded == pytest.approx(grpo.sharded + 2 * 8.19e9)
    warmup = M.warmup_memory(student, teacher, shape, hw)
    kv_t, kv_s = (2 * 2 * 8392 * n * 1024 for n in (36, 28))  # the teacher samples its rollouts
    # two phases: the teacher's rollouts, then the student trains beside the frozen teacher
    rollout = 2 * 8.19e9 + kv_t
    assert warmup.whole == pytest.approx(max(rollout, opd.whole - kv_s))
    assert warmup.sharded == pytest.approx(max(rollout, opd.sharded - kv_s))
    assert warmup.whole < opd.whole - kv_s + kv_t
    small = resolve_hardware("h100", count=1)
    assert hw.memory_bytes / M.GIB == pytest.approx(79.6, abs=0.05)
    assert resolve_hardware("h200", count=1).memory_bytes / M.GIB == pytest.approx(139.7, abs=0.05)
    assert M.warmup_memory(student, teacher, shape, small).whole == pytest.approx(warmup.whole)
    vllm = resolve_hardware("h100", count=8, engine="vllm")
    # colocated vLLM takes its 30% of the GPU (TRL's default), which holds the student's copy
    assert M.grpo_memory(student, shape, vllm).whole == pytest.approx(
        grpo.whole - kv_s + 0.3 * 8.55e10
    )


def test_cpu_processes_share_the_machine_memory():
    from planner.simulator import memory as M

    cpu = resolve_hardware("cpu", count=2)
    assert M.device_memory(cpu) == cpu.memory_bytes / 2
