"""Replay benchmark for ``s2d watch``: how long a 100,000-event run takes to reach its final screen.

Writes a four-stage toy run with the real EventWriter (mostly metrics lines, as
a long run produces), then opens it in the app headless and times until the
whole log is applied and drawn. Also times the UI-free core alone and reports
what the state keeps in memory (curves are downsampled, the log is bounded).
The target is at most 5 s on 2 CPU cores.

    python examples/benchmarks/tui_replay.py [--events 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
from pathlib import Path

from planner.contracts import (
    EventWriter,
    Prediction,
    RunDir,
    Spend,
    StagePrediction,
    plan_from_dict,
    save_plan,
)
from tui.follower import RunFollower
from tui.run_state import RunState
from tui.watch_app import make_app

STAGES = [
    ("teacher_rl", "grpo", "teacher", "labels.stage1"),
    ("warmup", "forward_kl", "student", "prompts"),
    ("opd", "opd", "student", "prompts"),
    ("student_rl", "grpo", "student", "labels.stage3"),
]


def write_run(run_dir: Path, n_events: int) -> None:
    steps = (n_events - 2) // len(
        STAGES
    ) - 5  # each stage adds start, checkpoint, warning, eval, end
    plan = plan_from_dict(
        {
            "name": "replay-bench",
            "student": {"name": "toy-xs", "path": "toy:xs"},
            "teacher": {"name": "toy-m", "path": "toy:m"},
            "datasets": {
                "labeled": "toy:arith",
                "eval": [{"name": "toy_math", "path": "toy:arith-eval"}],
            },
            "labels": {"pool": 512, "stage1": 256, "stage3": 128, "prompts": 512},
            "stages": [
                {
                    "id": sid,
                    "kind": kind,
                    "model": model,
                    "data": data,
                    "budget": {
                        "steps": steps,
                        "prompts_per_step": 8,
                        "samples_per_prompt": 8 if kind == "grpo" else 1,
                    },
                }
                for sid, kind, model, data in STAGES
            ],
        }
    ).with_prediction(
        Prediction(
            compute_unit="cpu_seconds",
            stages={
                sid: StagePrediction(0.3 + 0.05 * i, 0.25 + 0.05 * i, 0.35 + 0.05 * i, 1000.0)
                for i, (sid, *_) in enumerate(STAGES)
            },
            benchmark="toy_math",
        )
    )
    save_plan(plan, RunDir(run_dir).plan)
    rng = random.Random(0)
    with EventWriter(RunDir(run_dir).events) as w:
        w.emit("run_start", plan=plan.name)
        for sid, kind, model, _ in STAGES:
            w.emit(
                "stage_start",
                stage=sid,
                stage_kind=kind,
                model=model,
                planned=Spend(
                    cpu_seconds=1000.0, tokens_generated=steps * 512, labels=128
                ).to_dict(),
            )
            spent = Spend()
            for step in range(1, steps + 1):
                spent = spent + Spend(cpu_seconds=0.01, tokens_generated=512, wall_seconds=0.01)
                w.emit(
                    "metrics",
                    stage=sid,
                    step=step,
                    total_steps=steps,
                    values={
                        "loss": rng.random(),
                        "reward": rng.random(),
                        "entropy": rng.random(),
                        "throughput/generated_tokens_per_s": 1000 + rng.random(),
                    },
                    spent=spent.to_dict(),
                )
            w.emit("warning", stage=sid, message="a warning")
            w.emit("checkpoint", stage=sid, step=steps, path=f"stages/{sid}")
            w.emit("eval", stage=sid, benchmark="toy_math", accuracy=0.4, n=100, k=4)
            w.emit("stage_end", stage=sid, status="ok", spent=spent.to_dict())
        w.emit("run_end", status="ok")


async def time_app(run_dir: Path) -> tuple[float, RunState]:
    app = make_app(run_dir, follow=False)
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.watch_screen
        while not (
            screen.state.finished
            and screen.state.caught_up
            and screen.drawn_version == screen.state.version
        ):
            await pilot.pause(0.01)
        elapsed = time.perf_counter() - start
        return elapsed, screen.state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--keep", type=Path, help="write the run here instead of a temporary directory"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "replay-bench"
        run_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_run(run_dir, args.events)
        size_mb = RunDir(run_dir).events.stat().st_size / 1e6
        print(
            f"wrote {args.events:,} events ({size_mb:.1f} MB) in {time.perf_counter() - t0:.1f} s"
        )

        state = RunState()
        t0 = time.perf_counter()
        RunFollower(run_dir, state).read_to_end()
        print(
            f"core: read and folded {state.events_applied:,} events in {time.perf_counter() - t0:.2f} s (no UI)"
        )

        cpu0 = time.process_time()
        elapsed, state = asyncio.run(time_app(run_dir))
        cpu_s = time.process_time() - cpu0
        points = sum(len(s) for v in state.stages.values() for s in v.curves.values())
        print(
            f"app: final state drawn after {elapsed:.2f} s wall, {cpu_s:.2f} s CPU (target <= 5 s); status {state.status}, {state.events_applied:,} events"
        )
        print(
            f"memory: {points} curve points kept for {state.events_applied:,} events, {len(state.log)} log lines; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
