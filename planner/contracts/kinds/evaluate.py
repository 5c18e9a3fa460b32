"""``eval``: avg@k sampled and greedy accuracy on the plan's eval sets; trains nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from planner.contracts.schema import COUNT_MAX, SAMPLES_MAX, TOKENS_MAX, rule

if TYPE_CHECKING:
    from planner.contracts.plan import Plan, Stage
    from planner.contracts.schema import FieldProblems


@dataclass
class EvalOptions:
    sets: list[str] = field(default_factory=list)  # empty: every set in datasets.eval
    k: int = field(
        default=4, metadata=rule(gt=0, hint="samples per problem, 1 or more", cap=SAMPLES_MAX)
    )
    temperature: float = field(default=1.0, metadata=rule(gt=0))
    top_p: float = field(default=1.0, metadata=rule(gt=0, le=1))
    max_new_tokens: int = field(default=256, metadata=rule(gt=0, cap=TOKENS_MAX))
    greedy: bool = True  # also report greedy (k=1, temperature 0) accuracy
    max_problems: int = field(default=0, metadata=rule(ge=0, cap=COUNT_MAX))  # 0: the whole set


def check(plan: Plan, s: Stage, at: str, p: FieldProblems) -> None:
    eval_names = [e.name for e in plan.datasets.eval]
    if s.data is not None:
        p.add(
            f"{at}.data",
            "eval stages read the eval sets, not training data",
            "remove data (choose sets in options.sets)",
        )
    for name in s.options_as(EvalOptions).sets:
        if name not in eval_names:
            p.add(
                f"{at}.options.sets",
                f"unknown eval set {name!r}",
                f"define it under datasets.eval (known: {', '.join(eval_names) or 'none'})",
            )


def role(s: Stage) -> str:
    return "eval"


def charts(s: Stage) -> tuple[str, ...]:
    return ()
