"""Per-token losses and advantages of the dense bridge, as pure tensor functions.

Shapes are in the names: ``_B_T`` batch x tokens, ``_N_V`` selected tokens x
vocabulary. Masks are 1 for tokens that count.

Where this departs from TRL: TRL's distillers materialise full-vocabulary
logits for the whole batch; :func:`forward_kl_chunked` never holds more than
``chunk_tokens`` rows of logits of either model at once (each chunk is
recomputed in the backward pass), which is what keeps the warmup inside the
memory of an SFT step at Qwen3's 151,936-entry vocabulary. Every projection to
the vocabulary runs in float32 with autocast off, whatever the trainer's mixed
precision (TRL projects in the hidden states' dtype unless asked otherwise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def masked_mean(values_B_T: torch.Tensor, mask_B_T: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens where mask is set; 0 when no token is set."""
    mask = mask_B_T.to(values_B_T.dtype)
    return (values_B_T * mask).sum() / mask.sum().clamp(min=1.0)


def sampled_token_advantages(
    student_logprobs_B_T: torch.Tensor,
    teacher_logprobs_B_T: torch.Tensor,
    mask_B_T: torch.Tensor,
    sequence_advantages_B: torch.Tensor | None = None,
    reward_weight: float = 0.0,
) -> torch.Tensor:
    """On-policy distillation as RL: per-token advantage log p_T - log p_S on sampled tokens.

    Its expectation under the student is minus the reverse KL(student || teacher),
    so a policy-gradient step on it is a sampled reverse-KL step. A sequence-level
    task advantage (e.g. from the verifier) can be mixed in with ``reward_weight``.
    """
    adv_B_T = (teacher_logprobs_B_T - student_logprobs_B_T).detach()
    if sequence_advantages_B is not None and reward_weight:
        adv_B_T = adv_B_T + reward_weight * sequence_advantages_B.detach().unsqueeze(1)
    return adv_B_T * mask_B_T.to(adv_B_T.dtype)


def sampled_reverse_kl(
    student_logprobs_B_T: torch.Tensor, teacher_logprobs_B_T: torch.Tensor, mask_B_T: torch.Tensor
) -> torch.Tensor:
    """The k1 estimate of reverse KL(student || teacher) from the student's own samples."""
    return masked_mean(student_logprobs_B_T - teacher_logprobs_B_T, mask_B_T)


def kl_from_logits(p_logits_N_V: torch.Tensor, q_logits_N_V: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row, from logits, in float32."""
    p_logp = F.log_softmax(p_logits_N_V.float(), dim=-1)
    q_logp = F.log_softmax(q_logits_N_V.float(), dim=-1)
    return (p_logp.exp() * (p_logp - q_logp)).sum(-1)


def vocab_logits_fp32(hidden_C_H: torch.Tensor, head: torch.nn.Module) -> torch.Tensor:
    """Project hidden states to the vocabulary in float32 with autocast off.

    Under bf16 autocast a head's logits come out bf16, which moves a token-level
    KL at a 151,936-entry vocabulary by tens of percent. A float32 head (the
    student's master weights) is called as a module, so a sharding wrapper's
    hooks still see the call; a lower-precision head (a frozen teacher at its
    checkpoint dtype) is cast to float32 for the product.
    """
    with torch.autocast(device_type=hidden_C_H.device.type, enabled=False):
        hidden_C_H = hidden_C_H.float()
        weight = head.weight
        assert isinstance(weight, torch.Tensor)
        if weight.dtype == torch.float32:
            return head(hidden_C_H)
        bias = head.bias
        assert bias is None or isinstance(bias, torch.Tensor)
        return F.linear(hidden_C_H, weight.float(), None if bias is None else bias.float())


def _chunk_forward_kl(
    student_hidden_C_H: torch.Tensor,
    teacher_hidden_C_H: torch.Tensor,
    student_head: torch.nn.Module,
    teacher_head: torch.nn.Module,
    temperature: float,
) -> torch.Tensor:
    with torch.no_grad():
        teacher_logits_C_V = vocab_logits_fp32(teacher_hidden_C_H, teacher_head)
    student_logits_C_V = vocab_logits_fp32(student_hidden_C_H, student_head)
    return kl_from_logits(teacher_logits_C_V / temperature, student_logits_C_V / temperature).sum()


def forward_kl_chunked(
    student_hidden_B_T_H: torch.Tensor,
    teacher_hidden_B_T_H: torch.Tensor,
    mask_B_T: torch.Tensor,
    student_head: torch.nn.Module,
    teacher_head: torch.nn.Module,
    chunk_tokens: int = 1024,
    temperature: float = 1.0,
    num_items: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Token-level KL(teacher || student) from final hidden states, ``chunk_tokens`` rows at a time.

    Only masked tokens are projected to the vocabulary, in float32 (see
    :func:`vocab_logits_fp32`). Each chunk runs under activation checkpointing,
    so the backward pass recomputes one chunk's logits at a time instead of
    keeping all of them. Returns the sum over masked tokens divided by
    ``num_items`` when given (the trained-token count of a whole accumulated
    batch, as transformers passes it), else the mean over this batch's masked
    tokens.
    """
    if chunk_tokens <= 0:
        raise ValueError("chunk_tokens must be positive")
    keep = mask_B_T.bool()
    student_N_H = student_hidden_B_T_H[keep]
    teacher_N_H = teacher_hidden_B_T_H[keep].detach()
    n_tokens = student_N_H.shape[0]
    if n_tokens == 0:
        return student_hidden_B_T_H.sum() * 0.0
    total = student_N_H.new_zeros((), dtype=torch.float32)
    for start in range(0, n_tokens, chunk_tokens):
        s_chunk, t_chunk = (
            student_N_H[start : start + chunk_tokens],
            teacher_N_H[start : start + chunk_tokens],
        )
        if torch.is_grad_enabled() and s_chunk.requires_grad:
            total = total + checkpoint(
                _chunk_forward_kl,
                s_chunk,
                t_chunk,
                student_head,
                teacher_head,
                temperature,
                use_reentrant=False,
            )
        else:
            total = total + _chunk_forward_kl(
                s_chunk, t_chunk, student_head, teacher_head, temperature
            )
    return total / (n_tokens if num_items is None else num_items)


def token_logprobs_chunked(
    hidden_B_T_H: torch.Tensor,
    ids_B_T: torch.Tensor,
    mask_B_T: torch.Tensor,
    head: torch.nn.Module,
    chunk_tokens: int = 1024,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log p(ids) from final hidden states, ``chunk_tokens`` tokens at a time; 0 where mask is 0.

    hidden[:, t] must already predict ids[:, t]. Only masked tokens are
    projected, in float32 (see :func:`vocab_logits_fp32`), and each chunk's
    logits are reduced (gather minus logsumexp) before the next is built, so
    at most ``chunk_tokens`` x vocabulary logits exist at once. For scoring:
    no chunk is kept for a backward pass.
    """
    if chunk_tokens <= 0:
        raise ValueError("chunk_tokens must be positive")
    keep = mask_B_T.bool()
    hidden_N_H, ids_N = hidden_B_T_H[keep], ids_B_T[keep]
    logprobs_N = torch.empty(ids_N.shape, dtype=torch.float32, device=hidden_B_T_H.device)
    for start in range(0, ids_N.shape[0], chunk_tokens):
        sl = slice(start, start + chunk_tokens)
        logits_C_V = vocab_logits_fp32(hidden_N_H[sl], head)
        if temperature != 1.0:
            logits_C_V.div_(temperature)  # in place: one chunk of logits, not two
        picked_C = logits_C_V.gather(-1, ids_N[sl].unsqueeze(-1)).squeeze(-1)
        logprobs_N[sl] = picked_C - torch.logsumexp(logits_C_V, dim=-1)
    logprobs_B_T = torch.zeros(ids_B_T.shape, dtype=torch.float32, device=hidden_B_T_H.device)
    logprobs_B_T[keep] = logprobs_N
    return logprobs_B_T
