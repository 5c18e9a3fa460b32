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
hat matrix's trace, taken off), plus the point's own measurement noise. On
the toy world, where the planner's question is always a pair the fit has not
seen, the structural term is widened to what leaving one pair out asks for
(:func:`transfer_sd`, cross-validated over the fit's own pairs). The fit
keeps the range of stage budgets its points read (the evidence range); a
prediction outside it gets a wider band (planner/simulator/response_v2.py).
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

from planner.calibrate.records import points
from planner.simulator import response_v2 as M
from planner.simulator.pipelines import features
from planner.simulator.response import Profile

Z90 = 1.645


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


def measurement_sd(rec: dict[str, Any], stage: str) -> float:
    m = rec["measured"][stage]
    if rec["world"] == "paper":
        return 0.005  # a reported figure: fitted as the target it is
    a, n = float(m["accuracy"]), max(int(m["n"]) * max(int(m["k"]), 1), 1)
    return max(math.sqrt(max(a * (1 - a), 1e-4) / n), 0.005)


def _rows(records: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    return [(r, s) for r in records for s in points(r)]


@dataclass
class FittedV2(M.Fitted):
    """A fit with its in-sample residuals, predicting records (measurement noise added)."""

    residuals: list[dict[str, Any]] = field(default_factory=list)
    transfer_sd: float | None = None  # the toy structural sd cross-validation asked for

    def predict_many(
        self, rows: Sequence[tuple[dict[str, Any], str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy and the sd of the band (parameters, structure, measurement)."""
        mean, sd = self.predict_points(features(rows, self.shifted))
        meas = np.array([measurement_sd(r, s) if s in r["measured"] else 0.0 for r, s in rows])
        return mean, np.sqrt(sd**2 + meas**2)

    def predict(self, rec: dict[str, Any], stage: str) -> tuple[float, float]:
        mean, sd = self.predict_many([(rec, stage)])
        return float(mean[0]), float(sd[0])


def _levenberg_marquardt(residuals: Any, z: np.ndarray, max_iter: int) -> np.ndarray:
    r = residuals(z)
    cost, lam = float(r @ r), 1e-2
    for _ in range(max_iter):
        jac = M.jacobian(residuals, z)
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


def _map(
    rows: Sequence[tuple[dict[str, Any], str]],
    names: list[str],
    shifted: list[str],
    centre: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, M.Points, np.ndarray, np.ndarray]:
    """MAP over ``rows`` with priors centred on ``centre`` (free space), each parameter's prior width.

    Parameters of a world the rows lack stay at the centre. Returns the fitted free
    values, their posterior covariance (zero rows for those held), the degrees of
    freedom the fit spent on each point (the hat matrix's diagonal), and the points,
    measured accuracies and sds.
    """
    x = features(rows, shifted)
    y = np.array([float(r["measured"][s]["accuracy"]) for r, s in rows])
    sd = np.array([measurement_sd(r, s) for r, s in rows])
    seen = set(x.world.tolist())
    free = [
        i
        for i, n in enumerate(names)
        if not (M.spec(n).per_world and M.WORLDS.index(n.split(".")[1]) not in seen)
    ]
    prior_sd = np.array([M.spec(n).sd_log for n in names])[free]

    def full(zf: np.ndarray) -> np.ndarray:
        out = centre.copy()
        out[free] = zf
        return out

    def residuals(zf: np.ndarray) -> np.ndarray:
        pred = M.predict_points(M.values(full(zf), names), x)
        return np.concatenate([(pred - y) / sd, (zf - centre[free]) / prior_sd])

    zf = _levenberg_marquardt(residuals, centre[free].copy(), max_iter)
    jac = M.jacobian(residuals, zf)
    posterior = np.linalg.pinv(jac.T @ jac)  # the prior rows included: the posterior covariance
    cov = np.zeros((len(names), len(names)))
    cov[np.ix_(free, free)] = posterior
    j_data = jac[: len(y)]
    used = np.einsum("ij,jk,ik->i", j_data, posterior, j_data)
    return full(zf), cov, used, x, y, sd


def fit(records: Sequence[dict[str, Any]], max_iter: int = 200) -> FittedV2:
    """MAP fit to every measured point of ``records``; parameters of a world they lack stay at their priors."""
    rows = _rows(records)
    if not rows:
        raise ValueError("no measured points to fit")
    shifted = derived_models(records)
    names = M.names() + shift_names(records)
    prior = np.array([M.to_free(n, M.spec(n).prior) for n in names])
    z, cov, used, x, y, sd = _map(rows, names, shifted, prior, max_iter)
    pred = M.predict_points(M.values(z, names), x)
    structural = np.zeros(len(M.WORLDS))
    for wi in range(len(M.WORLDS)):
        mask = x.world == wi
        n_w, p_w = int(mask.sum()), float(used[mask].sum())
        if n_w > p_w + 1:
            spread = np.sum((pred[mask] - y[mask]) ** 2) / (n_w - p_w)
            structural[wi] = math.sqrt(max(spread - np.mean(sd[mask] ** 2), 0.0))
    fitted = FittedV2(names, z, cov, structural, shifted, M.evidence_range(x))
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


def update(start: M.Fitted, records: Sequence[dict[str, Any]], max_iter: int = 200) -> FittedV2:
    """``start`` moved toward ``records`` (a user's own runs): MAP with ``start`` as the prior's centre.

    Each parameter may move as far as its prior width in
    planner/simulator/response_v2.py allows: the user's setting is taken as a new
    world of the same family, not as more draws from the worlds ``start`` was
    fitted on (its posterior covariance as the prior, tried on synthetic worlds,
    moved too little where the world differed and chose worse; README, "Pilot
    runs"). Refitting the whole dataset with the runs added let 117 packaged
    points outweigh a user's handful. The structural sd stays ``start``'s: a few
    runs cannot estimate it.
    """
    rows = _rows(records)
    if not rows:
        raise ValueError("no measured points to fit")
    names, shifted = list(start.names), list(start.shifted)
    z, cov, _, x, _, _ = _map(rows, names, shifted, start.z, max_iter)
    # the user's runs widen the range the start was fitted on; a start that kept no
    # range (an older profile) keeps none: a handful of runs is not its evidence
    evidence = (
        None if start.evidence is None else M.union_range(start.evidence, M.evidence_range(x))
    )
    return FittedV2(
        names,
        z,
        cov,
        start.structural_sd.copy(),
        shifted,
        evidence,
        start.widen_per_doubling,
    )


@dataclass
class _WithoutStructure:
    """Fits whose band leaves the structural term out (parameters and measurement only)."""

    name: str = "response model v2, no structural term"

    def fit(self, records: Sequence[dict[str, Any]]) -> FittedV2:
        fitted = fit(records)
        fitted.structural_sd = np.zeros_like(fitted.structural_sd)
        return fitted


def transfer_sd(records: Sequence[dict[str, Any]], coverage: float = 0.9) -> float | None:
    """The toy world's structural sd for a pair the fit never saw, set by cross-validation.

    Leave one pair out over ``records``' toy pairs (planner/calibrate/validate.py's
    check, the other worlds' records kept in every fold): for each held-out point, the
    structural sd at which it would just fall inside its 90% band beside the fold's
    parameter and measurement variance; the figure is the ``coverage`` quantile of
    those. The in-sample spread misses what moving to another model size costs (its
    residuals sit within binomial noise: 63% of held-out points were inside the band
    it gave); this one is what the held-out points ask for. None with fewer than three
    pairs (two folds say too little about a third).
    """
    from planner.calibrate.validate import leave_one_pair_out, pairs

    if len(pairs(records)) < 3:
        return None
    others = [r for r in records if r["world"] != "toy"]
    scored = leave_one_pair_out(_WithoutStructure(), records, extra=others)
    need = [
        math.sqrt(max((abs(r["predicted"] - r["measured"]) / Z90) ** 2 - r["sd"] ** 2, 0.0))
        for r in scored.rows
    ]
    return float(np.quantile(need, coverage))


def fit_for_transfer(records: Sequence[dict[str, Any]], max_iter: int = 200) -> FittedV2:
    """:func:`fit`, with the toy world's structural sd widened to :func:`transfer_sd` (never narrowed)."""
    fitted = fit(records, max_iter)
    cv = transfer_sd(records)
    if cv is not None:
        toy = M.WORLDS.index("toy")
        fitted.transfer_sd = cv
        fitted.structural_sd[toy] = max(float(fitted.structural_sd[toy]), cv)
    return fitted


@dataclass
class SecondModel:
    """The second response model, as the validation checks see it.

    ``transfer``: the toy band's structural term from cross-validation over the fit's
    own pairs (:func:`fit_for_transfer`, what the shipped profile holds); nested inside
    an out-of-sample check, each fold sets it from its training pairs alone.
    """

    transfer: bool = True
    name: str = "response model v2"

    def fit(self, records: Sequence[dict[str, Any]]) -> FittedV2:
        return fit_for_transfer(records) if self.transfer else fit(records)


def second_profile(
    records: Sequence[dict[str, Any]], dataset: str, fitted: FittedV2 | None = None
) -> Profile:
    """A planner profile (planner/simulator/second.py) of the fit to ``records`` (``fitted``, if done)."""
    fitted = fitted or fit_for_transfer(records)
    toy = [r for r in records if r["world"] == "toy"]
    settings = {r["setting"] for r in toy}
    n_toy = sum(len(points(r)) for r in toy)
    n_paper = sum(len(points(r)) for r in records if r["world"] == "paper")
    sd = dict(zip(M.WORLDS, fitted.structural_sd, strict=True))
    source = (
        f"the second response model fitted on {dataset}: {n_toy} points of {len(toy)} toy runs in "
        f"{len(settings)} settings and {n_paper} paper figures; structural sd "
        + ", ".join(f"{w} {100 * s:.2f} points" for w, s in sd.items())
        + (
            f" (toy: leave one pair out, the 90% quantile of what the held-out points needed,"
            f" {100 * fitted.transfer_sd:.2f})"
            if fitted.transfer_sd is not None
            else ""
        )
    )
    return Profile(
        name="response-v2", params=M.SecondParams(fitted.plain()), priors={}, source=source
    )
