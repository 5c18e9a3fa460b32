"""Peak memory of a forward_kl step against an SFT step at Qwen3's 151,936-entry vocabulary.

Both run through the same stage code (trainer.stages.forward_kl), on the same
teacher rollouts and batch: ``mode: soft`` (chunked KL against the teacher's
full distribution) and ``mode: hard`` (plain SFT cross-entropy). Each mode runs
in a fresh process; the figure is the growth of peak RSS over the process's
RSS after the models are built (CPU), or peak CUDA memory (GPU).

    python examples/benchmarks/forward_kl_memory.py [--batch 8] [--tokens 256]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

VOCAB = 151_936


def make_models(root: Path, hidden: int) -> tuple[Path, Path]:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from trainer.toy.tokenizer import save_tokenizer

    paths = []
    for name, layers in (("student", 2), ("teacher", 3)):
        out = root / name
        save_tokenizer(out)
        tok = AutoTokenizer.from_pretrained(out)
        torch.manual_seed(layers)
        cfg = Qwen3Config(
            vocab_size=VOCAB,
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=hidden // 4,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        Qwen3ForCausalLM(cfg).save_pretrained(out)
        paths.append(out)
    return paths[0], paths[1]


def one_mode(mode: str, root: Path, batch: int, tokens: int, chunk: int) -> dict:
    import torch

    from planner.contracts import (
        Budget,
        EventWriter,
        ForwardKLOptions,
        Optim,
        RunDir,
        Stage,
        load_plan,
    )
    from trainer.context import SpendMeter, StageContext, StageData
    from trainer.hf import quiet_libraries
    from trainer.stages.forward_kl import run_forward_kl

    quiet_libraries()
    torch.set_num_threads(1)
    run_dir = root / f"run-{mode}"
    rollouts = RunDir(run_dir).teacher_rollouts("warmup")
    rollouts.parent.mkdir(parents=True)
    completion = ("1+2=3\n" * tokens)[: tokens - 2]
    with open(rollouts, "w") as f:
        for i in range(batch * 2):
            f.write(
                json.dumps(
                    {"prompt_id": str(i), "problem": f"What is {i}+1?", "completion": completion}
                )
                + "\n"
            )
    plan = load_plan(Path(__file__).parents[2] / "examples" / "toy_plan.yaml")
    stage = Stage(
        id="warmup",
        kind="forward_kl",
        model="student",
        data="prompts",
        budget=Budget(steps=2, prompts_per_step=batch, samples_per_prompt=1, max_new_tokens=tokens),
        optim=Optim(learning_rate=1e-4),
        options=ForwardKLOptions(mode=mode, chunk_tokens=chunk),
    )
    cuda = torch.cuda.is_available()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with EventWriter(RunDir(run_dir).events) as events:
        ctx = StageContext(
            plan=plan,
            stage=stage,
            index=1,
            run_dir=run_dir,
            model_path=root / "student",
            teacher_path=root / "teacher",
            data=StageData(prompts=[]),
            verifier=None,
            events=events,
            meter=SpendMeter(),
            device="cuda" if cuda else "cpu",
            save_every=1000,
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        run_forward_kl(ctx)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "mode": mode,
        "rss_growth_mb": (peak_kb - base) / 1024,
        "tokens_trained": ctx.meter.tokens_trained,
    }
    if cuda:
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every memory benchmark here takes (and the hidden ones of its child processes)."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    return ap


def in_fresh_process(script: str, mode: str, root: str, args: argparse.Namespace) -> dict:
    """Run ``script --mode MODE`` in a new Python process; return the JSON line it printed last."""
    out = subprocess.run(
        [sys.executable, script, "--mode", mode, "--root", root]
        + ["--batch", str(args.batch), "--tokens", str(args.tokens), "--chunk", str(args.chunk)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    args = arguments(__doc__).parse_args()
    if args.mode:
        print(json.dumps(one_mode(args.mode, Path(args.root), args.batch, args.tokens, args.chunk)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_models(root, args.hidden)
        results = {mode: in_fresh_process(__file__, mode, tmp, args) for mode in ("hard", "soft")}
    key = "cuda_peak_mb" if "cuda_peak_mb" in results["soft"] else "rss_growth_mb"
    sft, fkl = results["hard"][key], results["soft"][key]
    print(
        f"vocabulary {VOCAB:,}, batch {args.batch} x {args.tokens} tokens, chunk {args.chunk} tokens"
    )
    print(f"SFT step (mode: hard)      peak {key}: {sft:,.0f} MB")
    print(f"forward-KL step (mode: soft) peak {key}: {fkl:,.0f} MB")
    print(f"ratio forward-KL / SFT: {fkl / sft:.2f}x (goal: at most 1.5x)")


if __name__ == "__main__":
    main()
