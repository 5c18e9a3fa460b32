"""Plans for tests, built in one place instead of written out by hand in each test.

``plan_dict()`` is a runnable four-stage workflow on the "tiny" toy zoo (student ``toy:xs``,
teacher ``toy:s``, two steps per stage, 12-token completions, 16 + 16 labels of a pool of 40):
the cheapest plan every stage kind can execute. Keyword arguments override its top-level
fields; a mapping is merged into the default mapping (``labels={"prompts": 64}`` changes only
the prompt count), anything else replaces it (``teacher=None``: no teacher, ``stages=[...]``,
``evaluation=None``: the plan's default evaluation instead of the tiny one).

The stage helpers build one stage each with the tiny budget unless told otherwise;
``teacher_rl``, ``warmup``, ``opd`` and ``student_rl`` are the workflow's four stages with their
usual kind, model and data.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from planner.contracts.plan import Plan, plan_from_dict, save_plan

TINY_STUDENT = {"name": "toy-xs", "path": "toy:xs"}
TINY_TEACHER = {"name": "toy-s", "path": "toy:s"}
TOY_DATASETS = {
    "labeled": "toy:train",
    "prompts": "toy:prompts",
    "eval": [{"name": "toy", "path": "toy:eval"}],
}
TINY_LABELS = {"pool": 40, "stage1": 16, "stage3": 16, "prompts": 32, "seed": 0}
TINY_EVALUATION = {"k": 2, "max_new_tokens": 12, "max_problems": 8}


def stage(
    id: str,
    kind: str,
    data: str,
    *,
    model: str = "student",
    steps: int = 2,
    prompts: int = 2,
    samples: int | None = None,
    tokens: int = 12,
    optim: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One training stage; ``samples`` left out uses the plan's default (1)."""
    budget: dict[str, Any] = {"steps": steps, "prompts_per_step": prompts}
    if samples is not None:
        budget["samples_per_prompt"] = samples
    budget["max_new_tokens"] = tokens
    out: dict[str, Any] = {"id": id, "kind": kind, "model": model, "data": data, "budget": budget}
    if optim is not None:
        out["optim"] = dict(optim)
    if options is not None:
        out["options"] = dict(options)
    return out


def teacher_rl(**kw: Any) -> dict[str, Any]:
    """Stage 1: GRPO on the teacher with the stage-1 labels."""
    args = {"model": "teacher", "samples": 2, **kw}
    return stage(args.pop("id", "teacher_rl"), "grpo", args.pop("data", "labels.stage1"), **args)


def warmup(**kw: Any) -> dict[str, Any]:
    """Stage 2a: forward KL on teacher rollouts of unlabeled prompts."""
    args = {"prompts": 4, **kw}
    return stage(args.pop("id", "warmup"), "forward_kl", args.pop("data", "prompts"), **args)


def opd(**kw: Any) -> dict[str, Any]:
    """Stage 2b: on-policy distillation on unlabeled prompts."""
    return stage(kw.pop("id", "opd"), "opd", kw.pop("data", "prompts"), **kw)


def student_rl(**kw: Any) -> dict[str, Any]:
    """Stage 3: GRPO on the student with the held-out stage-3 labels."""
    args = {"samples": 2, **kw}
    return stage(args.pop("id", "student_rl"), "grpo", args.pop("data", "labels.stage3"), **args)


def workflow() -> list[dict[str, Any]]:
    """The four stages of the sparse-to-dense workflow, tiny budgets."""
    return [teacher_rl(), warmup(), opd(), student_rl()]


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def plan_dict(**overrides: Any) -> dict[str, Any]:
    """The tiny workflow plan as plain data, with ``overrides`` applied (see the module doc)."""
    base = {
        "name": "test-plan",
        "student": TINY_STUDENT,
        "teacher": TINY_TEACHER,
        "datasets": TOY_DATASETS,
        "labels": TINY_LABELS,
        "evaluation": TINY_EVALUATION,
        "stages": workflow(),
    }
    return _merge(base, overrides)


def plan(**overrides: Any) -> Plan:
    """``plan_dict(**overrides)``, validated into a Plan."""
    return plan_from_dict(plan_dict(**overrides), "test plan")


def write_plan(path: Path, **overrides: Any) -> Path:
    """Save ``plan(**overrides)`` as a plan YAML at ``path``; return the path."""
    return save_plan(plan(**overrides), path)


class RecordingModel:
    """A response model for the validation checks: keeps the records of every fit and
    predicts 50% (sd 10 points) everywhere."""

    name = "recording"

    def __init__(self) -> None:
        self.fits: list[list[dict[str, Any]]] = []

    def fit(self, records: Any) -> RecordingModel:
        self.fits.append(list(records))
        return self

    def predict(self, rec: dict[str, Any], stage: str) -> tuple[float, float]:
        return 0.5, 0.1
