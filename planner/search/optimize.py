"""Optuna search over teacher, label split and stage budgets, seeded and resumable.

The default strategy ("s2d") wraps Optuna's TPE in two vectorised steps that
cost milliseconds: a screen of a few thousand random allocations whose best
are enqueued as the study's first trials, and after TPE a local refinement
around the best trial, also enqueued. Every scored allocation that matters is
therefore a trial in the study (optuna-dashboard shows it all). ``tpe`` is
plain Optuna TPE with default settings, for comparison. ``workers > 1`` runs
TPE in that many processes on the same storage and study; each process opens
the storage itself and draws its own sampler seed.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.contracts.errors import UserError
from planner.search import space
from planner.search.stale_trials import claim_trial
from planner.simulator.simulator import Simulator

SCREEN_TOP = 8


@dataclass
class SearchConfig:
    trials: int = 200
    seed: int = 0
    sampler: str = "s2d"  # s2d | tpe
    pareto: bool = False
    storage: str | None = None  # resolved URL (see planner.search.storage.storage_url)
    study_name: str = ""
    workers: int = 1
    screen: int = 8192
    refine_rounds: int = 6


def _objective(problem: Simulator, pareto: bool):
    def objective(trial: Any) -> Any:
        claim_trial(trial)  # so that a later run can fail this trial if our process dies
        params = space.suggest(problem, trial, pareto)
        ev = space.evaluate_params(problem, [params])
        acc = float(ev.objective[0])
        trial.set_user_attr("final_accuracy", float(ev.final_acc[0]))
        trial.set_user_attr("compute", float(ev.total_compute[0]))
        trial.set_user_attr("valid", bool(ev.valid[0]))
        trial.set_user_attr("compute_unit", problem.sc.compute_unit)
        if ev.valid[0]:
            # The whole plan rides on the trial so that `s2d explore` (or
            # optuna-dashboard) can show and export it without the scenario.
            from planner.contracts.plan import plan_to_dict
            from planner.search.emit import plan_for

            plan = plan_for(
                problem.sc,
                ev,
                0,
                problem.profile.name,
                None,
                problem.profile.params.band_z,
                problem.profile.params,
            )
            trial.set_user_attr("plan", plan_to_dict(plan))
        if pareto:
            return acc, float(ev.total_compute[0]) if ev.valid[0] else problem.sc.budget
        return acc

    return objective


def _sampler(kind: str, seed: int, pareto: bool) -> Any:
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, n_startup_trials=10, constant_liar=True
    )


def create_study(storage: Any, name: str, pareto: bool, sampler: Any) -> Any:
    import optuna

    directions: list[Any] = ["maximize", "minimize"] if pareto else ["maximize"]
    try:
        return optuna.create_study(
            storage=storage,
            study_name=name,
            directions=directions,
            sampler=sampler,
            load_if_exists=True,
        )
    except ValueError as e:  # an existing study with other directions
        raise UserError(
            f"study {name!r} exists in this storage with other objectives ({e}); pass --study NEW_NAME or drop --pareto."
        ) from None


def _pareto_mask(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    order = np.lexsort((-acc, cost))
    best = -np.inf
    mask = np.zeros(len(acc), dtype=bool)
    for i in order:
        if acc[i] > best + 1e-9:
            mask[i], best = True, acc[i]
    return mask


def screen(
    problem: Simulator, n: int, rng: np.random.Generator, pareto: bool
) -> list[dict[str, Any]]:
    """Vectorised random allocations; return the params of the best ones (or the front)."""
    arrays = space.random_arrays(problem, n, rng, pareto)
    ev = problem.evaluate(*arrays)
    t, f, sh, sp = arrays
    idx: list[int] = []
    if pareto:
        front = np.flatnonzero(
            _pareto_mask(np.where(ev.valid, ev.final_acc, -1), ev.total_compute) & ev.valid
        )
        if len(front):
            picks = np.linspace(0, len(front) - 1, min(len(front), 24)).astype(int)
            idx = [int(i) for i in front[picks]]
    else:
        for teacher in range(
            -1, len(problem.sc.teachers)
        ):  # the best of each teacher, then overall
            m = np.where((t == teacher) & ev.valid, ev.objective, -np.inf)
            if np.isfinite(m.max()):
                idx.append(int(np.argmax(m)))
        idx += [int(i) for i in np.argsort(-ev.objective)[:SCREEN_TOP] if ev.valid[i]]
        idx = list(dict.fromkeys(idx))
    return [
        space.params_of(problem, int(t[i]), f[i], sh[i], sp[i] if pareto else None) for i in idx
    ]


def refine(
    problem: Simulator, best: dict[str, Any], rng: np.random.Generator, rounds: int, n: int = 2048
) -> dict[str, Any]:
    """Shrinking Gaussian steps around the best allocation (same teacher), vectorised."""
    if best["teacher"] == "none":
        return best
    t, f, sh, _ = space.to_arrays(problem, [best])
    cur_f, cur_sh = f[0], sh[0]
    cur = problem.evaluate(t, f, sh).objective[0]
    for r in range(rounds):
        scale = 0.15 * 0.5**r
        ff = np.clip(cur_f + scale * rng.standard_normal(n), 0.0, 1.0)
        ss = np.clip(cur_sh + scale * rng.standard_normal((n, len(cur_sh))), 0.0, 1.0)
        ev = problem.evaluate(np.full(n, t[0]), ff, ss)
        i = int(np.argmax(ev.objective))
        if ev.objective[i] > cur:
            cur, cur_f, cur_sh = ev.objective[i], ff[i], ss[i]
    return space.params_of(problem, int(t[0]), cur_f, cur_sh)


def _worker(
    scenario_path: str,
    profile_path: str | None,
    storage_url: str,
    name: str,
    pareto: bool,
    trials: int,
    seed: int,
    kind: str,
) -> None:
    import optuna

    from planner.scenario.spec import load_scenario
    from planner.search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = Simulator.create(load_scenario(scenario_path), profile_path)
    study = create_study(open_storage(storage_url), name, pareto, _sampler(kind, seed, pareto))
    study.optimize(_objective(problem, pareto), n_trials=trials)


def _exit_reason(exitcode: int) -> str:
    if exitcode < 0:
        import signal

        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def run_search(
    problem: Simulator,
    cfg: SearchConfig,
    storage: Any,
    scenario_path: str | None = None,
    profile_path: str | None = None,
) -> Any:
    """Run the search into ``storage``; return the study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(cfg.seed)
    study = create_study(
        storage, cfg.study_name, cfg.pareto, _sampler(cfg.sampler, cfg.seed, cfg.pareto)
    )
    objective = _objective(problem, cfg.pareto)
    tpe_trials = cfg.trials
    if cfg.sampler == "s2d":
        seeds = screen(problem, cfg.screen, rng, cfg.pareto)
        for params in seeds:
            study.enqueue_trial(params, skip_if_exists=True)
        tpe_trials = max(cfg.trials - len(seeds) - (0 if cfg.pareto else 1), 0)
        if cfg.workers <= 1:
            study.optimize(objective, n_trials=len(seeds))
    if cfg.workers > 1:
        if scenario_path is None:
            raise UserError(
                "--workers needs the scenario as a file, so that each worker process can load it."
            )
        ctx = multiprocessing.get_context("spawn")
        share = [
            tpe_trials // cfg.workers + (i < tpe_trials % cfg.workers) for i in range(cfg.workers)
        ]
        if cfg.sampler == "s2d":
            share[0] += len(seeds)
        procs = [
            ctx.Process(
                target=_worker,
                args=(
                    scenario_path,
                    profile_path,
                    cfg.storage,
                    cfg.study_name,
                    cfg.pareto,
                    share[i],
                    cfg.seed + 1 + i,
                    cfg.sampler,
                ),
            )
            for i in range(cfg.workers)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        failed = [_exit_reason(p.exitcode) for p in procs if p.exitcode]
        if failed:
            raise UserError(
                f"{len(failed)} worker process(es) failed ({', '.join(failed)}). The study keeps every finished trial: run the same command again to continue it (trials left running are marked failed), or with --workers 1 to see an error."
            )
        study = create_study(
            storage, cfg.study_name, cfg.pareto, _sampler(cfg.sampler, cfg.seed, cfg.pareto)
        )
    else:
        study.optimize(objective, n_trials=tpe_trials)
    if cfg.sampler == "s2d" and not cfg.pareto:
        refined = refine(problem, dict(study.best_trial.params), rng, cfg.refine_rounds)
        study.enqueue_trial(refined, skip_if_exists=True)
        study.optimize(objective, n_trials=1)
    return study


def best_params(study: Any) -> dict[str, Any]:
    return dict(study.best_trial.params)


def pareto_params(study: Any, limit: int = 12) -> list[dict[str, Any]]:
    trials = sorted(
        (t for t in study.best_trials if t.user_attrs.get("valid", True)), key=lambda t: t.values[1]
    )
    if len(trials) > limit:
        trials = [trials[i] for i in np.linspace(0, len(trials) - 1, limit).astype(int)]
    return [dict(t.params) for t in trials]
