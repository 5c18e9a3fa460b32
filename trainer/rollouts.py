"""Batched sampling with transformers ``generate``: teacher rollouts and evaluation.

Prompts are chat-formatted with the model's own template (the path a real
Qwen3 checkpoint takes). Sampling uses top_k=0 so that only ``top_p`` truncates;
RL stages generate inside TRL instead, which is configured the same way.
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


def prompt_tokens(
    tokenizer: Any, problems: Sequence[str], template: PromptTemplate | None = None
) -> float:
    """Mean tokens of the problems as chat prompts (template and generation prompt included)."""
    texts = chat_prompts(tokenizer, problems, template)
    if not texts:
        return 0.0
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return sum(len(i) for i in ids) / len(ids)


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
    batch_prompts: int = 64,
    on_batch: Callable[[int], None] | None = None,
    template: PromptTemplate | None = None,
) -> list[list[Completion]]:
    """``n`` completions per problem (one when greedy), in problem order."""
    model.eval()
    device = next(model.parameters()).device
    texts = chat_prompts(tokenizer, problems, template)
    out: list[list[Completion]] = []
    eos_ids = {i for i in [tokenizer.eos_token_id, tokenizer.pad_token_id] if i is not None}
    n_return = 1 if greedy else n
    for start in range(0, len(texts), batch_prompts):
        chunk = texts[start : start + batch_prompts]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(
            device
        )
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if greedy:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            gen_kwargs.update(
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                top_k=0,
                num_return_sequences=n_return,
            )
        ids_B_T = model.generate(**enc, **gen_kwargs)[:, enc["input_ids"].shape[1] :]
        prompt_rows = [
            [t for t, m in zip(ids, mask, strict=True) if m]
            for ids, mask in zip(
                enc["input_ids"].tolist(), enc["attention_mask"].tolist(), strict=True
            )
        ]
        for row in range(0, ids_B_T.shape[0], n_return):
            group = []
            for ids in ids_B_T[row : row + n_return].tolist():
                end = next((i + 1 for i, tok in enumerate(ids) if tok in eos_ids), None)
                kept = ids[:end] if end is not None else ids
                group.append(
                    Completion(
                        text=tokenizer.decode(kept, skip_special_tokens=True),
                        n_tokens=len(kept),
                        token_ids=kept,
                        stopped=end is not None,
                        prompt_ids=prompt_rows[row // n_return],
                    )
                )
            out.append(group)
        if on_batch is not None:
            on_batch(len(chunk))
    return out
