"""Guarding a run directory: one writer at a time, and one plan per directory.

``runs/<name>/plan.yaml`` is the frozen copy of what is executed. Re-running on
an existing directory resumes it only if the plan given is the same plan (its
prediction aside); otherwise the run refuses rather than mix two plans. A lock
file held with ``flock`` keeps a second live ``s2d run`` out; the kernel drops
the lock when its holder dies, so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import replace
from pathlib import Path
from typing import IO

from planner.contracts import (
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


def check_same_plan(run_dir: Path, plan: Plan) -> bool:
    """Refuse a plan other than the one frozen in ``run_dir``; True when one is frozen there.

    Read-only (plan.yaml is only ever replaced whole), so it can run before the lock.
    """
    path = RunDir(run_dir).plan
    if not path.exists():
        return False
    frozen = load_plan(path)
    diffs = _first_differences(_executable(frozen), _executable(plan))
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise UserError(
            f"{run_dir} already holds a different plan ({shown}). Refusing to mix two plans in one run: "
            "resume with the same plan file, or give a new --run-dir."
        )
    return True


def freeze_plan(run_dir: Path, plan: Plan) -> bool:
    """Write plan.yaml, or check that the existing one is the same plan. True when resuming."""
    if check_same_plan(run_dir, plan):
        return True
    atomic_write_text(RunDir(run_dir).plan, dump_plan(plan))
    return False
