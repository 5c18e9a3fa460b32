"""The stage kinds: one module each, one registry entry each, everything a kind means in one place.

A :class:`StageKind` holds what the rest of the product asks of a kind: its
options class (the plan's ``options`` mapping), its validation rules, its role
in the simulator, the spend it plans, the metrics the UI charts for it, and
the trainer function that runs it (named as ``module:function`` so that the
planner never imports torch). Adding a kind is one module beside these and
one line in :data:`KINDS`, plus its runner in trainer/stages/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner.contracts.kinds import evaluate, forward_kl, grpo, opd

if TYPE_CHECKING:
    from planner.contracts.plan import Plan, Stage
    from planner.contracts.runlog import Spend
    from planner.contracts.schema import FieldProblems

# The simulator's roles: GRPO on the teacher is stage 1, forward KL and OPD are the
# bridge (2a, 2b), GRPO on the student is stage 3; evals cost nothing and change nothing.
ROLES = ("teacher_rl", "warmup", "opd", "student_rl", "eval")


@dataclass(frozen=True)
class StageKind:
    name: str
    options: type
    # Kind-specific rules, beyond those every stage shares (see planner.contracts.plan).
    check: Callable[[Plan, Stage, str, FieldProblems], None]
    role: Callable[[Stage], str]
    # (plan, stage, labels, mean prompt tokens with template) -> Spend; None: nothing to plan (eval)
    planned_spend: Callable[[Plan, Stage, int, float], Spend] | None
    charts: Callable[[Stage], tuple[str, ...]]  # metric keys (planner.contracts.metrics)
    runner: str | None  # "module:function" taking a trainer StageContext; None: the executor's own
    trains: bool = True
    reads_teacher: bool = False  # needs the teacher's model (distils from it)


KINDS: dict[str, StageKind] = {
    k.name: k
    for k in (
        StageKind(
            "grpo",
            grpo.GRPOOptions,
            grpo.check,
            grpo.role,
            grpo.planned_spend,
            grpo.charts,
            "trainer.stages.grpo:run_grpo",
        ),
        StageKind(
            "forward_kl",
            forward_kl.ForwardKLOptions,
            forward_kl.check,
            forward_kl.role,
            forward_kl.planned_spend,
            forward_kl.charts,
            "trainer.stages.forward_kl:run_forward_kl",
            reads_teacher=True,
        ),
        StageKind(
            "opd",
            opd.OPDOptions,
            opd.check,
            opd.role,
            opd.planned_spend,
            opd.charts,
            "trainer.stages.opd:run_opd",
            reads_teacher=True,
        ),
        StageKind(
            "eval",
            evaluate.EvalOptions,
            evaluate.check,
            evaluate.role,
            None,
            evaluate.charts,
            None,
            trains=False,
        ),
    )
}
STAGE_KINDS: tuple[str, ...] = tuple(KINDS)


def kind_of(stage: Any) -> StageKind:
    """The registry entry of a stage (or of a kind's name)."""
    return KINDS[stage if isinstance(stage, str) else stage.kind]


__all__ = ["KINDS", "ROLES", "STAGE_KINDS", "StageKind", "kind_of"]
