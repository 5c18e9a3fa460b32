"""Generation throughput per engine and batch size, and the share of a run's time spent generating.

Part 1: tokens/s of the transformers engine and of the vLLM engine (when ``vllm`` imports) on
the realistic world's teacher (trainer/qwen_world.py: a random-weight Qwen3 of 3 layers x 96,
head_dim 32, Qwen's 151,936-entry vocabulary, fp32; the largest shape the vllm-marked tests
run), through ``trainer.generation`` as teacher rollouts and evals call it: batches of 8, 32
and 128 sequences (prompts x samples), every completion ``--tokens`` long (random weights never
sample the end token). The engines alternate within each repeat; each figure is the median of
``--repeats``, and the ratio is vLLM's median over transformers' on the same batch.

Part 2: a small realistic run (every stage kind on the realistic world, two steps each, then
one eval stage) with generation timed: the run's events log tokens generated and wall time
per stage but not the time spent generating, so this script times it in process (TRL's
``_generate_single_turn`` in grpo and opd, the engine's ``generate`` in teacher rollouts and
evals) and prints each stage kind's generating seconds over the stage's wall seconds.

    python examples/benchmarks/generation.py [--sizes 8 32 128] [--tokens 64] [--repeats 3]
        [--run-engine transformers|vllm] [--no-run]

vLLM runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``) with a 1 GiB KV cache
(``VLLM_CPU_KVCACHE_SPACE=1``) unless those are set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

# The small run is the realistic-world plan the tests run (tests/realworld_tests/world_plan.py).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SAMPLES = 4  # samples per prompt: 8 sequences are 2 prompts x 4


def vllm_importable() -> str | None:
    """None when vLLM imports here, else why not."""
    try:
        from vllm import LLM  # noqa: F401
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None


def throughput(world: Any, sizes: list[int], tokens: int, repeats: int) -> dict[str, Any]:
    import torch

    from planner.contracts.plan import Rollout
    from trainer.data import load_problems
    from trainer.generation import TransformersEngine, VLLMEngine
    from trainer.models import load_model, load_tokenizer
    from trainer.rollouts import BatchBudget

    problems = [p.problem for p in load_problems(world.data["math500"])]
    tokenizer = load_tokenizer(world.teacher)
    model = load_model(world.teacher, "cpu", torch.float32, trainable=False)
    engines: dict[str, Any] = {
        "transformers": TransformersEngine(model, tokenizer, None, BatchBudget())
    }
    why_not = vllm_importable()
    if why_not is None:
        rollout = Rollout(engine="vllm", gpu_memory_utilization=0.08, max_model_len=1024)
        engines["vllm"] = VLLMEngine(world.teacher, tokenizer, None, rollout, dtype=torch.float32)
    rates: dict[tuple[str, int], list[float]] = defaultdict(list)
    try:
        for engine in engines.values():  # warm both up (first calls build caches)
            engine.generate(problems[:2], n=2, max_new_tokens=8, seed=0)
        for rep in range(repeats):
            for size in sizes:
                prompts = [problems[i % len(problems)] for i in range(size // SAMPLES)]
                for name, engine in engines.items():
                    t0 = time.perf_counter()
                    groups = engine.generate(prompts, n=SAMPLES, max_new_tokens=tokens, seed=rep)
                    seconds = time.perf_counter() - t0
                    rates[name, size].append(sum(c.n_tokens for g in groups for c in g) / seconds)
    finally:
        for engine in engines.values():
            engine.close()
    return {"rates": rates, "engines": list(engines), "why_not": why_not}


def timed_run(world: Any, engine: str) -> tuple[dict[str, float], dict[str, float], dict]:
    """(generating seconds, wall seconds, tokens generated) per stage of the small run."""
    from trl import GRPOTrainer
    from trl.trainer.distillation_trainer import DistillationTrainer

    from planner.contracts import read_events
    from planner.contracts.plan import plan_from_dict
    from tests.realworld_tests.world_plan import TOKENS, world_plan_dict
    from trainer import generation
    from trainer.executor import Executor, RunOptions

    generating: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = {}
    current = {"stage": ""}

    def timed(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                generating[current["stage"]] += time.perf_counter() - t0

        return wrapper

    def timed_stage(fn: Any) -> Any:
        def wrapper(self: Any, index: int, stage: Any, *args: Any, **kwargs: Any) -> Any:
            current["stage"] = stage.id
            t0 = time.perf_counter()
            try:
                return fn(self, index, stage, *args, **kwargs)
            finally:
                wall[stage.id] = time.perf_counter() - t0

        return wrapper

    patched = [
        (GRPOTrainer, "_generate_single_turn", timed),
        (DistillationTrainer, "_generate_single_turn", timed),
        (generation.TransformersEngine, "generate", timed),
        (generation.VLLMEngine, "generate", timed),
        (Executor, "_stage", timed_stage),
    ]
    saved = [(cls, name, getattr(cls, name)) for cls, name, _ in patched]
    for cls, name, wrap in patched:
        setattr(cls, name, wrap(getattr(cls, name)))
    rollout: dict[str, Any] = {"engine": engine}
    if engine == "vllm":
        rollout.update(gpu_memory_utilization=0.08, max_model_len=512)
    raw = world_plan_dict(world, rollout=rollout, eval_after_each_stage=False)
    options = {"k": 2, "max_new_tokens": TOKENS, "max_problems": 4}
    raw["stages"].append({"id": "final_eval", "kind": "eval", "options": options})
    plan = plan_from_dict(raw, "generation benchmark plan")
    run_dir = Path(tempfile.mkdtemp()) / "run"
    try:
        assert Executor(plan, run_dir, RunOptions(verifier_workers=1)).run() == "ok"
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)
    events = read_events(run_dir / "events.jsonl")
    tokens = {e["stage"]: e["spent"]["tokens_generated"] for e in events if e.kind == "stage_end"}
    for e in events:
        if e.kind == "eval":
            tokens[e["stage"]] = tokens.get(e["stage"], 0) + e["tokens_generated"]
    # one row per stage, named by its kind (two grpo stages: the teacher's and the student's)
    names = {
        s.id: f"{s.kind}" + (f" ({s.options.estimator})" if s.kind == "opd" else "") + f", {s.id}"
        for s in plan.stages
    }
    return (
        {names[k]: v for k, v in generating.items() if k in names},
        {names[k]: v for k, v in wall.items()},
        {names[k]: v for k, v in tokens.items()},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (this machine: 2)")
    ap.add_argument("--run-engine", choices=["transformers", "vllm"], default="transformers")
    ap.add_argument("--no-run", action="store_true", help="part 1 only")
    args = ap.parse_args()

    import torch

    from trainer.hf import quiet_libraries
    from trainer.qwen_world import build

    quiet_libraries()
    torch.set_num_threads(args.threads)
    world = build(Path(tempfile.mkdtemp()) / "qwen-world")
    t0 = time.perf_counter()
    part1 = throughput(world, args.sizes, args.tokens, args.repeats)
    rates, engines = part1["rates"], part1["engines"]
    print(
        f"\nteacher of the realistic world (3 x 96, head_dim 32, vocabulary 151,936, fp32); "
        f"{SAMPLES} samples per prompt, {args.tokens} new tokens each; median of "
        f"{args.repeats}; torch threads {torch.get_num_threads()}; {time.perf_counter() - t0:.0f} s"
    )
    if part1["why_not"]:
        print(f"vLLM not measured: {part1['why_not']}")
    head = "| sequences | " + " | ".join(f"{e} tokens/s" for e in engines)
    print(head + (" | vLLM / transformers |" if "vllm" in engines else " |"))
    print("|---" * (1 + len(engines) + ("vllm" in engines)) + "|")
    for size in args.sizes:
        med = {e: statistics.median(rates[e, size]) for e in engines}
        cells = " | ".join(f"{med[e]:,.0f}" for e in engines)
        ratio = f" | {med['vllm'] / med['transformers']:.2f}x" if "vllm" in med else ""
        print(f"| {size} | {cells}{ratio} |")
    if args.no_run:
        return
    t0 = time.perf_counter()
    generating, wall, tokens = timed_run(world, args.run_engine)
    print(
        f"\nsmall realistic run on rollout.engine: {args.run_engine} (2 steps per stage, 2 prompts "
        f"x 2 samples x 20 tokens; eval: 2 sets x 4 problems x k=2); "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print("| stage kind, id | wall s | generating s | share | tokens generated |")
    print("|---|---|---|---|---|")
    for kind, seconds in wall.items():
        gen = generating.get(kind, 0.0)
        print(
            f"| {kind} | {seconds:.1f} | {gen:.1f} | {gen / seconds:.0%} | {tokens.get(kind, 0):,} |"
        )


if __name__ == "__main__":
    main()
