"""Guarding a run directory: one writer at a time, and one plan per directory.

``runs/<name>/plan.yaml`` is the frozen copy of what is executed. Re-running on
an existing directory resumes it only if the plan given is the same plan (its
prediction aside); otherwise the run refuses rather than mix two plans, unless
the run holds no work yet (it failed before anything was finished or
checkpointed): then the corrected plan replaces the frozen one, which is kept
under ``superseded/<when>/``. A lock
file held with ``flock`` keeps a second live ``s2d run`` out; the kernel drops
the lock when its holder dies, so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from planner.contracts import (
    BASE_STAGE,
    Plan,
    RunDir,
    UserError,
    atomic_write_text,
    dump_plan,
    load_plan,
    plan_to_dict,
)


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = RunDir(run_dir).lock
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise UserError(
                f"run directory {self.path.parent} is being written by another live `s2d run` (pid {holder}); "
                "wait for it to finish, stop it, or choose another --run-dir."
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _executable(plan: Plan) -> dict:
    # The prediction is not executed; the toy zoo is where toy: names resolve, which a
    # resume may move (--toy-zoo), and which runs frozen before plans recorded it lack.
    return plan_to_dict(replace(plan, prediction=None, toy_zoo=None))


def _first_differences(a: object, b: object, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in list(a) + [k for k in b if k not in a]:
            out += _first_differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _first_differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} in the run, {b!r} given"]


def recorded_work(run_dir: Path, plan: Plan) -> list[str]:
    """What ``run_dir`` holds that a different plan would mix with: finished stages, trained
    models, checkpoints, teacher rollouts (the base eval aside: see ``freeze_plan``)."""
    run = RunDir(run_dir)
    work = []
    for stage in plan.stages:
        held = [
            what
            for what, path in (
                ("finished", run.done_marker(stage.id)),
                ("a trained model", run.model_dir(stage.id)),
            )
            if path.exists()
        ]
        # The stage's rollouts, or one rank's share of them (a run stopped before the merge).
        if run.artifacts_dir(stage.id).is_dir() and any(run.artifacts_dir(stage.id).iterdir()):
            held.append("teacher rollouts")
        if any(run.checkpoints_dir(stage.id).glob("checkpoint-*")):
            held.append("checkpoints")
        if held:
            work.append(f"{stage.id} ({', '.join(held)})")
    return work


def _differences(run_dir: Path, plan: Plan) -> tuple[Plan, list[str]] | None:
    path = RunDir(run_dir).plan
    if not path.exists():
        return None
    frozen = load_plan(path)
    return frozen, _first_differences(_executable(frozen), _executable(plan))


def check_same_plan(run_dir: Path, plan: Plan) -> bool:
    """Refuse a plan other than the one frozen in ``run_dir`` once the run holds work; True
    when a plan is frozen there.

    Read-only (plan.yaml is only ever replaced whole), so it can run before the lock.
    """
    found = _differences(run_dir, plan)
    if found is None:
        return False
    frozen, diffs = found
    work = recorded_work(run_dir, frozen) if diffs else []
    if work:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise UserError(
            f"{run_dir} already holds a different plan ({shown}), and work done under it: "
            f"{', '.join(work[:3])}. Refusing to mix two plans in one run: "
            "resume with the same plan file, or give a new --run-dir."
        )
    return True


@dataclass
class Frozen:
    resumed: bool  # the directory already held this run
    replaced: list[str] = field(default_factory=list)  # what a corrected plan changed
    superseded: Path | None = None  # where the replaced plan.yaml went


def freeze_plan(run_dir: Path, plan: Plan) -> Frozen:
    """Write plan.yaml, or check that the existing one is the same plan.

    A run that failed before it finished or checkpointed anything takes a
    corrected plan: the old plan.yaml moves to ``superseded/<when>/`` (with the
    base eval's marker when what it measured may have changed) and the new one
    is frozen in its place.
    """
    run = RunDir(run_dir)
    found = _differences(run_dir, plan)
    if found is None:
        atomic_write_text(run.plan, dump_plan(plan))
        return Frozen(resumed=False)
    check_same_plan(run_dir, plan)  # raises when the run holds work
    frozen, diffs = found
    if not diffs:
        return Frozen(resumed=True)
    folder = run.dated_folder(RunDir.SUPERSEDED)
    # The base eval measured the plan's student on its eval sets: only a change to the
    # stages leaves that measurement valid.
    if not all(d.startswith("stages") for d in diffs) and run.done_marker(BASE_STAGE).exists():
        (folder / "base").mkdir()
        os.replace(run.done_marker(BASE_STAGE), folder / "base" / RunDir.DONE)
    # Copied, then replaced whole: plan.yaml never goes missing, whatever is interrupted.
    shutil.copy2(run.plan, folder / RunDir.PLAN)
    atomic_write_text(run.plan, dump_plan(plan))
    return Frozen(resumed=True, replaced=diffs, superseded=folder)
