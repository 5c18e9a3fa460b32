"""Batched sampling with transformers ``generate``: teacher rollouts and evaluation.

Prompts are chat-formatted with the model's own template (the path a real
Qwen3 checkpoint takes). Sampling uses top_k=0 so that only ``top_p`` truncates;
RL stages generate inside TRL instead, which is configured the same way.

Each ``generate`` call holds at most ``BatchBudget.max_sequences`` sequences and at most
``BatchBudget.max_tokens`` KV-cache slots: sequences x (the call's longest prompt +
``max_new_tokens``), which is what a left-padded batch keeps in its cache by the last step.
A fixed number of prompts per call would put 64 prompts x 16 samples x 8,192 tokens (about
a terabyte of KV cache at Qwen3-1.7B's shape) into one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from planner.contracts.data import PromptTemplate


@dataclass
class Completion:
    text: str  # decoded without special tokens: what the verifier reads
    n_tokens: int  # generated tokens, up to and including the end-of-turn token
    token_ids: list[int] = field(default_factory=list)  # the sampled ids, exactly (eos included)
    stopped: bool = True  # False: cut at max_new_tokens, no end-of-turn token was sampled
    prompt_ids: list[int] = field(default_factory=list)  # the prompt as the model saw it


@dataclass(frozen=True)
class BatchBudget:
    """What one generate call may hold (the plan's ``rollout.max_batch_sequences`` and
    ``rollout.max_batch_tokens``); the defaults are the plan's."""

    max_sequences: int = 256
    max_tokens: int = 262_144

    @classmethod
    def of(cls, rollout: Any) -> BatchBudget:
        """The budget of a plan's ``rollout:`` block."""
        return cls(rollout.max_batch_sequences, rollout.max_batch_tokens)


# One call: (problem index, samples of it) in problem order; a problem's samples may be
# split over consecutive calls.
Call = list[tuple[int, int]]


def plan_calls(
    prompt_lengths: Sequence[int], n: int, max_new_tokens: int, budget: BatchBudget
) -> list[Call]:
    """Pack ``n`` samples of each prompt, in order, into calls within ``budget``.

    A call's cost is its sequences x (its longest prompt + ``max_new_tokens``). A call is
    filled before the next starts, so the calls depend only on the prompts' lengths, ``n``
    and the budget. One sequence always fits: a budget below a single sequence generates
    one sequence per call rather than none.
    """
    calls: list[Call] = []
    current: Call = []
    held, longest = 0, 0

    def room(length: int) -> int:
        return max(1, min(budget.max_sequences, budget.max_tokens // (length + max_new_tokens)))

    for i, length in enumerate(prompt_lengths):
        left = n
        while left:
            free = room(max(longest, length)) - held
            if free <= 0:  # this prompt would make the call's padded length too long
                calls.append(current)
                current, held, longest = [], 0, 0
                continue
            take = min(left, free)
            current.append((i, take))
            held, longest, left = held + take, max(longest, length), left - take
            if left:  # the call is full
                calls.append(current)
                current, held, longest = [], 0, 0
    if current:
        calls.append(current)
    return calls


def chat_prompts(
    tokenizer: Any, problems: Sequence[str], template: PromptTemplate | None = None
) -> list[str]:
    """The problems as the model reads them: the plan's prompt template through the model's
    chat template, with the generation prompt (TRL's stages render theirs the same way)."""
    t = template or PromptTemplate()
    return [
        tokenizer.apply_chat_template(
            t.messages(p), add_generation_prompt=True, tokenize=False, **t.template_kwargs
        )
        for p in problems
    ]


def chat_prompt_ids(
    tokenizer: Any, problems: Sequence[str], template: PromptTemplate | None = None
) -> list[list[int]]:
    """The token ids of :func:`chat_prompts`: what every engine is given."""
    texts = chat_prompts(tokenizer, problems, template)
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def prompt_tokens(
    tokenizer: Any, problems: Sequence[str], template: PromptTemplate | None = None
) -> float:
    """Mean tokens of the problems as chat prompts (template and generation prompt included)."""
    ids = chat_prompt_ids(tokenizer, problems, template)
    return sum(len(i) for i in ids) / len(ids) if ids else 0.0


def stop_ids(tokenizer: Any) -> set[int]:
    """The tokens a completion ends at (its end-of-turn and padding tokens)."""
    return {i for i in [tokenizer.eos_token_id, tokenizer.pad_token_id] if i is not None}


def completion(
    tokenizer: Any, ids: Sequence[int], prompt_ids: list[int], eos: set[int]
) -> Completion:
    """A completion from the ids an engine sampled: kept up to and including the first
    end token, or whole when none was sampled (cut at max_new_tokens)."""
    end = next((i + 1 for i, tok in enumerate(ids) if tok in eos), None)
    kept = list(ids[:end] if end is not None else ids)
    return Completion(
        text=tokenizer.decode(kept, skip_special_tokens=True),
        n_tokens=len(kept),
        token_ids=kept,
        stopped=end is not None,
        prompt_ids=prompt_ids,
    )


def prompts_done(calls: list[Call], n: int) -> list[int]:
    """How many prompts each call finishes (their last sample is in it)."""
    done, seen = [], 0
    for call in calls:
        finished = 0
        for _, count in call:
            seen += count
            if seen == n:
                finished, seen = finished + 1, 0
        done.append(finished)
    return done


@torch.no_grad()
def sample(
    model: Any,
    tokenizer: Any,
    problems: Sequence[str],
    *,
    n: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    greedy: bool = False,
    budget: BatchBudget | None = None,
    on_batch: Callable[[int], None] | None = None,
    template: PromptTemplate | None = None,
) -> list[list[Completion]]:
    """``n`` completions per problem (one when greedy), in problem order.

    Calls follow :func:`plan_calls`; ``on_batch`` is told after each call how many problems
    it finished. Sampling draws from torch's global generator, so a seed set before the call
    gives the same completions for the same calls.
    """
    model.eval()
    device = next(model.parameters()).device
    prompts = chat_prompt_ids(tokenizer, problems, template)
    eos = stop_ids(tokenizer)
    n_return = 1 if greedy else n
    calls = plan_calls([len(p) for p in prompts], n_return, max_new_tokens, budget or BatchBudget())
    out: list[list[Completion]] = [[] for _ in prompts]
    gen_kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if greedy:
        gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        gen_kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    for call, finished in zip(calls, prompts_done(calls, n_return), strict=True):
        # Each prompt repeated once per sample, as num_return_sequences expands it.
        rows = [i for i, count in call for _ in range(count)]
        enc = tokenizer.pad({"input_ids": [prompts[i] for i in rows]}, return_tensors="pt").to(
            device
        )
        ids_B_T = model.generate(**enc, **gen_kwargs)[:, enc["input_ids"].shape[1] :]
        for i, ids in zip(rows, ids_B_T.tolist(), strict=True):
            out[i].append(completion(tokenizer, ids, prompts[i], eos))
        if on_batch is not None:
            on_batch(finished)
    return out
