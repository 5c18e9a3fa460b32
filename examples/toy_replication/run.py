"""The paper's comparison and component ablation on the toy world, over several seeds.

For each seed, the workflow plan (plan.yaml beside this file: student toy:m,
teacher toy:l) and every arm of planner.calibrate.arms.ROWS run at equal labels: direct
GRPO, raw-teacher bridge, RL-teacher bridge, + stage 3, replay control, OPD
only, warmup only. The seed changes the label split, the prompt draw and every
stage's sampling (the plan seed), not only the last stage. Headline: held-out
sampled accuracy (avg@k at temperature 1); greedy accuracy beside it.
``--student`` / ``--teacher`` swap the pair (e.g. ``toy:s`` / ``toy:m``).

Then the simulator is checked against measurement (planner/calibrate/crossval.py,
``s2d calibrate`` underneath), each check reporting the mean absolute error in
points and the Spearman rank correlation of predicted against measured:

- held-out seed: calibrated on every run of the other seeds, it predicts all
  seven rows of the seed left out; every seed in turn;
- held-out arms: calibrated on the workflow, direct-GRPO and raw-bridge runs of
  every seed, it predicts the replay and OPD-only rows, arms whose effect it
  never saw.

    python examples/toy_replication/run.py [--seeds 0 1 2] [--out runs/toy_replication]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import yaml

HERE = Path(__file__).parent
ALL_ROWS = ("direct", "raw_bridge", "rl_bridge", "full", "replay", "opd_only", "warmup_only")
ARMS_TRAIN = ("workflow", "direct", "raw_bridge")  # what the held-out-arms calibration sees
ARMS_TEST = ("replay", "opd_only")  # rows it must predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("runs/toy_replication"))
    ap.add_argument("--lanes", type=int, default=2, help="runs side by side within a seed")
    ap.add_argument(
        "--student", default=None, help="toy model for the student (default: plan.yaml's)"
    )
    ap.add_argument(
        "--teacher", default=None, help="toy model for the teacher (default: plan.yaml's)"
    )
    args = ap.parse_args()

    from planner.calibrate import held_out_arms, leave_one_out
    from planner.contracts import ModelRef, load_plan
    from planner.scenario import load_scenario
    from planner.simulator import Simulator
    from s2d import compare
    from trainer.toy.zoo import build_zoo

    base = load_plan(HERE / "plan.yaml")
    scenario = yaml.safe_load((HERE / "scenario.yaml").read_text())
    for role, ref in (("student", args.student), ("teacher", args.teacher)):
        if ref:
            base = replace(base, **{role: ModelRef(name=ref.replace(":", "-"), path=ref)})
            if role == "student":
                scenario["student"] = ref
            else:
                scenario["teachers"] = [ref]
    pair = [m.path.removeprefix("toy:") for m in (base.student, base.teacher) if m is not None]
    zoo = build_zoo(models=pair)
    scenario["zoo"] = str(zoo.root)
    args.out.mkdir(parents=True, exist_ok=True)
    scenario_path = args.out / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario, sort_keys=False))

    t0 = time.perf_counter()
    per_seed: dict[int, list[dict]] = {}
    roots: dict[int, Path] = {}
    for seed in args.seeds:
        plan = replace(
            base, name=f"{base.name}-seed{seed}", seed=seed, labels=replace(base.labels, seed=seed)
        )
        roots[seed] = args.out / f"seed{seed}"
        comp = compare.prepare(plan, roots[seed], ALL_ROWS)
        started = time.perf_counter()
        compare.execute(
            comp,
            zoo.root,
            args.lanes,
            on_finish=compare.print_outcome,
        )
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
        per_seed[seed] = compare.table_rows(
            comp, ALL_ROWS, compare.predictions(plan, scenario_path, ALL_ROWS)
        )

    problem = Simulator.create(load_scenario(scenario_path))
    dirs = [roots[s] for s in args.seeds]
    seed_check = leave_one_out(problem, dirs) if len(dirs) > 1 else None
    arms_check = held_out_arms(problem, dirs, ARMS_TRAIN, ARMS_TEST)
    held_out_pred = {key: p for key, p, _ in (seed_check.pairs if seed_check else [])}

    def check(v) -> dict:
        return {
            "n": v.n,
            "mae_points": round(v.mae_points, 2),
            "spearman": round(v.spearman, 3),
            "pairs": [
                {"row": k, "predicted": round(p, 4), "measured": round(m, 4)} for k, p, m in v.pairs
            ],
        }

    summary: dict = {
        "seeds": args.seeds,
        "student": base.student.path,
        "teacher": base.teacher.path if base.teacher else None,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "zoo": str(zoo.root),
        "rows": {},
        "calibration": {
            "held_out_seed": check(seed_check) if seed_check else None,
            "held_out_arms": {
                "calibrated_on": ARMS_TRAIN,
                "predicted": ARMS_TEST,
                **check(arms_check),
            },
        },
    }
    lines = [
        f"Student {base.student.path}, teacher {base.teacher.path if base.teacher else '-'}, seeds {', '.join(map(str, args.seeds))}.",
        "",
        "| setting | sampled % mean (min-max) | greedy % | labels | CPU-s | predicted, default profile | predicted, calibrated on the other seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: f"{statistics.fmean(v):.1f}" if v else "-"  # noqa: E731
    for key in ALL_ROWS:
        rows = [next(r for r in per_seed[s] if r["key"] == key) for s in args.seeds]
        meas = [r["measured"] * 100 for r in rows if r["measured"] is not None]
        greedy = [r["greedy"] * 100 for r in rows if r["greedy"] is not None]
        pred = [r["predicted"] * 100 for r in rows if r["predicted"] is not None]
        cal = [
            100 * held_out_pred[f"seed{s}:{key}"]
            for s in args.seeds
            if f"seed{s}:{key}" in held_out_pred
        ]
        summary["rows"][key] = {
            "setting": rows[0]["setting"],
            "sampled": meas,
            "greedy": greedy,
            "predicted": pred,
            "predicted_held_out_seed": cal,
            "labels": rows[0]["labels"],
            "cpu_seconds": [r["cpu_seconds"] for r in rows],
        }
        spread = f" ({min(meas):.1f}-{max(meas):.1f})" if meas else ""
        lines.append(
            f"| {rows[0]['setting']} | {fmt(meas)}{spread} | {fmt(greedy)} | {rows[0]['labels']} | {statistics.fmean(r['cpu_seconds'] for r in rows):.0f} | {fmt(pred)} | {fmt(cal)} |"
        )
    lines.append("")
    if seed_check:
        lines.append(
            f"Held-out seed (calibrated on every run of the other seeds, predicting all rows of the seed left out, each seed in turn): "
            f"mean absolute error {seed_check.mae_points:.1f} points, Spearman {seed_check.spearman:.2f}, n={seed_check.n}."
        )
    lines.append(
        f"Held-out arms (calibrated on the {', '.join(ARMS_TRAIN)} runs of every seed, predicting {', '.join(ARMS_TEST)}): "
        f"mean absolute error {arms_check.mae_points:.1f} points, Spearman {arms_check.spearman:.2f}, n={arms_check.n}."
    )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
