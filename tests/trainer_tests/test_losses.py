"""Loss and advantage functions against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.losses import (
    forward_kl_chunked,
    kl_from_logits,
    masked_mean,
    sampled_reverse_kl,
    sampled_token_advantages,
    token_logprobs_chunked,
)

LN = math.log


def forward_kl_full(student_logits, teacher_logits, mask):
    """The reference the chunked loss must match: KL(teacher || student) on whole logits."""
    return masked_mean(kl_from_logits(teacher_logits, student_logits), mask)


def test_masked_mean_counts_only_masked_tokens():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 1]])
    assert masked_mean(values, mask).item() == pytest.approx(3.0)
    assert masked_mean(values, torch.zeros_like(mask)).item() == 0.0


def test_kl_by_hand():
    p = torch.tensor([[LN(0.5), LN(0.5)], [LN(0.25), LN(0.75)]])
    q = torch.tensor([[LN(0.25), LN(0.75)], [LN(0.25), LN(0.75)]])
    expected = 0.5 * LN(2) + 0.5 * LN(0.5 / 0.75)  # 0.143841
    assert kl_from_logits(p, q).tolist() == pytest.approx([expected, 0.0], abs=1e-6)
    reverse = 0.25 * LN(0.25 / 0.5) + 0.75 * LN(0.75 / 0.5)  # KL is not symmetric
    assert kl_from_logits(q[:1], p[:1]).item() == pytest.approx(reverse, abs=1e-6)
    # logits, not probabilities: a constant shift changes nothing
    assert kl_from_logits(p + 3.0, q - 1.0).tolist() == pytest.approx([expected, 0.0], abs=1e-6)


def test_sampled_token_advantage_and_k1_estimate():
    s = torch.tensor([[-1.0, -2.0, -9.0]])
    t = torch.tensor([[-0.5, -3.0, 0.0]])
    mask = torch.tensor([[1, 1, 0]])
    assert sampled_token_advantages(s, t, mask).tolist() == [[0.5, -1.0, 0.0]]
    assert sampled_reverse_kl(s, t, mask).item() == pytest.approx(((-1 + 0.5) + (-2 + 3)) / 2)
    mixed = sampled_token_advantages(
        s, t, mask, sequence_advantages_B=torch.tensor([2.0]), reward_weight=0.5
    )
    assert mixed.tolist() == [[1.5, 0.0, 0.0]]


@pytest.mark.parametrize("chunk", [1, 2])
def test_token_logprobs_pick_the_sampled_token(chunk):
    head = torch.nn.Linear(2, 2, bias=False)
    torch.nn.init.eye_(head.weight)  # hidden states are the logits
    hidden = torch.tensor([[[LN(0.25), LN(0.75)], [LN(0.5), LN(0.5)], [9.0, 9.0]]])
    got = token_logprobs_chunked(
        hidden, torch.tensor([[1, 0, 1]]), torch.tensor([[1, 1, 0]]), head, chunk
    )
    assert got[0].tolist() == pytest.approx([LN(0.75), LN(0.5), 0.0])
    # temperature 2 halves the logits
    got = token_logprobs_chunked(
        hidden, torch.tensor([[1, 0, 1]]), torch.ones(1, 3), head, chunk, 2.0
    )
    assert got[0].tolist() == pytest.approx(
        [LN(0.75**0.5 / (0.25**0.5 + 0.75**0.5)), LN(0.5), LN(0.5)]
    )


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_chunked_forward_kl_matches_full_in_value_and_gradient(chunk):
    torch.manual_seed(0)
    B, T, H, V = 2, 5, 8, 11
    s_head, t_head = torch.nn.Linear(H, V, bias=False), torch.nn.Linear(H, V, bias=False)
    s_hidden = torch.randn(B, T, H, requires_grad=True)
    t_hidden = torch.randn(B, T, H)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]])

    with torch.no_grad():
        t_logits = t_head(t_hidden)
    full = forward_kl_full(s_head(s_hidden), t_logits, mask)
    full.backward()
    grad_full, head_grad_full = s_hidden.grad.clone(), s_head.weight.grad.clone()
    s_hidden.grad = None
    s_head.weight.grad = None

    chunked = forward_kl_chunked(s_hidden, t_hidden, mask, s_head, t_head, chunk_tokens=chunk)
    chunked.backward()
    assert chunked.item() == pytest.approx(full.item(), rel=1e-5)
    assert torch.allclose(s_hidden.grad, grad_full, atol=1e-6)
    assert torch.allclose(s_head.weight.grad, head_grad_full, atol=1e-6)
    assert t_head.weight.grad is None  # the teacher is never trained


def test_chunked_forward_kl_with_empty_mask_is_zero():
    h = torch.randn(1, 3, 4, requires_grad=True)
    head = torch.nn.Linear(4, 5)
    assert forward_kl_chunked(h, h.detach(), torch.zeros(1, 3), head, head).item() == 0.0


def test_chunked_forward_kl_projects_in_float32_under_bf16_autocast():
    # bf16 logits keep about three significant digits: here the KL moves by 4e-4
    # of itself from bf16 logits, by 3e-7 from float32 ones
    torch.manual_seed(0)
    B, T, H, V = 2, 8, 32, 4096
    s_head, t_head = torch.nn.Linear(H, V, bias=False), torch.nn.Linear(H, V, bias=False)
    with torch.no_grad():
        t_head.weight.copy_(s_head.weight + 0.05 * torch.randn(V, H))
    s_hidden, t_hidden = torch.randn(B, T, H), torch.randn(B, T, H)
    t_hidden = s_hidden + 0.5 * t_hidden
    mask = torch.ones(B, T)
    exact = forward_kl_full(s_head(s_hidden), t_head(t_hidden), mask).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = forward_kl_chunked(s_hidden, t_hidden, mask, s_head, t_head, chunk_tokens=5)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(exact, rel=1e-5)


def test_chunked_forward_kl_over_num_items_is_the_token_sum_over_that_count():
    # transformers hands the trained-token count of the whole accumulated batch
    torch.manual_seed(0)
    s_head, t_head = torch.nn.Linear(4, 6, bias=False), torch.nn.Linear(4, 6, bias=False)
    s_hidden, t_hidden = torch.randn(1, 5, 4), torch.randn(1, 5, 4)
    mask = torch.tensor([[1, 1, 0, 1, 0]])
    mean = forward_kl_chunked(s_hidden, t_hidden, mask, s_head, t_head, chunk_tokens=2)
    over_10 = forward_kl_chunked(
        s_hidden, t_hidden, mask, s_head, t_head, chunk_tokens=2, num_items=torch.tensor(10)
    )
    assert over_10.item() == pytest.approx(mean.item() * 3 / 10)
