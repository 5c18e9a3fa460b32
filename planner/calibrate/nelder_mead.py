"""A small Nelder-Mead minimiser with restarts (numpy only; scipy is not a dependency).

Calibration fits at most a dozen parameters to a handful of measured points, so
a derivative-free simplex search is enough and keeps planner/ light. Parameters
are searched in an unconstrained space (log for positive values, logit for
fractions) by the callers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def nelder_mead(
    f: Callable[[np.ndarray], float],
    x0: np.ndarray,
    step: float = 0.3,
    max_evals: int = 4000,
    tol: float = 1e-12,
    restarts: int = 3,
) -> tuple[np.ndarray, float]:
    """Minimise ``f`` from ``x0``; restart from the best point ``restarts`` times (escapes collapsed simplices)."""
    best_x, best_f = np.asarray(x0, dtype=float), f(np.asarray(x0, dtype=float))
    budget = max_evals // (restarts + 1)
    for _ in range(restarts + 1):
        best_x, best_f = _run(f, best_x, best_f, step, budget, tol)
    return best_x, best_f


def _run(
    f: Callable[[np.ndarray], float],
    x0: np.ndarray,
    f0: float,
    step: float,
    max_evals: int,
    tol: float,
) -> tuple[np.ndarray, float]:
    n = len(x0)
    simplex = [x0] + [x0 + step * np.eye(n)[i] for i in range(n)]
    values = [f0] + [f(x) for x in simplex[1:]]
    evals = n
    while evals < max_evals:
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) <= tol * (abs(values[0]) + tol):
            break
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        evals += 1
        if fr < values[0]:
            expanded = centroid + 2.0 * (centroid - simplex[-1])
            fe = f(expanded)
            evals += 1
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (simplex[-1] - centroid)
            fc = f(contracted)
            evals += 1
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:  # shrink toward the best vertex
                simplex = [simplex[0]] + [simplex[0] + 0.5 * (x - simplex[0]) for x in simplex[1:]]
                values = [values[0]] + [f(x) for x in simplex[1:]]
                evals += n
    i = int(np.argmin(values))
    return simplex[i], float(values[i])
