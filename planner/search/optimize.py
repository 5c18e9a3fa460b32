"""Optuna search over teacher, label split and stage budgets, seeded and resumable.

The default strategy ("s2d") runs on an in-memory study and prices its
candidates in batches (planner/search/batch.py: a vectorised coarse pass that
seeds TPE, TPE rounds of many asks priced in one simulator call, vectorised
local rounds); the user's storage then receives every evaluated trial, with its
plan, in one write (planner/search/bulk.py). ``tpe`` is plain Optuna TPE with
default settings, one trial at a time on the user's storage, for comparison.
``workers > 1`` runs that many processes on the same storage and study; each
opens the storage itself and draws its own sampler seed. For "s2d" the coarse
pass runs once, before the workers start, and each worker appends its trials
in bulk; for "tpe" the workers share the study trial by trial.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.contracts.errors import UserError
from planner.search import batch, space
from planner.search.bulk import append_trials
from planner.search.stale_trials import claim_trial
from planner.simulator.simulator import Simulator


@dataclass
class SearchConfig:
    trials: int = 200
    seed: int = 0
    sampler: str = "s2d"  # s2d | tpe
    pareto: bool = False
    storage: str | None = None  # resolved URL (see planner.search.storage.storage_url)
    study_name: str = ""
    workers: int = 1
    batch: int = 16  # "s2d": trials asked and priced together in a round
    tpe_share: float = 0.25  # "s2d": share of the trials TPE proposes (the rest: coarse, local)


def _objective(problem: Simulator, pareto: bool):
    def objective(trial: Any) -> Any:
        claim_trial(trial)  # so that a later run can fail this trial if our process dies
        params = space.suggest(problem, trial, pareto)
        ev = space.evaluate_params(problem, [params])
        acc = float(ev.objective[0])
        for key, value in batch.trial_attrs(problem, ev, 0).items():
            trial.set_user_attr(key, value)
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


COST_LABEL = {"gpu_hours": "GPU-h", "cpu_seconds": "CPU-s"}


def metric_names(pareto: bool, compute_unit: str) -> list[str]:
    """What optuna-dashboard calls the objectives: predicted accuracy (0..1), and compute in budget units."""
    names = ["accuracy (0-1)"]
    if pareto:
        names.append(f"compute ({COST_LABEL.get(compute_unit, compute_unit)})")
    return names


def create_study(
    storage: Any, name: str, pareto: bool, sampler: Any, compute_unit: str | None = None
) -> Any:
    """Create or reopen the study; with ``compute_unit``, its objectives also get their names.

    Naming is idempotent: a study reopened by another worker (or run) that already
    has the names is not written to again.
    """
    import optuna

    directions: list[Any] = ["maximize", "minimize"] if pareto else ["maximize"]
    try:
        study = optuna.create_study(
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
    if compute_unit is not None:
        names = metric_names(pareto, compute_unit)
        if study.metric_names != names:
            import warnings

            with warnings.catch_warnings():  # "experimental" since Optuna 3.2
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(names)
    return study


Progress = Callable[[float], None]  # the best objective so far, after each trial or round


def batch_search(
    problem: Simulator,
    cfg: SearchConfig,
    study: Any,
    seed: int,
    trials: int,
    progress: Progress | None = None,
    phases: tuple[str, ...] = batch.PHASES,
) -> None:
    """Search on an in-memory copy of ``study``, then append the new trials to it in one write.

    The copy starts from the study's finished trials (so a resumed study goes
    on from them, and the coarse pass skips what it already holds), without
    their attributes, which TPE does not read.
    """
    import optuna
    from optuna.trial import TrialState

    memory = optuna.create_study(
        directions=list(study.directions), sampler=_sampler("s2d", seed, cfg.pareto)
    )
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    known = [batch.copy_trial(t, {}, {}) for t in done]
    memory.add_trials(known)
    bc = batch.BatchConfig(trials, cfg.pareto, cfg.batch, cfg.tpe_share)
    batch.run(problem, memory, bc, seed, progress, phases)
    new = memory.get_trials(deepcopy=False)[len(known) :]
    append_trials(study, batch.with_attrs(problem, new))


def _worker(
    scenario_path: str,
    profile_path: str | None,
    cfg: SearchConfig,
    trials: int,
    seed: int,
) -> None:
    import optuna

    from planner.scenario.spec import load_scenario
    from planner.search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = Simulator.create(load_scenario(scenario_path), profile_path)
    assert cfg.storage is not None
    study = create_study(
        open_storage(cfg.storage),
        cfg.study_name,
        cfg.pareto,
        _sampler(cfg.sampler, seed, cfg.pareto),
        problem.sc.compute_unit,
    )
    if cfg.sampler == "tpe":
        study.optimize(_objective(problem, cfg.pareto), n_trials=trials)
    else:
        batch_search(problem, cfg, study, seed, trials, phases=("tpe", "local"))


def _exit_reason(exitcode: int) -> str:
    if exitcode < 0:
        import signal

        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _run_workers(
    cfg: SearchConfig, trials: int, scenario_path: str, profile_path: str | None
) -> None:
    ctx = multiprocessing.get_context("spawn")
    share = [trials // cfg.workers + (i < trials % cfg.workers) for i in range(cfg.workers)]
    procs = [
        ctx.Process(
            target=_worker, args=(scenario_path, profile_path, cfg, share[i], cfg.seed + 1 + i)
        )
        for i in range(cfg.workers)
        if share[i]
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


def _best_progress(progress: Progress) -> Any:
    best = [-float("inf")]

    def callback(study: Any, trial: Any) -> None:
        if trial.values is not None:
            best[0] = max(best[0], trial.values[0])
        progress(best[0])

    return callback


def run_search(
    problem: Simulator,
    cfg: SearchConfig,
    storage: Any,
    scenario_path: str | None = None,
    profile_path: str | None = None,
    progress: Progress | None = None,
) -> Any:
    """Run the search into ``storage``; return the study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(
        storage,
        cfg.study_name,
        cfg.pareto,
        _sampler(cfg.sampler, cfg.seed, cfg.pareto),
        problem.sc.compute_unit,
    )
    if "compute_unit" not in study.user_attrs:  # what `s2d explore` labels the cost axis with
        study.set_user_attr("compute_unit", problem.sc.compute_unit)
    if cfg.workers > 1 and scenario_path is None:
        raise UserError(
            "--workers needs the scenario as a file, so that each worker process can load it."
        )
    if cfg.sampler == "tpe":
        if cfg.workers > 1:
            assert scenario_path is not None
            _run_workers(cfg, cfg.trials, scenario_path, profile_path)
        else:
            callbacks = [_best_progress(progress)] if progress else None
            study.optimize(
                _objective(problem, cfg.pareto), n_trials=cfg.trials, callbacks=callbacks
            )
    elif cfg.workers > 1:
        assert scenario_path is not None
        before = len(study.get_trials(deepcopy=False))
        batch_search(problem, cfg, study, cfg.seed, cfg.trials, progress, phases=("coarse",))
        seeded = len(study.get_trials(deepcopy=False)) - before
        _run_workers(cfg, cfg.trials - seeded, scenario_path, profile_path)
    else:
        batch_search(problem, cfg, study, cfg.seed, cfg.trials, progress)
    return create_study(
        storage, cfg.study_name, cfg.pareto, _sampler(cfg.sampler, cfg.seed, cfg.pareto)
    )


def best_params(study: Any) -> dict[str, Any]:
    return dict(study.best_trial.params)


def pareto_params(study: Any, limit: int = 12) -> list[dict[str, Any]]:
    trials = sorted(
        (t for t in study.best_trials if t.user_attrs.get("valid", True)), key=lambda t: t.values[1]
    )
    if len(trials) > limit:
        trials = [trials[i] for i in np.linspace(0, len(trials) - 1, limit).astype(int)]
    return [dict(t.params) for t in trials]
