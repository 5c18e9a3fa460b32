"""Allocations: the planner's decision variables, priced and predicted for many plans at once.

An allocation is a teacher (or none: direct GRPO on the student), the share of
the labels that stage 1 gets, the share of the spent budget each stage gets,
and how much of the budget to spend. ``decode`` turns these continuous
variables into whole step counts per stage under the budget, and canonicalises
them (a stage given no steps gives up its labels; with no stage 3 every label
goes upstream), so that the search, the reference grid and the emitted plan
all agree on what an allocation means. ``evaluate`` prices and predicts a
population in a handful of numpy operations; an allocation with a stage that
cannot fit in memory even fully sharded (planner/simulator/memory.py) is invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from planner.contracts.errors import UserError
from planner.scenario.spec import STAGES, Scenario
from planner.simulator import cost as C
from planner.simulator.memory import StageMemory, stage_memories
from planner.simulator.response import Inputs, Outputs, ResponseParams, predict
from planner.simulator.response_v2 import SecondParams

NONE = -1  # teacher index of direct GRPO


@dataclass
class Population:
    """N plans: teacher index (-1: none), steps per stage and labels per RL stage (int arrays)."""

    teacher: np.ndarray
    steps: dict[str, np.ndarray]
    labels1: np.ndarray
    labels3: np.ndarray

    def __len__(self) -> int:
        return len(self.teacher)

    def row(self, i: int) -> Population:
        return Population(
            self.teacher[i : i + 1],
            {k: v[i : i + 1] for k, v in self.steps.items()},
            self.labels1[i : i + 1],
            self.labels3[i : i + 1],
        )


@dataclass
class Evaluated:
    pop: Population
    valid: np.ndarray  # bool
    teacher_acc: np.ndarray
    bridge_acc: np.ndarray
    final_acc: np.ndarray
    sd_teacher: np.ndarray
    sd_bridge: np.ndarray
    sd_final: np.ndarray
    stage_compute: dict[str, np.ndarray]  # budget units per stage
    total_compute: np.ndarray
    objective: np.ndarray  # final - risk * sd; -1 where invalid


class CostTable:
    """Per-step cost of each stage for each teacher choice (index 0: no teacher)."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        hw, n_s = sc.hardware, sc.student.params
        # Index 0 ("no teacher") carries the student's size only to keep the arrays
        # aligned; search never uses teacher-stage costs for that choice.
        n_t = np.array([n_s] + [t.params for t in sc.teachers])
        sh = sc.shapes
        self.step: dict[str, C.StepCost] = {
            "teacher_rl": C.grpo_step(n_t, sh["teacher_rl"], hw),
            "warmup": C.warmup_step(n_s, n_t, sh["warmup"], hw),
            "opd": C.opd_step(n_s, n_t, sh["opd"], hw),
            "student_rl": C.grpo_step(np.full_like(n_t, n_s), sh["student_rl"], hw),
        }
        self.units = {
            k: np.asarray(C.to_budget_units(v, hw), dtype=float) for k, v in self.step.items()
        }
        # Memory floors (planner/simulator/memory.py): index 0 has student RL only.
        self.memory: list[dict[str, StageMemory]] = [
            stage_memories(sc.student, t, sh, hw) for t in (None, *sc.teachers)
        ]
        self.fits = {
            k: np.array([m[k].fits if k in m else True for m in self.memory]) for k in STAGES
        }

    def blocked(self) -> list[str]:
        """Each stage that cannot fit in memory even fully sharded, with its teacher and figures."""
        out = []
        for i, mems in enumerate(self.memory):
            for stage, m in mems.items():
                if m.fits or (i > 0 and stage == "student_rl"):
                    continue
                model = (
                    self.sc.teachers[i - 1].name if stage == "teacher_rl" else self.sc.student.name
                )
                with_teacher = (
                    f" with teacher {self.sc.teachers[i - 1].name}"
                    if stage in ("warmup", "opd")
                    else ""
                )
                out.append(f"{stage} of {model}{with_teacher} needs {m.describe()}")
        return out

    def per_step(self, stage: str, teacher: np.ndarray) -> np.ndarray:
        return self.units[stage][teacher + 1]

    def cheapest_plan(self) -> tuple[float, str]:
        """Cost and description of the cheapest runnable plan (one step of its cheapest stage)."""
        options, trainable = [], False
        if self.sc.labels > 0:
            trainable = True
            if self.fits["student_rl"][0]:
                options.append(
                    (float(self.units["student_rl"][0]), "direct GRPO on the student, 1 step")
                )
        if self.sc.teachers and self.sc.prompts > 0:
            trainable = True
            for i, t in enumerate(self.sc.teachers):
                for stage, what in (("opd", "OPD"), ("warmup", "warmup")):
                    if self.fits[stage][i + 1]:
                        options.append(
                            (
                                float(self.units[stage][i + 1]),
                                f"raw {t.name} teacher, 1 {what} step",
                            )
                        )
        if not trainable:
            raise UserError(
                f"{self.sc.source}: nothing can be trained: no labels for GRPO and no teacher with prompts for the bridge. Give labels, or a teacher and prompts."
            )
        if not options:
            hw = self.sc.hardware
            raise UserError(
                f"{self.sc.source}: no plan fits in memory on {hw.count} x {hw.name}: "
                + "; ".join(self.blocked())
                + ". Use more devices (hardware.count) or ones with more memory (hardware.device), or a smaller student or teachers, or shorter sequences (settings.STAGE.max_new_tokens)."
            )
        return min(options)


def decode(
    sc: Scenario,
    costs: CostTable,
    teacher: Any,
    stage1_fraction: Any,
    shares: Any,
    spend: Any = 1.0,
) -> Population:
    """Continuous allocations -> whole steps within the budget (see module docstring).

    teacher (N,) int, stage1_fraction (N,), shares (N, 4) non-negative weights in
    STAGES order, spend (N,) fraction of the budget to use.
    """
    teacher = np.asarray(teacher, dtype=int)
    n = len(teacher)
    shares = np.asarray(shares, dtype=float).reshape(n, len(STAGES))
    has_t = teacher != NONE
    direct = np.zeros_like(shares)
    direct[:, STAGES.index("student_rl")] = 1.0
    shares = np.where(has_t[:, None], shares, direct)
    total = shares.sum(axis=1, keepdims=True)
    shares = np.where(total > 0, shares / np.maximum(total, 1e-12), 0.0)
    money = np.broadcast_to(np.asarray(spend, dtype=float), (n,)) * sc.budget
    steps = {}
    for j, stage in enumerate(STAGES):
        s = np.floor(money * shares[:, j] / costs.per_step(stage, teacher) + 1e-9).astype(int)
        steps[stage] = s
    pool = sc.labels
    if pool <= 0:
        steps["teacher_rl"][:] = 0
        steps["student_rl"][:] = 0
    if sc.prompts <= 0:
        # Bridge prompts are never labels a stage trains on, and labels are always allocated
        # in full (stage 1, or stages 1 and 3): without a prompt pool there is nothing to distil.
        steps["warmup"][:] = 0
        steps["opd"][:] = 0
    rl1, rl3 = steps["teacher_rl"] > 0, steps["student_rl"] > 0
    frac = np.clip(np.broadcast_to(np.asarray(stage1_fraction, dtype=float), (n,)), 0.0, 1.0)
    split1 = np.clip(np.round(frac * pool), 1, max(pool - 1, 1)).astype(int)
    labels1 = np.where(rl1 & rl3, split1, np.where(rl1, pool, 0))
    labels3 = np.where(rl3, pool - labels1, 0)
    # A GRPO step draws prompts_per_step distinct problems: a stage given fewer labels than
    # that could not take a single step (TRL's sampler yields no batch), so it is dropped,
    # with its compute; a larger pool only ever adds stages back.
    steps["teacher_rl"] = np.where(
        labels1 >= sc.shapes["teacher_rl"].prompts_per_step, steps["teacher_rl"], 0
    )
    steps["student_rl"] = np.where(
        labels3 >= sc.shapes["student_rl"].prompts_per_step, steps["student_rl"], 0
    )
    return Population(teacher, steps, labels1.astype(int), labels3.astype(int))


def inputs_for(sc: Scenario, pop: Population) -> Inputs:
    t = pop.teacher
    has_t = t != NONE
    idx = np.maximum(t, 0)
    bench = sc.benchmark
    t_acc = np.array([m.accuracy(bench, "teacher") for m in sc.teachers] or [0.0])[idx]
    t_params = np.array([m.params for m in sc.teachers] or [1.0])[idx]
    t_interp = np.array([m.interpolated for m in sc.teachers] or [False])[idx]
    sh = sc.shapes
    return Inputs(
        student_acc=np.full(len(t), sc.student.accuracy(bench, "student")),
        teacher_acc=np.where(has_t, t_acc, 0.0),
        has_teacher=has_t,
        param_ratio=np.where(has_t, t_params / sc.student.params, 1.0),
        labels1=pop.labels1,
        visits1=pop.steps["teacher_rl"] * sh["teacher_rl"].prompts_per_step,
        warmup_samples=pop.steps["warmup"] * sh["warmup"].sequences,
        opd_samples=pop.steps["opd"] * sh["opd"].sequences,
        labels3=np.where(has_t, pop.labels3, sc.labels),
        visits3=pop.steps["student_rl"] * sh["student_rl"].prompts_per_step,
        interpolated=(has_t & t_interp) | sc.student.interpolated,
    )


def predict_population(
    sc: Scenario, params: ResponseParams | SecondParams, pop: Population, bridge_only: bool = False
) -> Outputs:
    """Teacher, bridge and final accuracy of every allocation under either response model.

    ``bridge_only``: the students after the warmup alone (no OPD, no stage 3).
    """
    if isinstance(params, SecondParams):
        from planner.simulator.second import outputs

        return outputs(sc, pop, params, bridge_only)
    x = inputs_for(sc, pop)
    if bridge_only:
        zero = np.zeros(len(pop))
        x = replace(x, opd_samples=zero, labels3=zero, visits3=zero)
    return predict(x, params, sc.benchmark)


def evaluate(
    sc: Scenario, costs: CostTable, params: ResponseParams | SecondParams, pop: Population
) -> Evaluated:
    t = pop.teacher
    has_t = t != NONE
    out = predict_population(sc, params, pop)
    stage_compute = {s: pop.steps[s] * costs.per_step(s, t) for s in STAGES}
    total = sum(stage_compute.values())
    trained = sum(pop.steps.values()) > 0
    bridged = (pop.steps["warmup"] + pop.steps["opd"]) > 0
    fits = np.logical_and.reduce([(pop.steps[s] == 0) | costs.fits[s][t + 1] for s in STAGES])
    valid = trained & (~has_t | bridged) & fits & (total <= sc.budget * (1 + 1e-9))
    # ties go to the cheaper plan (1e-5 of accuracy for the whole budget)
    objective = np.where(valid, out.final - sc.risk * out.sd_final - 1e-5 * total / sc.budget, -1.0)
    return Evaluated(
        pop,
        valid,
        out.teacher,
        out.bridge,
        out.final,
        out.sd_teacher,
        out.sd_bridge,
        out.sd_final,
        stage_compute,
        np.asarray(total, dtype=float),
        objective,
    )
