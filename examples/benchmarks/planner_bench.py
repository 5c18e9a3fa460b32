"""Planner benchmark: simulator throughput, and `s2d plan`'s search beside plain Optuna TPE.

    python examples/benchmarks/planner_bench.py [SCENARIO] [--trials N] [--seeds K]

Reports (1) vectorised plan evaluations per second (decode + cost + response),
(2) the reference grid's best, and (3) for each seed, the best objective, the
gap to the grid (points) and the wall time of the default search ("s2d": TPE
with a vectorised screen and refinement) and of plain TPE with default
settings, both on the same objective, trial budget and journal storage.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from planner.scenario import load_scenario
from planner.search import grid_search, make_plans, space
from planner.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]


def throughput(problem: Simulator, n: int = 200_000, repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    arrays = space.random_arrays(problem, n, rng)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        problem.evaluate(*arrays)
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "examples" / "paper_scenario.yaml"))
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    problem = Simulator.create(load_scenario(args.scenario))
    print(f"simulator: {throughput(problem):,.0f} plan evaluations/s (vectorised, 200k plans)")
    grid = grid_search(problem)
    print(
        f"grid: best {100 * grid.best_objective:.3f} over {grid.evaluated:,} points in {grid.seconds:.2f} s"
    )
    print(f"{'sampler':8} {'seed':>4} {'best %':>8} {'gap pts':>8} {'seconds':>8}")
    for sampler in ("s2d", "tpe"):
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                res = make_plans(
                    args.scenario, out=tmp, trials=args.trials, seed=seed, sampler=sampler
                )
                seconds = time.perf_counter() - start
            best = res.best.prediction.final_accuracy if res.best else float("nan")
            print(
                f"{sampler:8} {seed:>4} {100 * best:8.3f} {100 * (best - grid.best_objective):+8.3f} {seconds:8.2f}"
            )


if __name__ == "__main__":
    main()
