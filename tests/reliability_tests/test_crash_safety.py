"""Crash safety of ``s2d run``: SIGKILL at four points, resume each time, and lose nothing.

One run directory, five processes: the first four are killed with SIGKILL (no handler, no
cleanup) while the warmup's teacher generates rollouts, in the middle of a warmup training step,
while an OPD checkpoint is being written (its ``.staging`` directory exists), and while the
trained student is evaluated; the fifth finishes. After every kill: no process is left behind,
every checkpoint on disk is complete, every finished stage is byte for byte as it was, and the
event log parses. At the end: each stage finished exactly once, interrupted stages resumed from
their last checkpoint (not from step 0), and the final accuracies are logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from planner.contracts.plan import save_plan
from planner.contracts.runlog import EventTail, EventWriter, read_events
from tests import builders

STAGES = ["teacher_rl", "warmup", "opd", "student_rl"]
PLAN = builders.plan(
    name="crash",
    labels={"prompts": 64},
    stages=[
        builders.teacher_rl(),
        # 64 teacher rollouts of up to 96 tokens: long enough to be killed in the middle.
        builders.warmup(steps=16, tokens=96),
        builders.opd(steps=6),
        builders.student_rl(),
    ],
)
CHECKPOINT_FILES = {
    "config.json",
    "model.safetensors",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "trainer_state.json",
}


@dataclass
class Attempt:
    """What one ``s2d run`` process did: its new events, and whether and where it was killed."""

    events: list = field(default_factory=list)
    killed_at: str | None = None
    returncode: int | None = None


def in_rollout_generation(run: Path, new: list, seen_at: dict) -> bool:
    if not any(e.kind == "stage_start" and e["stage"] == "warmup" for e in new):
        return False
    # Past loading the teacher (tens of ms) and into generate (about half a second).
    seen_at.setdefault("warmup", time.monotonic())
    return time.monotonic() - seen_at["warmup"] > 0.15 and not rollouts(run).exists()


def mid_training_step(run: Path, new: list, seen_at: dict) -> bool:
    stepped = any(e.kind == "metrics" and e["stage"] == "warmup" and e["step"] >= 3 for e in new)
    return stepped and not staging(run, "warmup").exists()


def writing_a_checkpoint(run: Path, new: list, seen_at: dict) -> bool:
    # Not the stage's first checkpoint: there must be an earlier, complete one to fall back on.
    saved = any(e.kind == "checkpoint" and e["stage"] == "opd" for e in new)
    return saved and staging(run, "opd").exists()


def evaluating_the_trained_student(run: Path, new: list, seen_at: dict) -> bool:
    stage = run / "stages" / "student_rl"
    return (stage / "model").exists() and not (stage / "DONE.json").exists()


def done(run: Path, stage: str) -> bool:
    return (run / "stages" / stage / "DONE.json").exists()


# (where, when to kill, what must hold right after: proof that the kill landed there)
KILL_POINTS: list[tuple[str, Callable[[Path, list, dict], bool], Callable[[Path], bool]]] = [
    ("rollout generation", in_rollout_generation, lambda run: not rollouts(run).exists()),
    ("mid training step", mid_training_step, lambda run: not done(run, "warmup")),
    ("checkpoint write", writing_a_checkpoint, lambda run: not done(run, "opd")),
    ("eval generation", evaluating_the_trained_student, lambda run: not done(run, "student_rl")),
]


def rollouts(run: Path) -> Path:
    return run / "artifacts" / "warmup" / "teacher_rollouts.jsonl"


def staging(run: Path, stage: str) -> Path:
    return run / "stages" / stage / "checkpoints.staging"


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task ended meanwhile
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def attempt(cmd: list[str], env: dict, run: Path, log: Path, kill_when=None) -> Attempt:
    events = run / "events.jsonl"
    tail = EventTail(events)
    tail.poll()  # only this attempt's events count
    result, seen_at = Attempt(), {}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while kill_when is not None and proc.poll() is None and time.monotonic() < deadline:
            result.events += tail.poll()
            name, fires, _ = kill_when
            if fires(run, result.events, seen_at):
                workers = children(proc.pid)
                proc.send_signal(signal.SIGKILL)
                result.killed_at = name
                proc.wait(timeout=60)
                # Verifier workers see their stdin close and exit: nothing is left running.
                end = time.monotonic() + 15
                while any(alive(w) for w in workers) and time.monotonic() < end:
                    time.sleep(0.05)
                assert not [w for w in workers if alive(w)], f"orphans after a kill at {name}"
                break
            time.sleep(0.002)
        result.returncode = proc.wait(timeout=240)
    result.events += tail.poll()
    return result


def finished_stages(run: Path) -> dict[str, str]:
    """Stage id -> hash of its DONE marker and final model: what must never change again."""
    out = {}
    for done in sorted((run / "stages").glob("*/DONE.json")):
        digest = hashlib.sha256(done.read_bytes())
        model = done.parent / "model"
        for f in sorted(model.rglob("*")) if model.exists() else []:
            digest.update(f.name.encode() + f.read_bytes())
        out[done.parent.name] = digest.hexdigest()
    return out


def assert_checkpoints_complete(run: Path) -> None:
    for ckpt in run.glob("stages/*/checkpoints/checkpoint-*"):
        names = {p.name for p in ckpt.iterdir()}
        assert names >= CHECKPOINT_FILES, f"{ckpt} lacks {CHECKPOINT_FILES - names}"
        state = json.loads((ckpt / "trainer_state.json").read_text())
        assert f"checkpoint-{state['global_step']}" == ckpt.name
        with safe_open(str(ckpt / "model.safetensors"), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                f.get_tensor(key)  # a truncated file fails here
        torch.load(ckpt / "optimizer.pt", weights_only=True)


@pytest.mark.extended
def test_sigkill_at_four_points_then_resume_loses_nothing(zoo_env, tmp_path):
    plan_path = save_plan(PLAN, tmp_path / "plan.yaml")
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "s2d",
        "run",
        str(plan_path),
        "--run-dir",
        str(run),
        "--quiet",
        "--save-every",
        "1",
    ]
    attempts: list[Attempt] = []
    frozen: dict[str, str] = {}
    for n, point in enumerate(KILL_POINTS):
        a = attempt(cmd, env, run, tmp_path / f"attempt-{n}.log", kill_when=point)
        attempts.append(a)
        assert a.killed_at == point[0], (tmp_path / f"attempt-{n}.log").read_text()[-3000:]
        assert a.returncode == -signal.SIGKILL
        assert point[2](run), f"the kill at {point[0]} came too late"
        assert_checkpoints_complete(run)
        now = finished_stages(run)
        assert {s: now[s] for s in frozen} == frozen  # a finished stage is never touched again
        frozen = now
        assert len(read_events(run / "events.jsonl")) > 0
    assert [s for s in STAGES if s in frozen] == ["teacher_rl", "warmup", "opd"]

    final = attempt(cmd, env, run, tmp_path / "final.log")
    assert final.returncode == 0, (tmp_path / "final.log").read_text()[-3000:]
    assert {s: finished_stages(run)[s] for s in frozen} == frozen

    tail = EventTail(run / "events.jsonl", max_bytes_per_poll=0)
    events = tail.poll()
    assert tail.skipped <= len(KILL_POINTS)  # at most one half-written line per kill
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[-1].kind == "run_end" and events[-1]["status"] == "ok"
    assert Counter(e["stage"] for e in events if e.kind == "stage_end") == dict.fromkeys(STAGES, 1)
    assert sum(e.kind == "run_start" for e in events) == len(KILL_POINTS) + 1
    ended = set()
    for e in events:  # nothing trains again after its stage ended
        if e.kind in ("stage_start", "metrics") and e.get("stage") in ended:
            raise AssertionError(f"{e.kind} for finished stage {e['stage']}")
        if e.kind == "stage_end":
            ended.add(e["stage"])

    def steps(a: Attempt, stage: str) -> list[int]:
        return [
            e["step"]
            for e in a.events
            if e.kind == "metrics" and e["stage"] == stage and e["step"] > 0
        ]

    def resumed_from(a: Attempt, stage: str) -> str | None:
        return next(
            e["resumed_from"] for e in a.events if e.kind == "stage_start" and e["stage"] == stage
        )

    # Killed in generation: no rollouts were saved, so the next attempt generates them.
    assert not steps(attempts[0], "warmup") and rollouts(run).exists()
    assert any("rollout_prompts" in e["values"] for e in attempts[1].events if e.kind == "metrics")
    # Killed mid-training: the next attempt reuses the rollouts and resumes from the checkpoint.
    start = resumed_from(attempts[2], "warmup")
    assert start is not None and steps(attempts[2], "warmup")[0] == int(start.rsplit("-", 1)[1]) + 1
    assert not any(
        "rollout_prompts" in e["values"] for e in attempts[2].events if e.kind == "metrics"
    )
    # Killed writing a checkpoint: the previous, complete one is resumed.
    start = resumed_from(attempts[3], "opd")
    assert start is not None and steps(attempts[3], "opd")[0] == int(start.rsplit("-", 1)[1]) + 1
    # Killed while evaluating: the trained model is kept and only evaluated again.
    assert steps(attempts[3], "student_rl") and not steps(final, "student_rl")
    final_evals = [e for e in final.events if e.kind == "eval" and e["stage"] == "student_rl"]
    assert final_evals
    for e in final_evals:  # the plan's share of the eval set, every sample judged
        n, k = e["n"], e["k"]
        assert (n, k) == (PLAN.evaluation.max_problems, PLAN.evaluation.k)
        assert sum(e["verdicts"].values()) == n * k
        assert e["accuracy"] == pytest.approx(e["verdicts"]["correct"] / (n * k))
    done = json.loads((run / "stages" / "student_rl" / "DONE.json").read_text())
    assert done["evals"] and done["evals"][0]["accuracy"] == final_evals[0]["accuracy"]
    assert not list(run.rglob("*.staging")) and not list(run.rglob("*.tmp"))


def test_a_resumed_log_longer_than_one_read_keeps_its_sequence(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:  # about 11 MB: more than a reader takes in one poll
        for step in range(40_000):
            w.emit("metrics", stage="s", step=step, values={"loss": 0.5}, note="x" * 200)
    with open(path, "ab") as f:
        f.write(b'{"v":1,"seq":40000,"t":1.0,"ki')  # killed mid-line
    with EventWriter(path) as w:
        resumed = w.emit("run_start", plan="p", resumed=True)
    events = read_events(path)
    assert resumed.seq == 40_000
    assert [e.seq for e in events] == list(range(40_001))
