"""The default search ("s2d"): allocations proposed and priced in batches on an in-memory study.

The simulator prices a million plans a second when it gets them together, and
one Optuna trial costs milliseconds, so the search spends its trials where
they inform and lets numpy do the brute force:

1. coarse pass: the reference lattice of planner/search/grid.py (a random
   screen with ``spend`` for the Pareto search), priced per teacher in one call;
   the best allocation of each teacher and the best of the rest (the front's
   members for Pareto) enter the study as finished trials, made with
   ``optuna.trial.create_trial`` and the distributions :func:`space.suggest`
   draws from, so TPE reads them as observations instead of drawing random
   start-up trials. The grid's optimum is one of them: the search is never
   worse than the grid.
2. TPE rounds: Optuna's ask/tell with ``batch`` trials a round, all priced in
   one simulator call. An ask costs milliseconds and grows with the history,
   so TPE gets ``tpe_share`` of the trials.
3. local rounds: Gaussian steps around the best distinct trials (the front's
   members for Pareto), ``LOCAL_CANDIDATES`` per start priced in one call, the
   step shrinking each round; each start's best step enters as a trial.

Everything runs on Optuna's InMemoryStorage; :func:`with_attrs` then prices
the new trials once more, together, to attach what ``s2d explore`` and
optuna-dashboard show (accuracy, compute, the plan), and the caller appends
them to the user's storage in one write (planner/search/bulk.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from planner.search import space
from planner.search.grid import lattice
from planner.simulator.simulator import Simulator

SEED_TOP = 8  # coarse-pass trials beyond the best of each teacher
FRONT_SEEDS = 24  # coarse-pass trials spread along the Pareto front
LOCAL_CANDIDATES = 512  # Gaussian steps priced per start and round
LOCAL_STEP = 0.15  # first step size (share of each parameter's range); halves every round

Progress = Callable[[float], None]  # called with the best objective so far after each round


@dataclass
class BatchConfig:
    trials: int
    pareto: bool = False
    batch: int = 16
    tpe_share: float = 0.25
    screen: int = 8192  # random allocations in the Pareto coarse pass


def _values(problem: Simulator, ev: Any, pareto: bool) -> list[list[float]]:
    obj = ev.objective.astype(float)
    if not pareto:
        return [[v] for v in obj]
    cost = np.where(ev.valid, ev.total_compute, problem.sc.budget).astype(float)
    return [[a, c] for a, c in zip(obj, cost, strict=True)]


def pareto_mask(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Points no other point beats on both accuracy (higher) and cost (lower); ties keep one."""
    order = np.lexsort((-acc, cost))
    best = -np.inf
    mask = np.zeros(len(acc), dtype=bool)
    for i in order:
        if acc[i] > best + 1e-9:
            mask[i], best = True, acc[i]
    return mask


class Search:
    """One in-memory study and the simulator that prices its trials."""

    def __init__(self, problem: Simulator, study: Any, cfg: BatchConfig, seed: int):
        self.problem, self.study, self.cfg = problem, study, cfg
        self.rng = np.random.default_rng(seed)
        self.seen = {_key(t.params) for t in study.get_trials(deepcopy=False)}

    def left(self, target: int) -> int:
        return max(target - len(self.study.get_trials(deepcopy=False)), 0)

    def add(self, params_list: list[dict[str, Any]], limit: int) -> int:
        """Price new allocations in one call and add them as finished trials; skip repeats."""
        import optuna

        fresh: list[dict[str, Any]] = []
        for p in params_list:
            key = _key(p)
            if key not in self.seen and len(fresh) < limit:
                self.seen.add(key)
                fresh.append(p)
        if not fresh:
            return 0
        ev = space.evaluate_params(self.problem, fresh)
        self.study.add_trials(
            optuna.trial.create_trial(
                params=p, distributions=space.distributions(self.problem, p), values=v
            )
            for p, v in zip(fresh, _values(self.problem, ev, self.cfg.pareto), strict=True)
        )
        return len(fresh)

    def tpe_round(self, n: int) -> None:
        """Ask ``n`` trials of the study's sampler, price them together, tell them."""
        trials = [self.study.ask() for _ in range(n)]
        params = [space.suggest(self.problem, t, self.cfg.pareto) for t in trials]
        ev = space.evaluate_params(self.problem, params)
        for t, p, v in zip(trials, params, _values(self.problem, ev, self.cfg.pareto), strict=True):
            self.seen.add(_key(p))
            self.study.tell(t, v)

    def best(self) -> float:
        done = self.study.get_trials(deepcopy=False, states=_complete())
        return max((t.values[0] for t in done), default=-1.0)


def _complete() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE,)


def _key(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in params.items()))


def coarse_seeds(problem: Simulator, cfg: BatchConfig, rng: np.random.Generator) -> list[dict]:
    """The coarse pass: the best lattice point of each teacher and overall (or a front)."""
    picks: list[dict[str, Any]] = []
    if cfg.pareto:
        t, f, sh, sp = space.random_arrays(problem, cfg.screen, rng, pareto=True)
        ev = problem.evaluate(t, f, sh, sp)
        acc = np.where(ev.valid, ev.objective, -1.0)
        front = np.flatnonzero(pareto_mask(acc, ev.total_compute) & ev.valid)
        front = front[np.argsort(ev.total_compute[front])]
        if len(front):
            idx = np.unique(
                np.linspace(0, len(front) - 1, min(len(front), FRONT_SEEDS)).astype(int)
            )
            picks = [space.params_of(problem, int(t[i]), f[i], sh[i], sp[i]) for i in front[idx]]
        return picks
    scored = []
    for t, f, sh in lattice(problem):
        ev = problem.evaluate(t, f, sh)
        order = np.argsort(-ev.objective)[:SEED_TOP]
        scored += [(float(ev.objective[i]), int(t[i]), f[i], sh[i]) for i in order if ev.valid[i]]
    best_of_teacher: dict[int, tuple[float, int, Any, Any]] = {}
    for s in sorted(scored, key=lambda s: -s[0]):
        best_of_teacher.setdefault(s[1], s)
    chosen = list(best_of_teacher.values()) + sorted(scored, key=lambda s: -s[0])[:SEED_TOP]
    return [space.params_of(problem, t, f, sh) for _, t, f, sh in chosen]


def local_starts(search: Search, n: int) -> list[dict[str, Any]]:
    """The best distinct finished trials that have something to tune (the front for Pareto)."""
    done = [
        t
        for t in search.study.get_trials(deepcopy=False, states=_complete())
        if t.params.get("teacher", "none") != "none" and t.values[0] > -1
    ]
    if search.cfg.pareto:
        acc = np.array([t.values[0] for t in done])
        cost = np.array([t.values[1] for t in done])
        front = [done[i] for i in np.flatnonzero(pareto_mask(acc, cost))] if done else []
        front.sort(key=lambda t: t.values[1])
        if len(front) > n:
            front = [front[i] for i in np.linspace(0, len(front) - 1, n).astype(int)]
        return [dict(t.params) for t in front]
    done.sort(key=lambda t: -t.values[0])
    return [dict(t.params) for t in done[:n]]


def local_round(search: Search, starts: list[dict[str, Any]], step: float) -> list[dict]:
    """Each start's best Gaussian step (same teacher), all starts priced in one call."""
    problem, pareto, rng = search.problem, search.cfg.pareto, search.rng
    t, f, sh, sp = space.to_arrays(problem, starts)
    k, m = len(starts), LOCAL_CANDIDATES
    tt = np.repeat(t, m)
    ff = np.clip(np.repeat(f, m) + step * rng.standard_normal(k * m), 0.0, 1.0)
    ss = np.clip(np.repeat(sh, m, axis=0) + step * rng.standard_normal((k * m, sh.shape[1])), 0, 1)
    pp = np.repeat(sp, m)
    if pareto:
        pp = np.clip(pp + step * rng.standard_normal(k * m), space.SPEND_LOW, 1.0)
    ev = problem.evaluate(tt, ff, ss, pp)
    score = ev.objective.reshape(k, m)
    if pareto:  # accuracy per unit of the start's cost: stay near the start on the front
        cost = np.where(ev.valid, ev.total_compute, np.inf).reshape(k, m)
        start_cost = problem.evaluate(t, f, sh, sp).total_compute
        score = np.where(cost <= start_cost[:, None] * (1 + step), score, -np.inf)
    best = np.argmax(score, axis=1) + np.arange(k) * m
    return [
        space.params_of(problem, int(tt[i]), ff[i], ss[i], pp[i] if pareto else None)
        for i in best
        if np.isfinite(score.flat[i]) and ev.valid[i]
    ]


PHASES = ("coarse", "tpe", "local")


def run(
    problem: Simulator,
    study: Any,
    cfg: BatchConfig,
    seed: int,
    progress: Progress | None = None,
    phases: tuple[str, ...] = PHASES,
) -> None:
    """Add up to ``cfg.trials`` trials to the in-memory ``study``: coarse pass, TPE rounds, local rounds.

    Fewer only when ``phases`` leaves out the TPE rounds (a coarse pass alone, before workers start).
    """
    search = Search(problem, study, cfg, seed)
    target = len(study.get_trials(deepcopy=False)) + cfg.trials
    if "coarse" in phases:
        search.add(coarse_seeds(problem, cfg, search.rng), search.left(target))
        if progress:
            progress(search.best())
    if "tpe" not in phases:
        return
    tpe_target = target - int(round((1 - cfg.tpe_share) * search.left(target)))
    while search.left(tpe_target):
        search.tpe_round(min(cfg.batch, search.left(tpe_target)))
        if progress:
            progress(search.best())
    step, stalled = LOCAL_STEP, 0
    while "local" in phases and search.left(target) and stalled < 3:
        starts = local_starts(search, cfg.batch)
        added = search.add(local_round(search, starts, step), search.left(target)) if starts else 0
        stalled = 0 if added else stalled + 1
        step = max(step * 0.5, 1e-4)
        if progress:
            progress(search.best())
    while search.left(target):  # nothing left to tune (no teacher): TPE takes the rest
        search.tpe_round(min(cfg.batch, search.left(target)))
        if progress:
            progress(search.best())


def trial_attrs(problem: Simulator, ev: Any, i: int, warmup: Any = None) -> dict[str, Any]:
    """What a trial carries for ``s2d explore`` and optuna-dashboard: accuracy, compute, the plan.

    The whole plan rides on a valid trial so that it can be shown and exported
    without the scenario. ``warmup``: planner.search.emit.warmup_only of ``ev.pop``, if at hand.
    """
    from planner.contracts.plan import plan_to_dict
    from planner.search.emit import plan_for

    attrs: dict[str, Any] = {
        "final_accuracy": float(ev.final_acc[i]),
        "compute": float(ev.total_compute[i]),
        "valid": bool(ev.valid[i]),
        "compute_unit": problem.sc.compute_unit,
    }
    if ev.valid[i]:
        params = problem.profile.params
        name = problem.profile.name
        plan = plan_for(problem.sc, ev, i, name, None, params.band_z, params, warmup)
        attrs["plan"] = plan_to_dict(plan)
    return attrs


def copy_trial(t: Any, user_attrs: dict[str, Any], system_attrs: dict[str, Any]) -> Any:
    """A finished trial with other attributes (the same number, params, values and times)."""
    from optuna.trial import FrozenTrial

    return FrozenTrial(
        number=t.number,
        state=t.state,
        value=None,
        values=t.values,
        datetime_start=t.datetime_start or datetime.now(),
        datetime_complete=t.datetime_complete or datetime.now(),
        params=t.params,
        distributions=t.distributions,
        user_attrs=user_attrs,
        system_attrs=system_attrs,
        intermediate_values=t.intermediate_values,
        trial_id=t._trial_id,
    )


def with_attrs(problem: Simulator, trials: list[Any]) -> list[Any]:
    """Finished trials as the user's study keeps them (:func:`trial_attrs` on each).

    All are priced again in one call: the simulator is deterministic.
    """
    from planner.search.emit import warmup_only

    if not trials:
        return []
    ev = space.evaluate_params(problem, [t.params for t in trials])
    warmup = warmup_only(problem.sc, ev.pop, problem.profile.params)
    return [
        copy_trial(t, {**t.user_attrs, **trial_attrs(problem, ev, i, warmup)}, t.system_attrs)
        for i, t in enumerate(trials)
    ]
