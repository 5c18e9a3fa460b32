"""Fit response-model parameters to measured accuracies (MAP with log-normal priors).

An observation is an allocation (response-model Inputs for one plan), the
stage it was measured after, and the measured accuracy with its standard
error. The fit minimises the squared, sd-scaled residuals plus a prior term
per fitted parameter, ``((log value - log prior) / sd_log)^2``, so a parameter
that the points do not pin stays near its documented prior instead of
wandering. Fractions are searched on the logit scale, everything else on the
log scale, which keeps every value in its domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from planner.calibrate.nelder_mead import nelder_mead
from planner.simulator.response import Inputs, Outputs, ResponseParams, predict, with_values

FRACTIONS = frozenset(
    {
        "teacher_rl_gain",
        "student_rl_gain",
        "replay_fraction",
        "warmup_weight",
        "opd_weight",
        "opd_cold_share",
    }
)
# What the paper's figures pin (the curve shapes stay at their priors).
PAPER_FIT = (
    "teacher_rl_gain",
    "teacher_label_half",
    "student_rl_gain",
    "warm_rl_gain",
    "replay_fraction",
    "bridge_raw_eff",
    "bridge_rl_eff",
    "warmup_weight",
    "opd_weight",
    "opd_cold_share",
)


@dataclass(frozen=True)
class Observation:
    key: str
    inputs: Inputs
    stage: str  # teacher | bridge | final
    accuracy: float
    sd: float = 0.005
    benchmark: str = "math"


def stage_value(out: Outputs, stage: str) -> float:
    return float(np.asarray(getattr(out, stage)).reshape(-1)[0])


def predicted(obs: Observation, params: ResponseParams) -> float:
    return stage_value(predict(obs.inputs, params, obs.benchmark), obs.stage)


def _to_free(name: str, value: float) -> float:
    if name in FRACTIONS:
        v = min(max(value, 1e-6), 1 - 1e-6)
        return float(np.log(v / (1 - v)))
    return float(np.log(max(value, 1e-12)))


def _from_free(name: str, z: float) -> float:
    return float(1 / (1 + np.exp(-z))) if name in FRACTIONS else float(np.exp(z))


class _Batch:
    """All observations stacked into one array per benchmark, so a fit step is a few numpy calls."""

    def __init__(self, observations: Sequence[Observation]):
        self.measured = np.array([o.accuracy for o in observations])
        self.sd = np.array([o.sd for o in observations])
        self.groups: list[tuple[str, np.ndarray, Inputs, list[str]]] = []
        for bench in sorted({o.benchmark for o in observations}):
            idx = np.array([i for i, o in enumerate(observations) if o.benchmark == bench])
            rows = [observations[i] for i in idx]
            stacked = Inputs(
                **{
                    f.name: np.array(
                        [np.asarray(getattr(o.inputs, f.name)).reshape(-1)[0] for o in rows]
                    )
                    for f in fields(Inputs)
                }
            )
            self.groups.append((bench, idx, stacked, [o.stage for o in rows]))

    def predict(self, params: ResponseParams) -> np.ndarray:
        out = np.empty(len(self.measured))
        for bench, idx, stacked, stages in self.groups:
            res = predict(stacked, params, bench)
            by_stage = {s: np.asarray(getattr(res, s)) for s in ("teacher", "bridge", "final")}
            out[idx] = [by_stage[s][j] for j, s in enumerate(stages)]
        return out


@dataclass
class FitResult:
    params: ResponseParams
    residuals: list[dict[str, Any]]  # per point: key, measured, predicted, error (points)
    objective: float


def fit_response(
    params: ResponseParams,
    observations: Sequence[Observation],
    names: Sequence[str],
    priors: dict[str, dict[str, Any]] | None = None,
    max_evals: int = 6000,
) -> FitResult:
    """Refit ``names`` of ``params`` to ``observations``; priors: name -> {prior, sd_log}."""
    priors = priors or {}
    names = list(names)
    x0 = np.array([_to_free(n, getattr(params, n)) for n in names])

    def values(z: np.ndarray) -> dict[str, float]:
        return {n: _from_free(n, zi) for n, zi in zip(names, z, strict=True)}

    batch = _Batch(observations)

    def objective(z: np.ndarray) -> float:
        trial = with_values(params, values(z))
        total = float(np.sum(((batch.predict(trial) - batch.measured) / batch.sd) ** 2))
        for n, v in values(z).items():
            prior = priors.get(n, {})
            if "prior" in prior and prior.get("sd_log"):
                total += ((np.log(v) - np.log(float(prior["prior"]))) / float(prior["sd_log"])) ** 2
        return float(total)

    z, best = nelder_mead(objective, x0, max_evals=max_evals)
    fitted = with_values(params, values(z))
    return FitResult(fitted, residual_table(fitted, observations), best)


def residual_table(
    params: ResponseParams, observations: Sequence[Observation]
) -> list[dict[str, Any]]:
    rows = []
    for o in observations:
        pred = predicted(o, params)
        rows.append(
            {
                "key": o.key,
                "stage": o.stage,
                "measured": round(o.accuracy, 4),
                "predicted": round(pred, 4),
                "error": round(100 * (pred - o.accuracy), 2),
            }
        )
    return rows


def paper_observations() -> list[Observation]:
    from planner.simulator.paper import figures

    return [
        Observation(f.key, f.inputs, f.stage, f.accuracy, 0.005, f.benchmark) for f in figures()
    ]


def fit_paper(params: ResponseParams, priors: dict[str, dict[str, Any]] | None = None) -> FitResult:
    """Refit the parameters the PAPER.md figures pin (how the default profile was made)."""
    return fit_response(params, paper_observations(), PAPER_FIT, priors)
