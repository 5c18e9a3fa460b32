"""Fit the second response model (planner/simulator/response_v2.py) to measured-runs records.

Maximum a posteriori with log-normal (logit-normal for fractions) priors,
by Levenberg-Marquardt on the residual vector ``[(predicted - measured) / sd,
(z - z_prior) / sd_prior]`` with a forward-difference Jacobian; a toy point's
sd is the binomial one of its n x k samples (at least half a point), a paper
figure's half a point (it is fitted as the target it is). The band comes
from the fit: the posterior covariance ``(J^T J)^-1`` carried to each
prediction through its gradient, plus the residual spread the fit leaves
beyond measurement noise (the structural error of the model, one figure per
world, with the degrees of freedom the fit spent on that world's points, the
hat matrix's trace, taken off), plus the point's own measurement noise.
The toy teacher's base accuracy and both models' greedy figures are the zoo's
(measured at build, on other problems); the student's base is the
comparison's own eval where the record has it (``base_eval``).
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
    """Accuracy before training on the world's reference benchmark (the run's own eval where known)."""
    if model is None:
        return 0.5
    if "base_eval" in model:
        return float(model["base_eval"])
    return float(model.get("by_benchmark", {}).get(M.REFERENCE[world], model["accuracy"]))


def _greedy(model: dict[str, Any] | None) -> float:
    g = model.get("greedy") if model else None
    return float(g) if g is not None else float("nan")


def derived_models(records: Sequence[dict[str, Any]]) -> list[str]:
    """``model`` (reference benchmark) and ``model@benchmark`` (another) whose base is derived, not measured."""
    out = set()
    for r in records:
        for m in (r["student"], r["teacher"]):
            if m is not None and m.get("base") == "derived":
                out.add(m["name"])
                if r["benchmark"] != M.REFERENCE[r["world"]]:
                    out.add(f"{m['name']}@{r['benchmark']}")
    return sorted(out)


def shift_names(records: Sequence[dict[str, Any]]) -> list[str]:
    return [f"{M.BASE_SHIFT.name}.{m}" for m in derived_models(records)]


def features(rows: Sequence[tuple[dict[str, Any], str]], shifted: Sequence[str] = ()) -> M.Points:
    """The model's inputs for (record, stage) pairs; ``shifted``: models with a fitted base shift."""
    cols: dict[str, list[Any]] = {f: [] for f in M.Points.__dataclass_fields__}

    def shift(m: dict[str, Any] | None, bench: str | None = None) -> int:
        key = m["name"] if m is not None else ""
        if bench is not None and bench != M.REFERENCE[world]:
            key = f"{key}@{bench}"
        return list(shifted).index(key) if key in shifted else -1

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
            "base_b_s": float(s.get("base_eval", s["accuracy"])),
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
            "shift_s": shift(s),
            "shift_t": shift(t),
            "shift_bs": shift(s, rec["benchmark"]),
            "shift_bt": shift(t, rec["benchmark"]),
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
    names: list[str]  # every parameter, base shifts last
    z: np.ndarray  # free values, one per name
    cov: np.ndarray  # their covariance from the fit (zero rows for those it did not move)
    structural_sd: np.ndarray  # per world: residual spread beyond measurement noise
    shifted: list[str]  # models with a fitted base shift
    residuals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        return {n: float(M.from_free(n, zi)) for n, zi in zip(self.names, self.z, strict=True)}

    def predict_many(
        self, rows: Sequence[tuple[dict[str, Any], str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy and the sd of the band (parameters, structure, measurement)."""
        x = features(rows, self.shifted)
        mean = M.predict_points(M.values(self.z, self.names), x)
        grad = _jacobian(lambda z: M.predict_points(M.values(z, self.names), x), self.z)
        var_par = np.einsum("ij,jk,ik->i", grad, self.cov, grad)
        meas = np.array([measurement_sd(r, s) if s in r["measured"] else 0.0 for r, s in rows])
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


def _levenberg_marquardt(residuals: Any, z: np.ndarray, max_iter: int) -> np.ndarray:
    r = residuals(z)
    cost, lam = float(r @ r), 1e-2
    for _ in range(max_iter):
        jac = _jacobian(residuals, z)
        jtj, g = jac.T @ jac, jac.T @ r
        for _ in range(12):
            step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), -g)
            trial = residuals(z + step)
            trial_cost = float(trial @ trial)
            if np.isfinite(trial_cost) and trial_cost < cost:
                z, r, lam = z + step, trial, max(lam / 3, 1e-7)
                gain, cost = cost - trial_cost, trial_cost
                break
            lam *= 4
        else:
            return z  # no step lowers the cost: a minimum
        if gain < 1e-7 * max(cost, 1.0):
            return z
    return z


def fit(records: Sequence[dict[str, Any]], max_iter: int = 200) -> FittedV2:
    """MAP fit to every measured point of ``records``; parameters of a world they lack stay at their priors."""
    rows = _rows(records)
    if not rows:
        raise ValueError("no measured points to fit")
    shifted = derived_models(records)
    names = M.names() + shift_names(records)
    x = features(rows, shifted)
    y = np.array([float(r["measured"][s]["accuracy"]) for r, s in rows])
    sd = np.array([measurement_sd(r, s) for r, s in rows])
    seen = set(x.world.tolist())
    free = [
        i
        for i, n in enumerate(names)
        if not (M.spec(n).per_world and M.WORLDS.index(n.split(".")[1]) not in seen)
    ]
    prior = np.array([M.to_free(n, M.spec(n).prior) for n in names])
    prior_sd = np.array([M.spec(n).sd_log for n in names])[free]

    def full(zf: np.ndarray) -> np.ndarray:
        out = prior.copy()
        out[free] = zf
        return out

    def residuals(zf: np.ndarray) -> np.ndarray:
        pred = M.predict_points(M.values(full(zf), names), x)
        return np.concatenate([(pred - y) / sd, (zf - prior[free]) / prior_sd])

    zf = _levenberg_marquardt(residuals, prior[free].copy(), max_iter)
    jac = _jacobian(residuals, zf)
    posterior = np.linalg.pinv(jac.T @ jac)  # the prior rows included: the posterior covariance
    cov = np.zeros((len(names), len(names)))
    cov[np.ix_(free, free)] = posterior
    z = full(zf)
    pred = M.predict_points(M.values(z, names), x)
    # degrees of freedom the fit spent on each point: the diagonal of the hat matrix
    j_data = jac[: len(y)]
    used = np.einsum("ij,jk,ik->i", j_data, posterior, j_data)
    structural = np.zeros(len(M.WORLDS))
    for wi in range(len(M.WORLDS)):
        mask = x.world == wi
        n_w, p_w = int(mask.sum()), float(used[mask].sum())
        if n_w > p_w + 1:
            spread = np.sum((pred[mask] - y[mask]) ** 2) / (n_w - p_w)
            structural[wi] = math.sqrt(max(spread - np.mean(sd[mask] ** 2), 0.0))
    fitted = FittedV2(names, z, cov, structural, shifted)
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


@dataclass
class SecondModel:
    """The second response model, as the validation checks see it."""

    name: str = "response model v2"

    def fit(self, records: Sequence[dict[str, Any]]) -> FittedV2:
        return fit(records)
