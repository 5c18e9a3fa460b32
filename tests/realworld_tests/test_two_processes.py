"""Every stage kind under ``s2d run --launcher accelerate`` on two CPU processes (gloo).

On the realistic world with gradient accumulation 2, a step of 2 prompts x 2 samples is
4 rows: 1 per process per micro-batch. The run must train exactly the plan's batch per
optimizer step (summed over ranks), shard the teacher rollouts, count every rank's tokens,
write each file from one process, and resume after SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner.contracts import RunDir, read_events
from planner.contracts.plan import plan_from_dict, save_plan
from tests.realworld_tests.world_plan import world_plan, world_plan_dict

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]
ROOT = Path(__file__).parents[2]


def two_process_config(tmp_path: Path) -> Path:
    """examples/accelerate/cpu_2proc.yaml on a free port (runs may share the machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = (ROOT / "examples" / "accelerate" / "cpu_2proc.yaml").read_text()
    config = tmp_path / "accelerate.yaml"
    config.write_text(text.replace("main_process_port: 29517", f"main_process_port: {port}"))
    return config


def s2d_run(plan_path: Path, run_dir: Path, config: Path, **popen: object) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "s2d", "run", str(plan_path), "--run-dir", str(run_dir)]
    command += ["--quiet", "--launcher", "accelerate", "--accelerate-config", str(config)]
    return subprocess.Popen(command, env=env, cwd=ROOT, **popen)  # type: ignore[call-overload]


def finish(proc: subprocess.Popen, timeout: float = 900) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (out or b"").decode()[-3000:] + (err or b"").decode()[-6000:]


@pytest.fixture(scope="module")
def two_process_run(qwen_world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-processes")
    data = world_plan_dict(qwen_world, eval_after_each_stage=False)
    data["stages"].append(
        {
            "id": "final_eval",
            "kind": "eval",
            "model": "student",
            "options": {"k": 1, "max_new_tokens": 20, "max_problems": 2, "greedy": False},
        }
    )
    plan = plan_from_dict(data, "two-process plan")
    plan_path = save_plan(plan, tmp / "plan.yaml")
    run_dir = tmp / "run"
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    finish(s2d_run(plan_path, run_dir, two_process_config(tmp), **pipes))
    return plan, run_dir, read_events(run_dir / "events.jsonl")


def test_every_optimizer_step_is_the_plans_batch_summed_over_ranks(two_process_run):
    plan, _, events = two_process_run
    trained = [s for s in plan.stages if s.budget is not None]
    assert {s.kind for s in trained} == {"grpo", "forward_kl", "opd"}
    assert {s.options.estimator for s in trained if s.kind == "opd"} == {"full", "sampled"}
    for stage in trained:
        steps = [
            e for e in events if e.kind == "metrics" and e["stage"] == stage.id and e["step"] > 0
        ]
        rows = stage.budget.prompts_per_step * stage.budget.samples_per_prompt
        assert [e["step"] for e in steps] == [1, 2], stage.id
        assert [e["values"]["train/examples_per_step"] for e in steps] == [rows, rows], stage.id
    assert any(e.kind == "eval" and e["stage"] == "final_eval" for e in events)


def test_teacher_rollouts_are_sharded_and_written_once(two_process_run):
    plan, run_dir, _ = two_process_run
    warmup = next(s for s in plan.stages if s.kind == "forward_kl")
    rows = [
        json.loads(line)
        for line in RunDir(run_dir).teacher_rollouts(warmup.id).read_text().splitlines()
    ]
    b = warmup.budget
    assert len(rows) == b.steps * b.prompts_per_step * b.samples_per_prompt
    by_rank = {r: sum(row["rank"] == r for row in rows) for r in (0, 1)}
    assert by_rank == {0: len(rows) // 2, 1: len(rows) // 2}
    # each prompt's samples come from one rank, in prompt order
    prompts = [row["prompt_id"] for row in rows][:: b.samples_per_prompt]
    assert len(set(prompts)) == len(prompts)


def test_spend_meters_count_every_rank(two_process_run):
    plan, run_dir, events = two_process_run
    ends = {e["stage"]: e["spent"] for e in events if e.kind == "stage_end"}
    warmup = next(s for s in plan.stages if s.kind == "forward_kl")
    rows = [
        json.loads(line)
        for line in RunDir(run_dir).teacher_rollouts(warmup.id).read_text().splitlines()
    ]
    sampled = sum(len(r["completion_ids"]) for r in rows)
    sequences = sum(len(r["prompt_ids"]) + len(r["completion_ids"]) for r in rows)
    # one epoch over the rollouts: every rank's tokens, not rank 0's; training and the teacher's
    # scoring run over prompt (Qwen3's template included) and completion
    assert ends[warmup.id]["tokens_generated"] == sampled
    assert ends[warmup.id]["tokens_trained"] == sequences
    assert ends[warmup.id]["teacher_tokens_scored"] == sequences
    # sampled OPD: every generated token on both ranks; teacher and student score each sequence
    opd_s = next(s for s in plan.stages if s.kind == "opd" and s.options.estimator == "sampled")
    spent = ends[opd_s.id]
    b = opd_s.budget
    assert spent["tokens_generated"] == b.steps * b.prompts_per_step * b.samples_per_prompt * 20
    assert spent["teacher_tokens_scored"] == spent["student_tokens_scored"]
    assert spent["teacher_tokens_scored"] == spent["tokens_trained"] > spent["tokens_generated"]


def test_each_checkpoint_is_written_once_with_every_ranks_state(two_process_run):
    plan, run_dir, events = two_process_run
    for stage in (s for s in plan.stages if s.budget is not None):
        saves = [e["step"] for e in events if e.kind == "checkpoint" and e["stage"] == stage.id]
        assert saves == sorted(set(saves)), stage.id  # one event per save, not one per rank
        (newest,) = (run_dir / "stages" / stage.id / "checkpoints").iterdir()
        names = {p.name for p in newest.iterdir()}
        assert {"rng_state_0.pth", "rng_state_1.pth", "optimizer.pt", "trainer_state.json"} <= names
        assert not list(run_dir.glob(f"stages/{stage.id}/*.staging"))
        assert (run_dir / "stages" / stage.id / "model" / "model.safetensors").exists()


def test_resume_after_sigkill_with_two_processes(qwen_world, tmp_path):
    plan = world_plan(qwen_world)
    plan.stages = [s for s in plan.stages if s.kind == "forward_kl"]
    plan.stages[0].budget.steps = 8  # type: ignore[union-attr]
    plan.eval_after_each_stage = False
    plan_path = save_plan(plan, tmp_path / "plan.yaml")
    run_dir, config = tmp_path / "run", two_process_config(tmp_path)
    events_path = run_dir / "events.jsonl"
    proc = s2d_run(plan_path, run_dir, config, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if events_path.exists() and any(
                e.kind == "checkpoint" for e in read_events(events_path)
            ):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the run ended before its first checkpoint"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and both ranks at once
        proc.wait()
    saved = [e for e in read_events(events_path) if e.kind == "checkpoint"]
    finish(s2d_run(plan_path, run_dir, config, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    events = read_events(events_path)
    resumed = [e for e in events if e.kind == "stage_start"][-1]
    assert resumed["resumed_from"] is not None
    assert int(resumed["resumed_from"].rsplit("-", 1)[1]) >= saved[0]["step"]
    steps = [e["step"] for e in events if e.kind == "metrics" and e["step"] > 0]
    assert steps[-1] == 8
    assert (run_dir / "stages" / "warmup" / "DONE.json").exists()
