"""Out-of-sample checks of the simulator against measured comparisons (cross-validation).

A comparison directory holds one run per arm (``workflow``, ``direct``,
``raw_bridge``, ``replay``, ``opd_only``; see planner/calibrate/arms.py), each with
plan.yaml and events.jsonl. Two checks are built on it: leave one comparison
out (calibrate on every run of the others, predict every row of the one left
out) and held-out arms (calibrate on some arms of every comparison, predict
the other arms' rows). Each reports the mean absolute error in accuracy
points and Spearman's rank correlation of predicted against measured, the
figures the toy replication quotes. Rows are predicted from the workflow plan
with ``planner.calibrate.arms.prediction_plan``, i.e. each arm as its from-scratch
pipeline, as ``s2d compare`` predicts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from planner.calibrate.arms import ROWS
from planner.calibrate.from_runs import measured_accuracy
from planner.contracts.plan import load_plan
from planner.contracts.rundir import RunDir
from planner.contracts.runlog import read_events
from planner.simulator.plans import simulate_plan
from planner.simulator.response import Profile
from planner.simulator.simulator import Simulator

ALL_ROWS = tuple(r.key for r in ROWS)


@dataclass
class Validation:
    """Predicted against measured accuracy (0..1), one pair per (comparison, row)."""

    pairs: list[tuple[str, float, float]] = field(default_factory=list)  # key, predicted, measured

    @property
    def n(self) -> int:
        return len(self.pairs)

    @property
    def mae_points(self) -> float:
        return 100.0 * float(np.mean([abs(p - m) for _, p, m in self.pairs]))

    @property
    def spearman(self) -> float:
        return spearman([p for _, p, _ in self.pairs], [m for _, _, m in self.pairs])


def _ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, ties sharing their mean rank."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):
        tied = v == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson on mid-ranks); nan when either side is constant."""
    rx, ry = _ranks(x), _ranks(y)
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def measured_rows(root: Path, benchmark: str, rows: Sequence[str] = ALL_ROWS) -> dict[str, float]:
    """Each row's measured accuracy: the last eval after the row's stage in its run (absent rows left out).

    An accuracy that is not a fraction 0..1 refuses the check, as it refuses a calibration
    (planner.calibrate.from_runs): one message naming the run, the stage, the benchmark and the value.
    """
    out: dict[str, float] = {}
    for row in ROWS:
        run_dir = Path(root) / row.run
        path = RunDir(run_dir).events
        if row.key not in rows or not path.is_file():
            continue
        for e in read_events(path):
            if e.kind == "eval" and e.get("stage") == row.stage and e.get("benchmark") == benchmark:
                out[row.key] = measured_accuracy(run_dir, row.stage, benchmark, e.get("accuracy"))
    return out


def predicted_rows(
    problem: Simulator, root: Path, rows: Sequence[str] = ALL_ROWS
) -> dict[str, float]:
    """Each row's predicted accuracy from the comparison's workflow plan."""
    from planner.calibrate.arms import prediction_plan

    plan = load_plan(RunDir(Path(root) / "workflow").plan)
    out = {}
    for row in ROWS:
        if row.key not in rows:
            continue
        pred = simulate_plan(problem, prediction_plan(plan, row.key)).prediction
        assert pred is not None
        out[row.key] = pred.stages[row.stage].accuracy
    return out


def run_dirs(root: Path, runs: Sequence[str] | None = None) -> list[Path]:
    """The run directories of a comparison (those with a plan), optionally only the named arms."""
    return sorted(
        d
        for d in Path(root).iterdir()
        if RunDir(d).plan.is_file()
        and RunDir(d).events.is_file()
        and (runs is None or d.name in runs)
    )


Calibrate = Callable[[Simulator, list[Path]], Profile]


def _calibrated(problem: Simulator, dirs: list[Path], calibrate: Calibrate | None) -> Simulator:
    from dataclasses import replace

    from planner.calibrate.from_runs import calibrate_from_runs

    profile = calibrate(problem, dirs) if calibrate else calibrate_from_runs(problem, dirs).profile
    # the hardware refit only moves compute, which these checks do not score
    return replace(problem, profile=profile)


def _score(
    problem: Simulator, roots: Sequence[Path], rows: Sequence[str], into: Validation
) -> None:
    for root in roots:
        measured = measured_rows(root, problem.sc.benchmark, rows)
        predicted = predicted_rows(problem, root, list(measured))
        for key, m in measured.items():
            into.pairs.append((f"{Path(root).name}:{key}", predicted[key], m))


def leave_one_out(
    problem: Simulator,
    roots: Sequence[Path],
    runs: Sequence[str] | None = None,
    rows: Sequence[str] = ALL_ROWS,
    calibrate: Calibrate | None = None,
) -> Validation:
    """Calibrate on the ``runs`` of all comparisons but one, predict the ``rows`` of that one; every fold."""
    result = Validation()
    for i, held in enumerate(roots):
        train = [d for j, r in enumerate(roots) if j != i for d in run_dirs(r, runs)]
        _score(_calibrated(problem, train, calibrate), [held], rows, result)
    return result


def held_out_arms(
    problem: Simulator,
    roots: Sequence[Path],
    train_runs: Sequence[str] = ("workflow", "direct", "raw_bridge"),
    test_rows: Sequence[str] = ("replay", "opd_only"),
    calibrate: Calibrate | None = None,
) -> Validation:
    """Calibrate on ``train_runs`` of every comparison, predict ``test_rows`` of every comparison."""
    train = [d for r in roots for d in run_dirs(r, train_runs)]
    result = Validation()
    _score(_calibrated(problem, train, calibrate), roots, test_rows, result)
    return result
