"""The response models against the measured-runs dataset: the planner's validation table.

For each model (v1: planner/simulator/response.py refitted as `s2d calibrate`
does; v2: planner/simulator/response_v2.py fitted by planner/calibrate/fit_v2.py)
it runs the checks of planner/calibrate/validate.py on
planner/data/measured_runs.jsonl and prints one markdown table (also written
to --out as JSON with every prediction):

    python examples/measured_runs/validate.py [--records FILE] [--out runs/validation.json]

Leave one pair out and leave one arm out score toy points the fit did not
see; v2 is fitted jointly on the other toy records and the paper's figures,
v1 (which has one world's parameters) on the toy records alone. The paper's
figures are scored in sample: each one is a point the fit saw (v2's fit is
the joint one, on every record). v2's toy band takes its structural term from
leaving one pair out over the fit's own pairs (planner/calibrate/fit_v2.py,
``transfer_sd``): inside each held-out fold that cross-validation sees the
fold's training pairs only, so the coverage is out of sample too;
``v2-in-sample-sd`` is the same fit with the in-sample spread instead. Then the
decision each setting asks (direct GRPO, the raw-teacher bridge, the RL-teacher
bridge, or the bridge and stage 3), chosen by a fit that never saw the
setting's pair, against the workflow measured best: the regret in points.
Last, two transfer checks, runs no fit saw, each predicted by each model
fitted as for its in-sample check (v1 on the toy records, v2 on them and the
paper's figures), with the table of those predictions: *the planners' plans*
(planner/data/planner_plan_runs.jsonl: the plans `s2d plan` chose for the toy
scenario, run on the dataset's zoo) and *another zoo build*
(planner/data/rebuilt_zoo_runs.jsonl: the planners' plans and one `s2d demo`
run on a zoo the same config built on another CPU kind, so other models).
`--transfer FILE ...` scores other files instead, each under its file name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=Path, default=None)
    ap.add_argument(
        "--transfer",
        type=Path,
        nargs="+",
        default=None,
        help="record files to score as transfer checks (default: the planners' plans and the "
        "rebuilt zoo's runs)",
    )
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "validation.json")
    ap.add_argument(
        "--models",
        nargs="+",
        default=["v1", "v2", "v2-in-sample-sd"],
        choices=["v1", "v2", "v2-in-sample-sd"],
    )
    args = ap.parse_args()

    from planner import calibrate as V
    from planner.calibrate import SecondModel
    from planner.scenario import PROFILE_DIR

    recs = V.load_records(args.records or V.DATASET)
    transfers = (
        {path.name: V.load_records(path) for path in args.transfer}
        if args.transfer
        else {
            "the planners' plans": V.load_records(V.PLANNER_PLANS),
            "another zoo build": V.load_records(V.REBUILT_ZOO),
        }
    )
    paper = [r for r in recs if r["world"] == "paper"]
    toy = V.toy_records(recs)
    settings = sorted({r["setting"] for r in toy})
    print(
        f"{len(recs)} records: {len(toy)} toy runs in {len(settings)} settings "
        f"({', '.join(V.pairs(recs))}), {len(paper)} paper figures"
    )
    # model, what joins each fit beside the toy records, the fit the paper is scored on (v1
    # has one world's parameters: the paper's own profile refitted to the paper alone; v2 is
    # fitted on every record at once, so its shared parameters serve both worlds), and the
    # model that decides (None: none). The cross-validated band is the toy world's alone and
    # does not move the means: v2's paper figures and decisions are scored without it.
    first = V.FirstModel()
    in_sample_sd = SecondModel(transfer=False, name="response model v2, in-sample structural sd")
    models = {
        "v1": (first, (), V.FirstModel(str(PROFILE_DIR / "response_paper.yaml")), paper, first),
        "v2": (SecondModel(), paper, in_sample_sd, recs, in_sample_sd),
        "v2-in-sample-sd": (in_sample_sd, paper, in_sample_sd, recs, None),
    }
    lines = [
        "| model | check | n | MAE (points) | worst | Spearman | 90% band coverage |",
        "|---|---|---|---|---|---|---|",
    ]
    report: dict = {}
    decision_lines = [
        "",
        "Decisions (leave one pair out: the workflow a fit that never saw the pair predicts best, "
        "against the one measured best; regret in points):",
        "",
        "| model | setting | chosen | measured best | regret |",
        "|---|---|---|---|---|",
    ]
    for key in args.models:
        model, extra, paper_model, paper_fit, decider = models[key]
        t0 = time.perf_counter()
        checks = {
            "leave one pair out": V.leave_one_pair_out(model, recs, extra),
            "leave one arm out": V.leave_one_arm_out(model, recs, extra),
            "toy, in sample": V.in_sample(model, [*toy, *extra], lambda r: r["world"] == "toy"),
            "paper figures, in sample": V.in_sample(
                paper_model, paper_fit, lambda r: r["world"] == "paper"
            ),
            **{name: V.transfer(model, [*toy, *extra], runs) for name, runs in transfers.items()},
        }
        report[key] = {name: {**c.summary(), "rows": c.rows} for name, c in checks.items()}
        chosen = V.decisions(decider, recs, extra) if decider is not None else []
        report[key]["decisions"] = [
            {**d.__dict__, "regret_points": round(d.regret_points, 2)} for d in chosen
        ]
        decision_lines += [
            f"| {model.name} | {d.setting} | {d.chosen} | {d.best} | {d.regret_points:.1f} |"
            for d in chosen
        ]
        if chosen:
            near = sum(d.regret_points <= 1.0 for d in chosen)
            decision_lines.append(
                f"| {model.name} | **{near} of {len(chosen)} within 1 point** | | | "
                f"mean {sum(d.regret_points for d in chosen) / len(chosen):.1f} |"
            )
        for name, c in checks.items():
            s = c.summary()
            if not s["n"]:
                continue
            lines.append(
                f"| {model.name} | {name} | {s['n']} | {s['mae_points']:.1f} | {s['max_points']:.1f} | "
                f"{s['spearman'] if s['spearman'] is not None else '-'} | {100 * s['coverage_90']:.0f}% |"
            )
        print(f"{key}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=float))
    tables = [line for name in transfers for line in transfer_table(report, models, name)]
    print("\n".join(lines + decision_lines + tables))


def transfer_table(report: dict, models: dict, check: str) -> list[str]:
    """Each run of a transfer check, stage by stage: measured, and each model's prediction."""
    from planner.calibrate.validate import Z90

    keys = [k for k in report if report[k][check]["rows"]]
    if not keys:
        return []
    by: dict[tuple[str, str, str], dict[str, dict]] = {}
    for k in keys:
        for row in report[k][check]["rows"]:
            by.setdefault((row["setting"], row["arm"], row["stage"]), {})[k] = row
    out = [
        "",
        f"{check[0].upper()}{check[1:]} (each model fitted as for its in-sample check: v1 on the "
        "toy records, v2 on them and the paper's figures; predicted, 90% band):",
        "",
        "| run | stage | measured | " + " | ".join(models[k][0].name for k in keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    for (setting, arm, stage), per in by.items():
        first = next(iter(per.values()))
        cells = [
            f"{100 * r['predicted']:.1f} ({100 * max(r['predicted'] - Z90 * r['sd'], 0.0):.1f}-"
            f"{100 * min(r['predicted'] + Z90 * r['sd'], 1.0):.1f})"  # accuracy bands, clipped
            if (r := per.get(k))
            else "-"
            for k in keys
        ]
        out.append(
            f"| {setting.split('/')[2]} {arm} | {stage} | {100 * first['measured']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    return out


if __name__ == "__main__":
    main()
