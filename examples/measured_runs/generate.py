"""Grow the measured-runs dataset: the paper's comparison on every toy teacher/student pair.

Each *setting* is one pair of the zoo (student smaller than teacher: six pairs
from the four sizes xs, s, m, l), one label budget (split evenly between
teacher RL and stage 3) and one seed. For each setting the workflow plan
(examples/toy_replication/plan.yaml with the pair, the labels and the seed
swapped in) and the four other runs the comparison's rows need (direct GRPO,
raw-teacher bridge, replay control, OPD only; the RL-teacher bridge, the
bridge + stage 3 and the warmup-only rows read the workflow's own evals) run through ``s2d run`` (``s2d.compare``), and each run
becomes one compact record in planner/data/measured_runs.jsonl: its
from-scratch pipeline, the accuracy measured after each stage and what each
stage spent, no weights (planner/calibrate/records.py). Direct GRPO reads
no teacher, so it runs once per student, label budget and seed (setting
``toy/<student>/L<labels>/seed<seed>``) and serves every pair with that
student. Settings already in
the file are skipped, so the command resumes where it stopped and the
dataset grows run by run:

    python examples/measured_runs/generate.py                 # every setting, cheapest first
    python examples/measured_runs/generate.py --pairs xs/s s/m --labels 400 --seeds 0
    python examples/measured_runs/generate.py --list          # what is measured, what is left
    python examples/measured_runs/generate.py --add runs/demo-seed0 toy/s-m/demo/seed0

Settings run cheapest first: seed 0 at 400 labels over the six pairs, then
100 labels, then seed 1. A setting's run directories stay under ``--out``
(default runs/measured/<setting>) until you remove them; records are written
once every run of the setting has finished, atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

SIZES = ("xs", "s", "m", "l")
PAIRS = tuple(f"{s}/{t}" for i, s in enumerate(SIZES) for t in SIZES[i + 1 :])
# cost grows with the teacher, then the student: the cheap pairs land first
PAIR_ORDER = ("xs/s", "xs/m", "s/m", "xs/l", "s/l", "m/l")
ROWS = ("direct", "raw_bridge", "rl_bridge", "full", "replay", "opd_only", "warmup_only")


def settings(pairs, labels, seeds):
    ordered = [p for p in PAIR_ORDER if p in pairs]
    return [
        (pair, n, seed) for seed in seeds for n in labels for pair in ordered
    ]  # seed-major: a second seed only after every pair has one


def setting_id(pair: str, labels: int, seed: int) -> str:
    student, teacher = pair.split("/")
    return f"toy/{student}-{teacher}/L{labels}/seed{seed}"


def direct_id(pair: str, labels: int, seed: int) -> str:
    """Direct GRPO's setting: the student alone (the arm reads no teacher)."""
    return f"toy/{pair.split('/')[0]}/L{labels}/seed{seed}"


def workflow_plan(pair: str, labels: int, seed: int):
    from planner.contracts import ModelRef, load_plan

    student, teacher = pair.split("/")
    base = load_plan(REPO / "examples" / "toy_replication" / "plan.yaml")
    return replace(
        base,
        name=f"measured-{student}-{teacher}-L{labels}-seed{seed}",
        seed=seed,
        student=ModelRef(name=f"toy-{student}", path=f"toy:{student}"),
        teacher=ModelRef(name=f"toy-{teacher}", path=f"toy:{teacher}"),
        labels=replace(
            base.labels, pool=labels, stage1=labels // 2, stage3=labels - labels // 2, seed=seed
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="+", default=list(PAIR_ORDER), choices=PAIRS)
    ap.add_argument("--labels", nargs="+", type=int, default=[400, 100])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "measured")
    ap.add_argument("--records", type=Path, default=None, help="default: the packaged dataset")
    ap.add_argument("--lanes", type=int, default=2, help="runs side by side within a setting")
    ap.add_argument("--max-settings", type=int, default=None, help="stop after this many new ones")
    ap.add_argument("--list", action="store_true", help="print what is measured and what is left")
    ap.add_argument(
        "--recollect",
        action="store_true",
        help="rewrite the records of every setting whose runs are under --out (after a record format change)",
    )
    ap.add_argument(
        "--add",
        nargs=2,
        metavar=("DIR", "SETTING"),
        help="add the finished runs of a comparison directory (e.g. an `s2d demo --out`) as SETTING",
    )
    args = ap.parse_args()

    from planner import calibrate as R
    from s2d import compare
    from trainer.toy.zoo import build_zoo

    path = args.records or R.DATASET
    R.add_records(path, R.paper_records())  # the paper's figures, always as the code states them
    if args.add:
        root, sid = Path(args.add[0]), args.add[1]
        new = R.records_from_comparison(root, sid)
        if path == R.DATASET:
            refuse_other_zoo([m for r in new for m in (r["student"], r["teacher"]) if m], path)
        R.add_records(path, new)
        print(f"{len(new)} records of {root} added to {path} as {sid}")
        return
    have = {r["setting"] for r in R.load_records(path)} if path.is_file() else set()
    if args.recollect:
        for pair, labels, seed in settings(args.pairs, args.labels, args.seeds):
            sid = setting_id(pair, labels, seed)
            root = args.out / sid.removeprefix("toy/").replace("/", "-")
            if sid not in have or not root.is_dir():
                continue
            direct = direct_id(pair, labels, seed)
            new = R.share_base_eval(
                [
                    R.record_from_run(d, direct if d.name == "direct" else sid)
                    for d in R.finished_runs(root)
                ]
            )
            R.add_records(path, new)
            print(f"{sid}: {len(new)} records rewritten")
        return
    todo = [s for s in settings(args.pairs, args.labels, args.seeds) if setting_id(*s) not in have]
    if args.list:
        for s in settings(args.pairs, args.labels, args.seeds):
            print(f"{'measured' if setting_id(*s) in have else 'to run  '}  {setting_id(*s)}")
        return
    zoo = build_zoo(models=sorted({m for p, _, _ in todo for m in p.split("/")}) or None)
    if path == R.DATASET and todo[: args.max_settings]:
        refuse_other_zoo(R.zoo_models(zoo.root), path)
    for i, (pair, labels, seed) in enumerate(todo[: args.max_settings]):
        sid = setting_id(pair, labels, seed)
        root = args.out / sid.removeprefix("toy/").replace("/", "-")
        plan = workflow_plan(pair, labels, seed)
        comp = compare.prepare(plan, root, ROWS)
        # direct GRPO does not involve the teacher: one run per student, labels and seed serves every pair
        direct = direct_id(pair, labels, seed)
        if direct in have:
            del comp.runs["direct"]
        t0 = time.perf_counter()
        print(f"[{i + 1}/{len(todo)}] {sid}: {', '.join(comp.runs)} in {root}", flush=True)
        compare.execute(
            comp,
            zoo.root,
            args.lanes,
            on_finish=compare.print_outcome,
        )
        new = R.share_base_eval(
            [
                R.record_from_run(d, direct if d.name == "direct" else sid, zoo.root)
                for d in R.finished_runs(root, list(comp.runs))
            ]
        )
        R.add_records(path, new)
        have |= {sid, direct}
        print(
            f"  {len(new)} records added to {path} ({time.perf_counter() - t0:.0f} s)", flush=True
        )


def refuse_other_zoo(models, path: Path) -> None:
    """Exit 2 when the zoo's models are not the dataset's (another build, other models)."""
    from planner import calibrate as R

    other = R.other_zoo_models(models, R.load_records(path))
    if other:
        print(
            f"generate.py: error: this toy zoo trained other models than the ones {path.name} was "
            f"measured on ({'; '.join(other)}): a zoo rebuilt on another CPU kind is another zoo. "
            f"Write its records to another file with --records (e.g. {R.REBUILT_ZOO}).",
            file=sys.stderr,
        )
        raise SystemExit(2)


if __name__ == "__main__":
    main()
