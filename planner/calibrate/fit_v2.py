"""Fit the second response model (planner/simulator/response_v2.py) to measured-runs records.

Maximum a posteriori with log-normal (logit-normal for fractions) priors,
by Levenberg-Marquardt on the residual vector ``[(predicted - measured) / sd,
(z - z_prior) / sd_prior]`` with a forward-difference Jacobian; a point's sd is
the binomial one of its n x k samples (at least half a point). The band comes
from the fit: the parameter covariance ``(J^T J)^-1`` carried to each
prediction through its gradient, plus the residual spread the fit leaves
beyond measurement noise (the structural error of the model, one figure per
world), plus the point's own measurement noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.calibrate.records import allocation, points
from planner.simulator import response_v2 as M

OUTPUT = {"teacher_rl": 0, "warmup": 1, "opd": 1, "student_rl": 2}
SLOPE = {"aime24": 1, "aime25": 2}
Z90 = 1.645


def _ref(model: dict[str, Any] | None, world: str) -> float:
    if model is None:
        return 0.5
    return float(model.get("by_benchmark", {}).get(M.REFERENCE[world], model["accuracy"]))


def _greedy(model: dict[str, Any] | None) -> float:
    g = model.get("greedy") if model else None
    return float(g) if g is not None else float("nan")


def features(rows: Sequence[tuple[dict[str, Any], str]]) -> M.Points:
    """The model's inputs for (record, stage) pairs."""
    cols: dict[str, list[Any]] = {f: [] for f in M.Points.__dataclass_fields__}
    for rec, stage in rows:
        world = rec["world"]
        s, t = rec["student"], rec["teacher"]
        a = allocation(rec, stage)
        role = next(x["role"] for x in rec["stages"] if x["id"] == stage)
        vals = {
            "world": M.WORLDS.index(world),
            "slope": SLOPE.get(rec["benchmark"], 0),
            "output": OUTPUT[role],
            "base_ref_s": _ref(s, world),
            "base_b_s": float(s["accuracy"]),
            "greedy_s": _greedy(s),
            "n_s": float(s["params"]),
            "has_t": t is not None,
            "base_ref_t": _ref(t, world),
            "base_b_t": float(t["accuracy"]) if t else 0.5,
            "greedy_t": _greedy(t),
            "n_t": float(t["params"]) if t else float(s["params"]),
            "labels1": a["labels1"],
            "visits1": a["visits1"],
            "group1": a["group1"],
            "warmup": a["warmup_samples"],
            "opd": a["opd_samples"],
            "prompts": max(a["prompts"], 1.0),
            "labels3": a["labels3"] or a["replay_labels"],
            "visits3": a["visits3"],
            "group3": a["group3"],
            "replay": a["replay_labels"] > 0,
        }
        for k, v in vals.items():
            cols[k].append(v)
    return M.Points(**{k: np.asarray(v) for k, v in cols.items()})


def measurement_sd(rec: dict[str, Any], stage: str) -> float:
    m = rec["measured"][stage]
    if rec["world"] == "paper":
        return 0.005  # a reported figure: fitted as the target it is
    a, n = float(m["accuracy"]), max(int(m["n"]) * max(int(m["k"]), 1), 1)
    return max(math.sqrt(max(a * (1 - a), 1e-4) / n), 0.005)


def _rows(records: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    return [(r, s) for r in records for s in points(r)]


@dataclass
class FittedV2:
    order: list[str]
    z: np.ndarray
    cov: np.ndarray
    structural_sd: np.ndarray  # per world
    residuals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        return {n: float(M.from_free(n, zi)) for n, zi in zip(self.order, self.z, strict=True)}

    def predict_many(
        self, rows: Sequence[tuple[dict[str, Any], str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        x = features(rows)
        mean = M.predict_points(M.values(self.z, self.order), x)
        grad = _jacobian(lambda z: M.predict_points(M.values(z, self.order), x), self.z)
        var_par = np.einsum("ij,jk,ik->i", grad, self.cov, grad)
        meas = np.array([measurement_sd(r, s) for r, s in rows])
        sd = np.sqrt(var_par + self.structural_sd[x.world] ** 2 + meas**2)
        return mean, sd

    def predict(self, rec: dict[str, Any], stage: str) -> tuple[float, float]:
        mean, sd = self.predict_many([(rec, stage)])
        return float(mean[0]), float(sd[0])


def _jacobian(fn: Any, z: np.ndarray, h: float = 1e-5) -> np.ndarray:
    base = fn(z)
    cols = []
    for i in range(len(z)):
        dz = z.copy()
        dz[i] += h
        cols.append((fn(dz) - base) / h)
    return np.stack(cols, axis=1)


def fit(records: Sequence[dict[str, Any]], max_iter: int = 200) -> FittedV2:
    rows = _rows(records)
    if not rows:
        raise ValueError("no measured points to fit")
    x = features(rows)
    y = np.array([float(r["measured"][s]["accuracy"]) for r, s in rows])
    sd = np.array([measurement_sd(r, s) for r, s in rows])
    worlds_seen = set(x.world.tolist())
    order = [
        n
        for n in M.names()
        if not (M.spec(n).per_world and M.WORLDS.index(n.split(".")[1]) not in worlds_seen)
    ]
    # parameters of an unseen world stay at their priors (they do not enter)
    z0 = np.array([M.to_free(n, M.spec(n).prior) for n in order])
    prior_sd = np.array([M.spec(n).sd_log for n in order])

    def residuals(z: np.ndarray) -> np.ndarray:
        pred = M.predict_points(M.values(_full(z, order), M.names()), x)
        return np.concatenate([(pred - y) / sd, (z - z0) / prior_sd])

    z = z0.copy()
    r = residuals(z)
    cost = float(r @ r)
    lam = 1e-2
    for _ in range(max_iter):
        jac = _jacobian(residuals, z)
        jtj, g = jac.T @ jac, jac.T @ r
        improved = False
        for _ in range(12):
            step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), -g)
            trial = residuals(z + step)
            trial_cost = float(trial @ trial)
            if np.isfinite(trial_cost) and trial_cost < cost:
                z, r, lam, improved = z + step, trial, max(lam / 3, 1e-7), True
                gain, cost = cost - trial_cost, trial_cost
                break
            lam *= 4
        if not improved or gain < 1e-7 * max(cost, 1.0):
            break
    jac = _jacobian(residuals, z)
    cov = np.linalg.pinv(jac.T @ jac)
    full = _full(z, order)
    names = M.names()
    pred = M.predict_points(M.values(full, names), x)
    structural = np.zeros(len(M.WORLDS))
    for wi in range(len(M.WORLDS)):
        mask = x.world == wi
        if mask.sum() > 1:
            excess = np.mean((pred[mask] - y[mask]) ** 2 - sd[mask] ** 2)
            dof = mask.sum() / max(mask.sum() - len(order) * mask.mean(), 1.0)
            structural[wi] = math.sqrt(max(excess * dof, 0.0))
    cov_full = np.zeros((len(names), len(names)))
    idx = [names.index(n) for n in order]
    cov_full[np.ix_(idx, idx)] = cov
    fitted = FittedV2(names, full, cov_full, structural)
    fitted.residuals = [
        {
            "setting": rec["setting"],
            "arm": rec["arm"],
            "benchmark": rec["benchmark"],
            "stage": stage,
            "measured": round(float(yi), 4),
            "predicted": round(float(p), 4),
            "error": round(100 * float(p - yi), 2),
        }
        for (rec, stage), yi, p in zip(rows, y, pred, strict=True)
    ]
    return fitted


def _full(z: np.ndarray, order: list[str]) -> np.ndarray:
    """The free vector over every parameter name, priors where ``order`` leaves one out."""
    names = M.names()
    out = np.array([M.to_free(n, M.spec(n).prior) for n in names])
    for n, zi in zip(order, z, strict=True):
        out[names.index(n)] = zi
    return out


@dataclass
class SecondModel:
    """The second response model, as the validation checks see it."""

    name: str = "response model v2"

    def fit(self, records: Sequence[dict[str, Any]]) -> FittedV2:
        return fit(records)
