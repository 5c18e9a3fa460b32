"""Evaluation: avg@k sampled accuracy (and greedy accuracy) with the verifier.

avg@k is the mean over problems of the fraction of k samples the verifier
accepts, at the plan's temperature and top-p. Greedy accuracy is reported
beside it: with few labels GRPO can overfit so that greedy accuracy falls while
sampled accuracy still rises, and the headline metric is the sampled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from planner.contracts import EvalOptions
from planner.contracts.data import PromptTemplate
from planner.contracts.plan import Rollout


@dataclass
class EvalResult:
    benchmark: str
    accuracy: float  # avg@k, 0..1
    greedy_accuracy: float | None
    n: int
    k: int
    tokens_generated: int
    verdicts: dict[str, int]

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
    rollout: Rollout | None = None,
) -> list[EvalResult]:
    from trainer.models import load_model, load_tokenizer
    from trainer.rollouts import BatchBudget, sample

    budget = BatchBudget.of(rollout or Rollout())

    tokenizer = load_tokenizer(model_path)
    model = model if model is not None else load_model(model_path, device, dtype, trainable=False)
    results = []
    names = options.sets or list(eval_sets)
    for name in names:
        problems = eval_sets[name]
        if options.max_problems:
            problems = problems[: options.max_problems]
        texts = [p.problem for p in problems]
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
            budget=budget,
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
                budget=budget,
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
            )
        )
    return results
