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
