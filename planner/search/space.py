"""The search space: Optuna trial parameters <-> allocation arrays.

Trial parameters: ``teacher`` (``none`` or a teacher's name), and when a
teacher is chosen ``stage1_fraction`` (share of the labels for teacher RL) and
one weight per stage (``w_teacher_rl``, ``w_warmup``, ``w_opd``,
``w_student_rl``; normalised to budget shares); ``spend`` (share of the budget
to use) only in the multi-objective search. The same mapping serves the
Optuna objective, the vectorised screen and the reference grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from planner.scenario.spec import STAGES
from planner.simulator.population import NONE, Evaluated
from planner.simulator.simulator import Simulator

WEIGHTS = tuple(f"w_{s}" for s in STAGES)

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def to_arrays(sim: Simulator, params_list: Sequence[dict[str, Any]]) -> Arrays:
    """Trial parameters as the (teacher, fraction, shares, spend) arrays the simulator takes."""
    names = sim.teacher_choices
    teacher = np.array([names.index(p["teacher"]) - 1 for p in params_list], dtype=int)
    fraction = np.array([p.get("stage1_fraction", 1.0) for p in params_list])
    shares = np.array([[p.get(w, 0.0) for w in WEIGHTS] for p in params_list])
    spend = np.array([p.get("spend", 1.0) for p in params_list])
    return teacher, fraction, shares, spend


def evaluate_params(sim: Simulator, params_list: Sequence[dict[str, Any]]) -> Evaluated:
    return sim.evaluate(*to_arrays(sim, params_list))


def params_of(
    sim: Simulator,
    teacher: int,
    fraction: float,
    shares: Sequence[float],
    spend: float | None = None,
) -> dict[str, Any]:
    """One allocation as trial parameters (the inverse of :func:`to_arrays`)."""
    p: dict[str, Any] = {"teacher": sim.teacher_choices[teacher + 1]}
    if teacher != NONE:
        p["stage1_fraction"] = float(fraction)
        p.update({w: float(v) for w, v in zip(WEIGHTS, shares, strict=True)})
    if spend is not None:
        p["spend"] = float(spend)
    return p


SPEND_LOW = 0.02  # the least share of the budget a Pareto trial may spend


def distributions(sim: Simulator, params: dict[str, Any]) -> dict[str, Any]:
    """The Optuna distributions :func:`suggest` draws ``params`` from (for trials made without it)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out: dict[str, Any] = {}
    for name in params:
        if name == "teacher":
            out[name] = CategoricalDistribution(sim.teacher_choices)
        elif name == "spend":
            out[name] = FloatDistribution(SPEND_LOW, 1.0)
        else:
            out[name] = FloatDistribution(0.0, 1.0)
    return out


def suggest(sim: Simulator, trial: Any, pareto: bool) -> dict[str, Any]:
    p: dict[str, Any] = {"teacher": trial.suggest_categorical("teacher", sim.teacher_choices)}
    if p["teacher"] != "none":
        p["stage1_fraction"] = trial.suggest_float("stage1_fraction", 0.0, 1.0)
        for w in WEIGHTS:
            p[w] = trial.suggest_float(w, 0.0, 1.0)
    if pareto:
        p["spend"] = trial.suggest_float("spend", SPEND_LOW, 1.0)
    return p


def random_arrays(sim: Simulator, n: int, rng: np.random.Generator, pareto: bool = False) -> Arrays:
    teacher = rng.integers(-1, len(sim.sc.teachers), n)
    fraction = rng.random(n)
    shares = rng.random((n, len(STAGES)))
    shares *= rng.random((n, len(STAGES))) < 0.85  # some plans drop a stage outright
    spend = rng.uniform(SPEND_LOW, 1.0, n) if pareto else np.ones(n)
    return teacher, fraction, shares, spend
