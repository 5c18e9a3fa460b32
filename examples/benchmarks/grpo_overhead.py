"""Overhead of our grpo stage against plain TRL GRPOTrainer on the same toy config.

Both sides load the same toy model, build GRPOTrainer with the same settings and
the same verifier reward, train the same number of steps and save the model.
Ours adds the event log, budget metering, step-boundary interrupt checks and
atomic checkpoints (about ten per stage, as in a real run). Runs alternate
(A B A B ...) so machine noise hits both; the figure is the ratio of medians.

    python examples/benchmarks/grpo_overhead.py [--model toy:s] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def plain_trl(
    model_dir: Path,
    problems: list,
    verifier,
    out: Path,
    steps: int,
    prompts: int,
    group: int,
    tokens: int,
) -> float:
    from trl import GRPOConfig, GRPOTrainer

    from trainer.models import load_model, load_tokenizer
    from trainer.stages.grpo import VerifierReward, prompt_dataset

    t0 = time.perf_counter()
    tok = load_tokenizer(model_dir)
    trainer = GRPOTrainer(
        model=load_model(model_dir),
        reward_funcs=[VerifierReward(verifier)],
        args=GRPOConfig(
            output_dir=str(out),
            max_steps=steps,
            per_device_train_batch_size=prompts * group,
            num_generations=group,
            max_completion_length=tokens,
            learning_rate=5e-5,
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            report_to="none",
            logging_steps=1,
            save_strategy="no",
            top_k=0,
            top_p=1.0,
            beta=0.0,
            loss_type="dapo",
            disable_tqdm=True,
            seed=0,
        ),
        train_dataset=prompt_dataset(problems, with_answers=True),
        processing_class=tok,
    )
    trainer.train()
    trainer.save_model(str(out / "model"))
    return time.perf_counter() - t0


def ours(
    model_dir: Path,
    problems: list,
    verifier,
    out: Path,
    steps: int,
    prompts: int,
    group: int,
    tokens: int,
) -> float:
    from planner.contracts import Budget, EventWriter, GRPOOptions, Optim, RunDir, Stage, load_plan
    from trainer.context import SpendMeter, StageContext, StageData
    from trainer.stages.grpo import run_grpo

    plan = load_plan(Path(__file__).parents[2] / "examples" / "toy_plan.yaml")
    stage = Stage(
        id="rl",
        kind="grpo",
        model="student",
        data="labels.stage1",
        budget=Budget(
            steps=steps, prompts_per_step=prompts, samples_per_prompt=group, max_new_tokens=tokens
        ),
        optim=Optim(learning_rate=5e-5),
        options=GRPOOptions(),
    )
    t0 = time.perf_counter()
    with EventWriter(RunDir(out).events) as events:
        ctx = StageContext(
            plan=plan,
            stage=stage,
            index=0,
            run_dir=out,
            model_path=model_dir,
            teacher_path=None,
            data=StageData(labeled=problems),
            verifier=verifier,
            events=events,
            meter=SpendMeter(),
        )
        run_grpo(ctx)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toy:s")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch

    from trainer.data import load_problems
    from trainer.hf import quiet_libraries
    from trainer.models import resolve_data_path, resolve_model_path
    from trainer.verifier import Verifier

    quiet_libraries()
    torch.set_num_threads(1)
    model_dir = resolve_model_path(args.model)
    problems = load_problems(resolve_data_path("toy:train"))[:200]
    times: dict[str, list[float]] = {"plain TRL": [], "s2d grpo stage": []}
    with Verifier(workers=1) as verifier:
        verifier.wait_ready()
        for rep in range(args.repeats):
            for name, fn in (("plain TRL", plain_trl), ("s2d grpo stage", ours)):
                out = Path(tempfile.mkdtemp())
                torch.manual_seed(rep)
                times[name].append(
                    fn(
                        model_dir,
                        problems,
                        verifier,
                        out,
                        args.steps,
                        args.prompts,
                        args.group,
                        args.tokens,
                    )
                )
                shutil.rmtree(out, ignore_errors=True)
    base = statistics.median(times["plain TRL"])
    for name, ts in times.items():
        print(
            f"{name:<16} median {statistics.median(ts):6.2f} s  runs {', '.join(f'{t:.2f}' for t in ts)}"
        )
    print(
        f"overhead: {statistics.median(times['s2d grpo stage']) / base - 1:+.1%} (goal: at most +5%); {args.steps} steps x {args.prompts} prompts x {args.group} samples, {args.model}"
    )


if __name__ == "__main__":
    main()
