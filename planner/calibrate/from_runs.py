"""Calibration from measured runs: read run directories, refit the response model and the hardware.

Each run directory holds the executed plan (plan.yaml) and its event log. Every
``eval`` event on the scenario's benchmark after a training stage becomes an
observation: the plan truncated after that stage is the allocation, the
measured accuracy is the target, and its standard error is the binomial one
for n problems x k samples (at least 0.5 points). Parameters marked ``fit`` in
the starting profile are refitted with the starting values as priors
(sd 0.5 in log space), so a few runs nudge the model instead of replacing it.
Measured compute (``stage_end`` spend) against predicted gives one time factor
for the hardware, applied to its overhead and utilisation figures. A run that
starts from another run's checkpoint (the replay control, the OPD-only
ablation) is read as its from-scratch pipeline (planner/simulator/lineage.py), so its
origin run directory must still exist. A parameter whose profile entry gives
``calibration_sd_log`` gets that prior width instead: figures the paper
pins only loosely, or that differ between worlds, may move further. An eval
whose accuracy is not a fraction 0..1 (NaN, inf, negative, a percentage) or
whose counts are not counts refuses the calibration: one message naming the
run, the stage, the benchmark and the value, before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from planner.calibrate.map_fit import Observation, fit_response, predicted
from planner.contracts.errors import UserError
from planner.contracts.plan import load_plan
from planner.contracts.rundir import RunDir
from planner.contracts.runlog import Spend, read_events
from planner.simulator.lineage import from_scratch
from planner.simulator.plans import ROLE_OUTPUT, plan_inputs
from planner.simulator.response import Profile, ResponseParams
from planner.simulator.response_v2 import SecondParams
from planner.simulator.simulator import Simulator

PRIOR_SD_LOG = 0.5


@dataclass
class CalibrationReport:
    profile: Profile
    points: list[dict[str, Any]]
    hardware: dict[str, dict[str, float]]
    fitted: list[str]


def _where(run_dir: Path, stage: str, benchmark: Any) -> str:
    return f"{run_dir}: the eval of stage {stage!r} on benchmark {benchmark!r}"


def measured_accuracy(run_dir: Path, stage: str, benchmark: Any, value: Any) -> float:
    """An eval's accuracy as a fraction 0..1; anything else refuses the whole calibration."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and math.isfinite(value) and 0.0 <= value <= 1.0:
        return float(value)
    hint = " (a percentage?)" if ok and 1.0 < value <= 100.0 else ""
    raise UserError(
        f"{_where(run_dir, stage, benchmark)} has accuracy {value!r}{hint}; accuracies are fractions 0..1. "
        "Fix or remove that line of events.jsonl, or leave the run out; nothing was written."
    )


def _count(run_dir: Path, stage: str, benchmark: Any, name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise UserError(
        f"{_where(run_dir, stage, benchmark)} has {name} {value!r}, not a count of problems or samples; nothing was written."
    )


def observations_from_run(
    problem: Simulator, run_dir: Path
) -> tuple[list[Observation], list[tuple[float, float]]]:
    """Accuracy observations and (measured, predicted) compute pairs of one run directory."""
    rd = RunDir(run_dir)
    if not rd.plan.is_file() or not rd.events.is_file():
        raise UserError(
            f"{run_dir} is not a run directory (it needs {rd.PLAN} and {rd.EVENTS}); give directories written by `s2d run`."
        )
    plan = from_scratch(load_plan(rd.plan))
    events = read_events(rd.events)
    ids = [s.id for s in plan.stages]
    obs, compute = [], []
    _, per_stage, roles = plan_inputs(problem, plan)
    for ev in events:
        stage = ev.get("stage")
        if ev.kind == "stage_end" and stage in per_stage and ev.get("spent"):
            measured = getattr(Spend.from_dict(ev["spent"]), problem.sc.compute_unit)
            if measured > 0 and per_stage[stage] > 0:
                compute.append((float(measured), per_stage[stage]))
        if (
            ev.kind != "eval"
            or stage not in ids
            or ev["benchmark"] != problem.sc.benchmark
            or roles.get(stage) not in ROLE_OUTPUT
        ):
            continue
        truncated = replace(plan, stages=plan.stages[: ids.index(stage) + 1])
        inputs, _, _ = plan_inputs(problem, truncated)
        acc = measured_accuracy(run_dir, stage, ev["benchmark"], ev["accuracy"])
        n = max(
            _count(run_dir, stage, ev["benchmark"], "n", ev["n"])
            * max(_count(run_dir, stage, ev["benchmark"], "k", ev["k"]), 1),
            1,
        )
        sd = max(math.sqrt(max(acc * (1 - acc), 1e-4) / n), 0.005)
        obs.append(
            Observation(
                f"{run_dir.name}:{stage}",
                inputs,
                ROLE_OUTPUT[roles[stage]],
                acc,
                sd,
                problem.sc.benchmark,
            )
        )
    return obs, compute


def _hardware_fit(
    problem: Simulator, compute: list[tuple[float, float]]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """The hardware's utilisation scaled by measured / predicted compute: report and overrides."""
    hardware: dict[str, dict[str, float]] = {}
    overrides = dict(problem.profile.hardware_overrides)
    if compute:
        ratio = sum(m for m, _ in compute) / sum(p for _, p in compute)
        hw = problem.sc.hardware
        for name, value in (
            ("decode_step_overhead_s", hw.decode_step_overhead_s * ratio),
            ("train_mfu", hw.train_mfu / ratio),
            ("score_mfu", hw.score_mfu / ratio),
            ("prefill_mfu", hw.prefill_mfu / ratio),
            ("decode_bandwidth_util", hw.decode_bandwidth_util / ratio),
        ):
            hardware[name] = {"before": getattr(hw, name), "after": value, "ratio": ratio}
            overrides[name] = value
    return hardware, overrides


def record_of_run(problem: Simulator, run_dir: Path) -> dict[str, Any]:
    """A run directory as a measured-runs record, its model facts from ``problem``'s scenario.

    The form of planner/calibrate/records.py (a toy run's own record takes its facts
    from the zoo instead): the from-scratch pipeline, ``own`` where this run trained,
    the accuracy after each stage on the scenario's benchmark. A run that starts from
    another run's checkpoint measures that checkpoint as its ``base``.
    """
    from planner.simulator import second
    from planner.simulator.plans import _teacher_profile

    rd = RunDir(run_dir)
    if not rd.plan.is_file() or not rd.events.is_file():
        raise UserError(
            f"{run_dir} is not a run directory (it needs {rd.PLAN} and {rd.EVENTS}); give directories written by `s2d run`."
        )
    plan = load_plan(rd.plan)
    full = from_scratch(plan)
    own = {s.id for s in plan.stages}
    rec = second.plan_record(problem.sc, full, _teacher_profile(problem, full))
    rec.update(setting=f"calibration/{run_dir.name}", arm=run_dir.name)
    for row in rec["stages"]:
        row["own"] = row["id"] in own
    inherited = [s.id for s in full.stages if s.id not in own and s.model == "student"]
    ids = {s.id for s in full.stages}
    bench = problem.sc.benchmark
    for ev in read_events(rd.events):
        stage = ev.get("stage")
        if (
            ev.kind != "eval"
            or ev.get("benchmark") != bench
            or (stage not in ids and stage != "base")
        ):
            continue
        key = (inherited[-1] if inherited else "base") if stage == "base" else stage
        rec["measured"][key] = {
            "accuracy": measured_accuracy(run_dir, stage, bench, ev["accuracy"]),
            "n": _count(run_dir, stage, bench, "n", ev["n"]),
            "k": _count(run_dir, stage, bench, "k", ev["k"]),
        }
    return rec


def _calibrate_second(problem: Simulator, run_dirs: list[Path]) -> CalibrationReport:
    """Move the second model's fit toward these runs (``fit_v2.update``), hardware scaled as for the first."""
    from planner.calibrate.fit_v2 import update
    from planner.calibrate.records import points
    from planner.simulator.pipelines import features

    start = problem.profile
    assert isinstance(start.params, SecondParams)
    own = [record_of_run(problem, Path(d)) for d in run_dirs]
    rows = [(r, s) for r in own for s in points(r)]
    if not rows:
        raise UserError(
            f"no eval events on benchmark {problem.sc.benchmark!r} after a training stage in {', '.join(map(str, run_dirs))}; run plans with evaluation after each stage, or pick the scenario whose benchmark they measured."
        )
    compute: list[tuple[float, float]] = []
    for d in run_dirs:
        compute += observations_from_run(problem, Path(d))[1]
    before = [
        float(v)
        for v in start.params.fitted.predict_points(features(rows, start.params.fitted.shifted))[0]
    ]
    fitted = update(start.params.fitted, own)
    after = [float(v) for v in fitted.predict_many(rows)[0]]
    point_rows = [
        {
            "run": rec["arm"],
            "stage": stage,
            "measured": float(rec["measured"][stage]["accuracy"]),
            "prior": prior,
            "predicted": post,
            "error": round(100 * (post - float(rec["measured"][stage]["accuracy"])), 2),
        }
        for (rec, stage), prior, post in zip(rows, before, after, strict=True)
    ]
    hardware, overrides = _hardware_fit(problem, compute)
    refit = Profile(
        name=f"{start.name}+calibrated",
        params=SecondParams(
            fitted.plain(),
            start.params.band_z,
            start.params.interpolated_sd_factor,
        ),
        priors={},
        source=f"{start.source}; moved toward {len(rows)} measured point(s) of {len(own)} run(s) of {problem.sc.name}",
        hardware_overrides=overrides,
        fit_report=point_rows,
    )
    return CalibrationReport(refit, point_rows, hardware, list(fitted.names))


def calibration_priors(start: Profile) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The parameters a calibration refits (marked ``fit``) and their priors: the profile's values."""
    names = [n for n, meta in start.priors.items() if meta.get("fit")]
    priors = {
        n: {
            "prior": getattr(start.params, n),
            "sd_log": float(start.priors[n].get("calibration_sd_log", PRIOR_SD_LOG)),
        }
        for n in names
    }
    return names, priors


def calibrate_from_runs(
    problem: Simulator,
    run_dirs: list[Path],
    others: Sequence[tuple[Simulator, Sequence[Path]]] = (),
) -> CalibrationReport:
    """Refit ``problem``'s profile to its runs, plus the accuracy of runs planned under ``others``.

    ``others`` pairs other scenarios (e.g. another student/teacher pair on the same
    world) with their runs: their accuracies join the fit, so one profile serves
    both; compute is fitted on ``problem``'s own runs only (its hardware).
    """
    if isinstance(problem.profile.params, SecondParams):
        return _calibrate_second(problem, [*run_dirs, *(Path(d) for _, ds in others for d in ds)])
    observations, compute = [], []
    for d in run_dirs:
        o, c = observations_from_run(problem, Path(d))
        observations += o
        compute += c
    for other, dirs in others:
        for d in dirs:
            observations += observations_from_run(other, Path(d))[0]
    run_dirs = [*run_dirs, *(Path(d) for _, dirs in others for d in dirs)]
    if not observations:
        raise UserError(
            f"no eval events on benchmark {problem.sc.benchmark!r} after a training stage in {', '.join(map(str, run_dirs))}; run plans with evaluation after each stage, or pick the scenario whose benchmark they measured."
        )
    start = problem.profile
    assert isinstance(start.params, ResponseParams)  # refused above
    names, priors = calibration_priors(start)
    before = [predicted(o, start.params) for o in observations]  # keys repeat across seeds
    fit = fit_response(start.params, observations, names, priors, max_evals=3000)
    points = [
        {
            "run": o.key.rsplit(":", 1)[0],
            "stage": o.key.rsplit(":", 1)[1],
            "measured": o.accuracy,
            "prior": prior,
            "predicted": predicted(o, fit.params),
            "error": round(100 * (predicted(o, fit.params) - o.accuracy), 2),
        }
        for o, prior in zip(observations, before, strict=True)
    ]
    hardware, overrides = _hardware_fit(problem, compute)
    profile = Profile(
        name=f"{start.name}+calibrated",
        params=fit.params,
        priors=start.priors,
        source=f"{start.source}; refitted to {len(observations)} measured point(s) from {len(run_dirs)} run(s)",
        hardware_overrides=overrides,
        fit_report=[
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in p.items()} for p in points
        ],
    )
    return CalibrationReport(profile, points, hardware, names)
