"""Evaluation: avg@k sampled accuracy (and greedy accuracy) with the verifier.

avg@k is the mean over problems of the fraction of k samples the verifier
accepts, at the plan's temperature and top-p. Greedy accuracy is reported
beside it: with few labels GRPO can overfit so that greedy accuracy falls while
sampled accuracy still rises, and the headline metric is the sampled one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from planner.contracts import EvalOptions
from planner.contracts.data import PromptTemplate

SAMPLES_KEPT = 8


@dataclass
class _Progress:
    """Problems of one eval set sampled so far, reported after each batch."""

    name: str
    total: int
    report: Callable[[str, int, int], None] | None
    done: int = 0

    def add(self, batch: int) -> None:
        self.done = min(self.done + batch, self.total)
        if self.report is not None:
            self.report(self.name, self.done, self.total)


@dataclass
class EvalResult:
    benchmark: str
    accuracy: float  # avg@k, 0..1
    greedy_accuracy: float | None
    n: int
    k: int
    tokens_generated: int
    verdicts: dict[str, int]
    # The first sample of the first SAMPLES_KEPT problems, with its verdict (s2d watch shows them).
    samples: list[dict[str, Any]] = field(default_factory=list)

    def event_fields(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "accuracy": round(self.accuracy, 6),
            "greedy_accuracy": None
            if self.greedy_accuracy is None
            else round(self.greedy_accuracy, 6),
            "n": self.n,
            "k": self.k,
            "sampled": True,
            "verdicts": self.verdicts,
        }


def evaluate_model(
    model_path: Path,
    eval_sets: dict[str, list[Any]],
    options: EvalOptions,
    verifier: Any,
    *,
    device: str = "cpu",
    seed: int = 0,
    model: Any = None,
    dtype: Any = None,
    template: PromptTemplate | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[EvalResult]:
    """Each eval set's result; ``on_progress(set, problems done, problems)`` after each batch."""
    from trainer.models import load_model, load_tokenizer
    from trainer.rollouts import sample

    tokenizer = load_tokenizer(model_path)
    model = model if model is not None else load_model(model_path, device, dtype, trainable=False)
    results = []
    names = options.sets or list(eval_sets)
    for name in names:
        problems = eval_sets[name]
        if options.max_problems:
            problems = problems[: options.max_problems]
        texts = [p.problem for p in problems]
        progress = _Progress(name, len(texts), on_progress)

        torch.manual_seed(seed)
        groups = sample(
            model,
            tokenizer,
            texts,
            n=options.k,
            temperature=options.temperature,
            top_p=options.top_p,
            max_new_tokens=options.max_new_tokens,
            template=template,
            on_batch=progress.add,
        )
        golds = [p.answer for p in problems for _ in range(options.k)]
        verdicts = verifier.verify_batch(golds, [c.text for g in groups for c in g])
        correct = [v == "correct" for v in verdicts]
        tokens = sum(c.n_tokens for g in groups for c in g)
        greedy = None
        if options.greedy:
            greedy_groups = sample(
                model,
                tokenizer,
                texts,
                greedy=True,
                max_new_tokens=options.max_new_tokens,
                template=template,
            )
            greedy_verdicts = verifier.verify_batch(
                [p.answer for p in problems], [g[0].text for g in greedy_groups]
            )
            greedy = sum(v == "correct" for v in greedy_verdicts) / max(1, len(problems))
            tokens += sum(g[0].n_tokens for g in greedy_groups)
        counts = {str(v): 0 for v in ("correct", "wrong", "unparseable")}
        for v in verdicts:
            counts[str(v)] += 1
        results.append(
            EvalResult(
                benchmark=name,
                accuracy=sum(correct) / max(1, len(correct)),
                greedy_accuracy=greedy,
                n=len(problems),
                k=options.k,
                tokens_generated=tokens,
                verdicts=counts,
                samples=[
                    {
                        "id": p.id,
                        "problem": p.problem,
                        "gold": p.answer,
                        "completion": g[0].text,
                        "tokens": g[0].n_tokens,
                        "stopped": g[0].stopped,
                        "verdict": str(verdicts[i * options.k]),
                    }
                    for i, (p, g) in enumerate(zip(problems[:SAMPLES_KEPT], groups, strict=False))
                ],
            )
        )
    return results
