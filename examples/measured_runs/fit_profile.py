"""Fit the second response model to the measured-runs records and write it as a planner profile.

    python examples/measured_runs/fit_profile.py            # -> planner/profiles/response_v2.yaml
    python examples/measured_runs/fit_profile.py --records more.jsonl --out my_v2.yaml

The profile is what ``s2d plan/simulate --profile FILE`` reads
(planner/simulator/second.py): the fitted parameters in their free space,
their posterior covariance and the structural spread per world
(planner/calibrate/fit_v2.py). The shipped profile is this script's output on
the packaged dataset; a test refits it and compares, so a dataset that grew
without a refit fails there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

SHIPPED = REPO / "planner" / "profiles" / "response_v2.yaml"


def main(argv: list[str] | None = None) -> int:
    from planner.calibrate.fit_v2 import second_profile
    from planner.calibrate.records import DATASET, load_records
    from planner.contracts.files import atomic_write_text
    from planner.simulator.response import dump_profile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=Path, default=DATASET, help="measured-runs JSONL")
    ap.add_argument("--out", type=Path, default=SHIPPED, help="profile to write")
    args = ap.parse_args(argv)
    profile = second_profile(load_records(args.records), str(args.records.name))
    atomic_write_text(args.out, dump_profile(profile))
    print(f"wrote {args.out}: {profile.source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
