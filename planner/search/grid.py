"""Reference check: the simulator evaluated on a discretised grid of the search space.

Every teacher, the stage-1 label share in steps of ``1/label_steps``, and the
budget shares of the four stages on a simplex lattice of ``1/share_steps``
(direct GRPO is one point: the whole budget on student GRPO). With the default
20 x 20 lattice that is about 37,000 allocations per teacher, scored in one
vectorised pass; ``s2d plan --check`` reports how far the search landed from it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.scenario.spec import STAGES
from planner.search import space
from planner.simulator.population import NONE
from planner.simulator.simulator import Simulator


def simplex_lattice(steps: int, dims: int = len(STAGES)) -> np.ndarray:
    """All points of the (dims-1)-simplex whose coordinates are multiples of 1/steps."""
    points = [c for c in itertools.product(range(steps + 1), repeat=dims - 1) if sum(c) <= steps]
    arr = np.array([list(c) + [steps - sum(c)] for c in points], dtype=float)
    return arr / steps


@dataclass
class GridResult:
    best_objective: float
    best_params: dict[str, Any]
    evaluated: int
    seconds: float


def lattice(
    problem: Simulator, label_steps: int = 20, share_steps: int = 20
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The grid's allocations, one (teacher, fraction, shares) batch per teacher choice."""
    shares = simplex_lattice(share_steps)
    fractions = np.linspace(0.0, 1.0, label_steps + 1)
    batches = [(np.array([NONE]), np.array([1.0]), np.array([[0.0, 0.0, 0.0, 1.0]]))]
    for teacher in range(len(problem.sc.teachers)):
        f = np.repeat(fractions, len(shares))
        batches.append((np.full(len(f), teacher), f, np.tile(shares, (len(fractions), 1))))
    return batches


def grid_search(problem: Simulator, label_steps: int = 20, share_steps: int = 20) -> GridResult:
    import time

    start = time.perf_counter()
    best, best_params, total = -np.inf, {}, 0
    for t, f, sh in lattice(problem, label_steps, share_steps):
        ev = problem.evaluate(t, f, sh)
        total += len(t)
        i = int(np.argmax(ev.objective))
        if ev.objective[i] > best:
            best, best_params = (
                float(ev.objective[i]),
                space.params_of(problem, int(t[i]), f[i], sh[i]),
            )
    return GridResult(best, best_params, total, time.perf_counter() - start)
