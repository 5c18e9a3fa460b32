"""Fit one toy response profile to the measured runs of one or more replication directories.

Each directory is the ``--out`` of run.py (its scenario.yaml and seed*/ runs)
or of ``s2d demo`` (its scenario.yaml and runs);
directories made with different student/teacher pairs fit one profile
together (``planner.calibrate.from_runs.calibrate_from_runs`` with ``others``), starting from
the shipped, uncalibrated toy profile. ``s2d demo`` (student toy:s, teacher
toy:m) plans and predicts with the profile fitted to the s/m replication:

    python examples/toy_replication/run.py --student toy:s --teacher toy:m --out runs/toy_replication_sm
    python examples/toy_replication/fit_toy_profile.py runs/toy_replication_sm \
        --out planner/profiles/response_toy_measured.yaml
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="run.py output directories")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    from planner.calibrate import calibrate_from_runs, run_dirs
    from planner.contracts import atomic_write_text
    from planner.scenario import PROFILE_DIR, load_scenario
    from planner.simulator import Simulator, dump_profile

    start = PROFILE_DIR / "response_toy.yaml"
    groups = []
    for d in args.dirs:
        # always start from the uncalibrated toy profile, whatever the scenario names
        problem = Simulator.create(load_scenario(d / "scenario.yaml"), str(start))
        # a run.py output holds seed*/ comparisons; an `s2d demo --out` holds its runs directly
        seeds = sorted(d.glob("seed*/")) or [d]
        runs = [r for seed in seeds for r in run_dirs(seed)]
        groups.append((problem, runs))
    (problem, runs), others = groups[0], groups[1:]
    report = calibrate_from_runs(problem, runs, others)
    pairs = ", ".join(f"{p.sc.student.path}/{p.sc.teachers[0].path}" for p, _ in groups)
    n = sum(len(r) for _, r in groups)
    profile = replace(
        report.profile,
        name="toy-measured",
        source=f"the toy profile refitted to {len(report.points)} measured accuracies of {n} runs "
        f"of the toy replication (student/teacher {pairs}; examples/toy_replication/fit_toy_profile.py)",
        hardware_overrides={},  # the CPU profile is fitted separately (planner/profiles/hardware.yaml)
    )
    atomic_write_text(args.out, dump_profile(profile))
    errors = [abs(p["error"]) for p in report.points]
    print(
        f"wrote {args.out}: {len(errors)} points, mean absolute error {sum(errors) / len(errors):.1f}, "
        f"max {max(errors):.1f} points"
    )


if __name__ == "__main__":
    main()
