"""`s2d run` in a child process, and a run long enough to be signalled mid-stage.

Shared by the signal tests (Ctrl-C in test_executor.py, SIGTERM in the reliability suite):
the tiny plan's first two stages, the warmup stretched to 40 steps with checkpoints only
on a 50-step schedule, so a checkpoint before step 40 can only come from the signal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from planner.contracts.plan import load_plan, save_plan
from planner.contracts.runlog import read_events
from tests.trainer_tests.tiny_plan import TINY_PLAN


def s2d_run(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "s2d", "run", *args, "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_long_warmup(tiny_zoo: Any, tmp_path: Path) -> tuple[subprocess.Popen, Path, Path, dict]:
    """Start the run and return (process, plan path, run dir, env) once the warmup is at step 2."""
    plan = load_plan(TINY_PLAN)
    plan.stages = plan.stages[:2]
    plan.stages[1].budget.steps = 40  # type: ignore[union-attr]
    plan_path = save_plan(plan, tmp_path / "plan.yaml")
    run_dir = tmp_path / "run"
    env = {**os.environ, "S2D_TOY_ZOO": str(tiny_zoo.root), "OMP_NUM_THREADS": "1"}
    proc = s2d_run(str(plan_path), "--run-dir", str(run_dir), "--save-every", "50", env=env)
    events_path = run_dir / "events.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if events_path.exists() and any(
            e.kind == "metrics" and e["stage"] == "warmup" and e["step"] >= 2
            for e in read_events(events_path)
        ):
            return proc, plan_path, run_dir, env
        time.sleep(0.2)
    raise AssertionError("the warmup never reached step 2: " + (proc.stdout.read() or ""))
