"""Greedy and sampled accuracy of a toy model on held-out problems, by exact boxed-answer match.

A deliberately small grader: the last ``\\boxed{...}`` of a completion, compared as an integer
with the record's answer. It is enough for the toy world's integer answers and keeps the zoo
build independent of the product's real verifier. Generation goes through ``model.generate``
with the tokenizer's left padding and chat template, the same path a real checkpoint takes.
Sampling is plain temperature 1 (top_k 0, top_p 1), as RL rollouts use it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` in `text`, stripped; None when there is none."""
    found = _BOXED.findall(text)
    return found[-1].strip() if found else None


def is_correct(completion: str, answer: str) -> bool:
    """True when the last boxed value equals `answer` as an integer."""
    boxed = extract_boxed(completion)
    if boxed is None:
        return False
    try:
        return int(boxed) == int(answer)
    except ValueError:
        return False


def generate_completions(
    model: Any,
    tokenizer: Any,
    problems: Sequence[str],
    *,
    samples: int = 1,
    do_sample: bool = False,
    max_new_tokens: int = 48,
    batch_size: int = 256,
) -> list[list[str]]:
    """`samples` completions per problem (decoded, special tokens dropped), in problem order."""
    import torch

    out: list[list[str]] = []
    model.eval()
    for start in range(0, len(problems), batch_size):
        chunk = problems[start : start + batch_size]
        texts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in chunk
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            ids_BS_T = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                temperature=1.0 if do_sample else None,
                top_k=0 if do_sample else None,
                top_p=1.0 if do_sample else None,
                num_return_sequences=samples,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        completions = tokenizer.batch_decode(
            ids_BS_T[:, enc["input_ids"].shape[1] :], skip_special_tokens=True
        )
        for i in range(len(chunk)):
            out.append(completions[i * samples : (i + 1) * samples])
    return out


def accuracy(completions: Sequence[Sequence[str]], answers: Sequence[str]) -> float:
    """Mean over problems of the fraction of correct completions (avg@k), 0..1."""
    if not answers:
        return 0.0
    per_problem = [
        sum(is_correct(c, a) for c in cs) / len(cs)
        for cs, a in zip(completions, answers, strict=True)
    ]
    return sum(per_problem) / len(per_problem)


def greedy_and_sampled_accuracy(
    model: Any, tokenizer: Any, records: Sequence[dict[str, Any]], samples: int, seed: int
) -> tuple[float, float]:
    """(greedy accuracy, sampled accuracy at temperature 1 over `samples` per problem)."""
    import torch

    problems = [r["problem"] for r in records]
    answers = [r["answer"] for r in records]
    greedy = accuracy(generate_completions(model, tokenizer, problems), answers)
    torch.manual_seed(seed)
    sampled = accuracy(
        generate_completions(model, tokenizer, problems, samples=samples, do_sample=True), answers
    )
    return greedy, sampled
