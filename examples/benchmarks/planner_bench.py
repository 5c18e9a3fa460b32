"""Planner benchmark: time to the optimum for the grid, plain Optuna TPE and `s2d plan`, side by side.

    python examples/benchmarks/planner_bench.py [SCENARIO] [--trials N] [--seeds K]

For the scenario (default: the paper's) and for a larger space (the same
scenario with every shipped model profile other than the student as a
candidate teacher; budgets per stage and the label split free, as always), it
prints the simulator's throughput, then for the reference grid and for each
seed of plain TPE (``--sampler tpe``) and of the default search (``s2d``), run
through ``make_plans`` on a journal file as ``s2d plan`` runs them: the best
objective, its gap to the grid, the CPU time (time.process_time) until the
best was within 0.05 points of the best known optimum (the best any method
found in this run), and the whole call's CPU and wall time (storage writes and
emitted plans included). The s2d search reports progress after each round,
plain TPE after each trial.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from planner.scenario import load_scenario
from planner.scenario.models import PROFILE_DIR
from planner.search import grid_search, make_plans, space
from planner.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
WITHIN = 0.0005  # 0.05 points


def throughput(problem: Simulator, n: int = 200_000, repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    arrays = space.random_arrays(problem, n, rng)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        problem.evaluate(*arrays)
        best = min(best, time.perf_counter() - start)
    return n / best


def all_teachers(scenario: Path, out: Path) -> Path:
    """The scenario with every shipped model other than its student as a candidate teacher."""
    data = yaml.safe_load(scenario.read_text())
    shipped = yaml.safe_load((PROFILE_DIR / "models.yaml").read_text())["models"]
    data["teachers"] = [name for name in shipped if name != data["student"]]
    data["name"] = f"{data['name']}-all-teachers"
    path = out / "all_teachers.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(scenario: Path, sampler: str, trials: int, seed: int) -> dict:
    trace: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall = time.process_time(), time.perf_counter()
        res = make_plans(
            scenario,
            out=tmp,
            trials=trials,
            seed=seed,
            sampler=sampler,
            progress=lambda best: trace.append((time.process_time() - cpu, best)),
        )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    best = res.best.prediction.final_accuracy if res.best else float("nan")
    return {"best": best, "trace": trace, "cpu": cpu, "wall": wall}


def to_target(trace: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, best in trace if best >= target), None)


def bench(scenario: Path, trials: int, seeds: int) -> None:
    problem = Simulator.create(load_scenario(scenario))
    sc = problem.sc
    print(
        f"\n{sc.name}: {len(sc.teachers)} teachers ({', '.join(t.name for t in sc.teachers)}); "
        f"simulator {throughput(problem):,.0f} plan evaluations/s (vectorised, 200k plans)"
    )
    cpu = time.process_time()
    grid = grid_search(problem)
    grid_cpu = time.process_time() - cpu
    runs = {s: [run(scenario, s, trials, seed) for seed in range(seeds)] for s in ("tpe", "s2d")}
    known = max([grid.best_objective] + [r["best"] for rs in runs.values() for r in rs])
    target = known - WITHIN
    print(
        f"best known optimum {100 * known:.3f}% (grid {grid.evaluated:,} points); target {100 * target:.3f}%"
    )
    print(
        f"{'method':7} {'seed':>4} {'best %':>8} {'vs grid':>8} {'to target cpu s':>16} {'total cpu s':>12} {'wall s':>7}"
    )
    grid_hit = grid_cpu if grid.best_objective >= target else None
    print(
        f"{'grid':7} {'-':>4} {100 * grid.best_objective:8.3f} {0:+8.3f} {_s(grid_hit):>16} {grid_cpu:12.3f} {grid.seconds:7.3f}"
    )
    hits: dict[str, list[float | None]] = {"grid": [grid_hit]}
    for sampler, rs in runs.items():
        hits[sampler] = []
        for seed, r in enumerate(rs):
            hit = to_target(r["trace"], target)
            hits[sampler].append(hit)
            print(
                f"{sampler:7} {seed:>4} {100 * r['best']:8.3f} {100 * (r['best'] - grid.best_objective):+8.3f} {_s(hit):>16} {r['cpu']:12.3f} {r['wall']:7.3f}"
            )
    summary = {k: _median(v) for k, v in hits.items()}
    ratio = (
        f"{summary['tpe'] / summary['s2d']:.0f}x faster than plain TPE"
        if summary["tpe"] and summary["s2d"]
        else "plain TPE did not get there in every run"
    )
    print(
        f"time to within 0.05 points (CPU, median of {seeds}): grid {_s(summary['grid'])}, "
        f"plain TPE {_s(summary['tpe'])}, s2d plan {_s(summary['s2d'])} ({ratio})"
    )


def _s(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.3f}"


def _median(values: list[float | None]) -> float | None:
    """Median time, or None when any run missed the target."""
    return None if any(v is None for v in values) else statistics.median(v for v in values if v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "examples" / "paper_scenario.yaml"))
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_plans(args.scenario, out=tmp, trials=5)  # imports and caches, outside the timings
        make_plans(args.scenario, out=tmp, trials=5, sampler="tpe")
        print(f"{args.trials} trials per search, {args.seeds} seeds, journal storage")
        bench(Path(args.scenario), args.trials, args.seeds)
        bench(all_teachers(Path(args.scenario), Path(tmp)), args.trials, args.seeds)


if __name__ == "__main__":
    main()
