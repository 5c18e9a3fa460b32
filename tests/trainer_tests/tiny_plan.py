"""The tiny plan: every stage kind, two steps each, on the "tiny" toy zoo.

Built with :mod:`tests.builders`; ``tiny_plan.yaml`` beside this module is its saved copy, for
tests (and people) that run a plan file. Regenerate it after a change here with
``python -m tests.trainer_tests.tiny_plan``.
"""

from __future__ import annotations

from pathlib import Path

from planner.contracts.plan import Plan, save_plan
from tests import builders

TINY_PLAN = Path(__file__).with_name("tiny_plan.yaml")
# Two steps at 1e-6 leave a model's samples as they were: the distillation stages learn fast
# enough here for their evals to tell the trained model from the one it started from.
FAST = {"learning_rate": 5e-2}


def tiny_plan() -> Plan:
    return builders.plan(
        name="tiny",
        stages=[
            builders.teacher_rl(optim={"learning_rate": 1e-3}),
            builders.warmup(optim=FAST),
            builders.opd(optim=FAST),
            builders.opd(id="opd_s", samples=2, optim=FAST, options={"estimator": "sampled"}),
            builders.student_rl(),
        ],
    )


if __name__ == "__main__":
    save_plan(tiny_plan(), TINY_PLAN)
    print(f"wrote {TINY_PLAN}")
