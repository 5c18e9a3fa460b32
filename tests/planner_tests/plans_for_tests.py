"""Planner-scale toy plans (the four-stage workflow and runs reusing its checkpoints), and runs of them.

Student ``toy:s``, teacher ``toy:m``, 200 + 200 labels of a pool of 400 and 2,000 prompts, as the
toy replication sets them up; built with :mod:`tests.builders`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.contracts.plan import Plan, save_plan
from planner.contracts.runlog import EventWriter
from tests import builders

TOY_STUDENT = {"name": "toy-s", "path": "toy:s"}
TOY_TEACHER = {"name": "toy-m", "path": "toy:m"}
TOKENS = 40

TEACHER_RL = builders.teacher_rl(steps=60, prompts=16, samples=8, tokens=TOKENS)
WARMUP = builders.warmup(steps=150, prompts=64, samples=1, tokens=TOKENS)
OPD = builders.opd(steps=60, prompts=32, samples=1, tokens=TOKENS)
STUDENT_RL = builders.student_rl(steps=50, prompts=16, samples=8, tokens=TOKENS)


def plan(
    name: str,
    stages: list[dict[str, Any]],
    student: dict[str, str] = TOY_STUDENT,
    teacher: dict[str, str] | None = TOY_TEACHER,
    stage1: int = 200,
    stage3: int = 200,
) -> Plan:
    return builders.plan(
        name=name,
        student=student,
        teacher=teacher,
        labels={"pool": 400, "stage1": stage1, "stage3": stage3, "prompts": 2000},
        evaluation=None,
        stages=stages,
    )


def workflow() -> Plan:
    return plan("wf", [TEACHER_RL, WARMUP, OPD, STUDENT_RL])


def write(run_dir: Path, p: Plan) -> Path:
    save_plan(p, run_dir / "plan.yaml")
    return run_dir


def checkpoint(run_dir: Path, stage_id: str, name: str) -> dict[str, str]:
    return {"name": name, "path": str(run_dir / "stages" / stage_id / "model")}


def run_with_evals(run_dir: Path, p: Plan, accuracy: dict[str, float]) -> Path:
    """A finished run of ``p`` that measured ``accuracy`` (stage id -> 0..1) on the toy benchmark."""
    write(run_dir, p)
    with EventWriter(run_dir / "events.jsonl") as w:
        w.emit("run_start", plan=p.name)
        for sid, acc in accuracy.items():
            w.emit("eval", stage=sid, benchmark="toy", accuracy=acc, n=200, k=4)
        w.emit("run_end", status="ok")
    return run_dir


def comparison(root: Path, lift: float = 0.0) -> tuple[Path, Path, Path]:
    """Workflow, replay and OPD-only runs (the last two reuse the workflow's checkpoints)."""
    wf = run_with_evals(
        root / "workflow",
        workflow(),
        {
            "base": 0.08,
            "teacher_rl": 0.43 + lift,
            "warmup": 0.24 + lift,
            "opd": 0.29 + lift,
            "student_rl": 0.30 + lift,
        },
    )
    replay_rl = {**STUDENT_RL, "data": "labels.stage1"}
    replay = run_with_evals(
        root / "replay",
        plan("replay", [replay_rl], student=checkpoint(wf, "opd", "toy-s-bridged"), teacher=None),
        {"base": 0.29 + lift, "student_rl": 0.31 + lift},
    )
    only = run_with_evals(
        root / "opd_only",
        plan("opd-only", [OPD], teacher=checkpoint(wf, "teacher_rl", "toy-m-rl"), stage3=0),
        {"base": 0.08, "opd": 0.10 + lift},
    )
    return wf, replay, only
