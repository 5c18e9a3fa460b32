"""The paper's comparison and component ablation on the toy world, over several seeds.

For each seed, the workflow plan (plan.yaml beside this file) and every arm of
planner.arms.ROWS run at equal labels: direct GRPO, raw-teacher bridge,
RL-teacher bridge, + stage 3, replay control, OPD only, warmup only. The seed
changes the label split, the prompt draw and every stage's sampling (the plan
seed), not only the last stage. Headline: held-out sampled accuracy (avg@k at
temperature 1); greedy accuracy beside it.

Then the simulator is checked against measurement in two ways, each reporting
the mean absolute error and the Spearman rank correlation of predicted against
measured accuracy:

- held-out arms: calibrated (``s2d calibrate``) on the workflow and
  direct-GRPO runs of every seed, it predicts the rows those runs do not
  contain (raw bridge, replay, OPD only);
- held-out seed: calibrated on the workflow, direct and raw-bridge runs of
  every seed but the last, it predicts every row of the last seed.

(Runs that start from another run's checkpoints, replay and OPD only, cannot
be calibrated on: their plans name checkpoints, not the scenario's models.)

    python examples/toy_replication/run.py [--seeds 0 1 2] [--out runs/toy_replication]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import yaml

HERE = Path(__file__).parent
ALL_ROWS = ("direct", "raw_bridge", "rl_bridge", "full", "replay", "opd_only", "warmup_only")
CALIBRATE_ON = ("workflow", "direct")  # runs the calibration sees
HELD_OUT = ("raw_bridge", "replay", "opd_only")  # rows it must predict


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sx = sum((a - mx) ** 2 for a in rx) ** 0.5
    sy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (sx * sy) if sx and sy else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("runs/toy_replication"))
    ap.add_argument("--lanes", type=int, default=2)
    args = ap.parse_args()

    from planner.plan import load_plan
    from s2d import compare
    from trainer.toy.zoo import build_zoo

    zoo = build_zoo()
    base = load_plan(HERE / "plan.yaml")
    scenario = yaml.safe_load((HERE / "scenario.yaml").read_text())
    scenario["zoo"] = str(zoo.root)
    args.out.mkdir(parents=True, exist_ok=True)
    scenario_path = args.out / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario, sort_keys=False))

    t0 = time.perf_counter()
    per_seed: dict[int, list[dict]] = {}
    comps = {}
    for seed in args.seeds:
        plan = replace(
            base, name=f"{base.name}-seed{seed}", seed=seed, labels=replace(base.labels, seed=seed)
        )
        comp = compare.prepare(plan, args.out / f"seed{seed}", ALL_ROWS)
        started = time.perf_counter()
        compare.execute(
            comp,
            zoo.root,
            args.lanes,
            on_finish=lambda o: print(
                f"  {o.name}: exit {o.returncode} in {o.seconds:.0f} s", flush=True
            ),
        )
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
        per_seed[seed] = compare.table_rows(
            comp, ALL_ROWS, compare.predictions(plan, scenario_path, ALL_ROWS)
        )
        comps[seed] = comp

    def check(runs: list[str], profile: Path, targets: list[tuple[int, str]]) -> dict:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "s2d",
                "calibrate",
                *runs,
                "--scenario",
                str(scenario_path),
                "--out",
                str(profile),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pred, meas = [], []
        for seed in sorted({s for s, _ in targets}):
            calibrated = compare.predictions(comps[seed].plan, scenario_path, ALL_ROWS, profile)
            for row in per_seed[seed]:
                if (seed, row["key"]) in targets:
                    row.setdefault("calibrated", {})[profile.stem] = calibrated.get(row["key"])
                    if calibrated.get(row["key"]) is not None and row["measured"] is not None:
                        pred.append(calibrated[row["key"]])
                        meas.append(row["measured"])
        mae = (
            statistics.fmean(abs(p - m) for p, m in zip(pred, meas, strict=True)) * 100
            if pred
            else float("nan")
        )
        return {
            "mae_points": round(mae, 2),
            "spearman": round(spearman(pred, meas), 3) if len(pred) > 2 else None,
            "n": len(pred),
        }

    arms_check = check(
        [str(comps[s].run_dir(r)) for s in args.seeds for r in CALIBRATE_ON],
        args.out / "calibrated_on_workflow_direct.yaml",
        [(s, k) for s in args.seeds for k in HELD_OUT],
    )
    last = args.seeds[-1]
    seed_check = (
        check(
            [
                str(comps[s].run_dir(r))
                for s in args.seeds[:-1]
                for r in (*CALIBRATE_ON, "raw_bridge")
            ],
            args.out / "calibrated_on_other_seeds.yaml",
            [(last, k) for k in ALL_ROWS],
        )
        if len(args.seeds) > 1
        else {}
    )

    summary = {
        "seeds": args.seeds,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "zoo": str(zoo.root),
        "rows": {},
        "calibration": {
            "held_out_arms": {"calibrated_on": CALIBRATE_ON, "predicted": HELD_OUT, **arms_check},
            "held_out_seed": {"seed": last, **seed_check},
        },
    }
    lines = [
        "| setting | sampled % mean (min-max) | greedy % mean | labels | CPU-s | predicted, default profile | predicted, calibrated on workflow + direct |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ALL_ROWS:
        rows = [next(r for r in per_seed[s] if r["key"] == key) for s in args.seeds]
        meas = [r["measured"] * 100 for r in rows if r["measured"] is not None]
        greedy = [r["greedy"] * 100 for r in rows if r["greedy"] is not None]
        pred = [r["predicted"] * 100 for r in rows if r["predicted"] is not None]
        cal = [
            r["calibrated"]["calibrated_on_workflow_direct"] * 100
            for r in rows
            if (r.get("calibrated") or {}).get("calibrated_on_workflow_direct") is not None
        ]
        summary["rows"][key] = {
            "setting": rows[0]["setting"],
            "sampled": meas,
            "greedy": greedy,
            "predicted": pred,
            "calibrated": cal,
            "labels": rows[0]["labels"],
            "cpu_seconds": [r["cpu_seconds"] for r in rows],
        }
        fmt = lambda v: f"{statistics.fmean(v):.1f}" if v else "-"  # noqa: E731
        spread = f" ({min(meas):.1f}-{max(meas):.1f})" if meas else ""
        lines.append(
            f"| {rows[0]['setting']} | {fmt(meas)}{spread} | {fmt(greedy)} | {rows[0]['labels']} | {statistics.fmean(r['cpu_seconds'] for r in rows):.0f} | {fmt(pred)} | {fmt(cal)} |"
        )
    lines.append("")
    lines.append(
        f"Held-out arms (calibrated on the {', '.join(CALIBRATE_ON)} runs, predicting {', '.join(HELD_OUT)}): "
        f"mean absolute error {arms_check['mae_points']:.1f} points, Spearman {arms_check['spearman']}, n={arms_check['n']}."
    )
    if seed_check:
        lines.append(
            f"Held-out seed (calibrated on seeds {args.seeds[:-1]}, predicting every row of seed {last}): "
            f"mean absolute error {seed_check['mae_points']:.1f} points, Spearman {seed_check['spearman']}, n={seed_check['n']}."
        )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
