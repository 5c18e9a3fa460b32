"""Trials that lost their worker: recorded owners, and failing what a dead worker left RUNNING.

A worker killed mid-trial leaves that trial RUNNING for ever. Optuna's own
remedy (heartbeats) exists for RDB storages only, so every trial records the
process running it (:func:`claim_trial`, the first thing the objective does),
and :func:`fail_stale_trials` marks a RUNNING trial FAIL when that process is
known dead (same machine) or the trial has run far longer than any trial here
can (a remote or unrecorded worker). Finished trials are never touched.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WORKER_ATTR = "worker"  # trial user attribute: {"host", "boot", "pid"} of the process running it
# A trial here scores in milliseconds; one RUNNING this long has lost its worker,
# wherever that worker ran. Generous, because remote clocks may disagree.
STALE_AFTER_S = 600.0


def _boot_id() -> str:
    """Changes when the machine reboots (Linux), so that a reused pid is not mistaken for the worker."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def this_worker() -> dict[str, Any]:
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid()}


def claim_trial(trial: Any) -> None:
    """Record on a trial which process runs it (the first thing an objective does)."""
    trial.set_user_attr(WORKER_ATTR, this_worker())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale(
    owner: Any,
    age_s: float,
    here: dict[str, Any],
    alive: Callable[[int], bool] = pid_alive,
    stale_after_s: float = STALE_AFTER_S,
) -> bool:
    """Whether a RUNNING trial has lost its worker: ``owner`` is its WORKER_ATTR (or None)."""
    if isinstance(owner, dict) and owner.get("host") == here["host"]:
        if owner.get("boot") != here["boot"]:
            return True  # this machine rebooted since the trial started
        if isinstance(owner.get("pid"), int) and not alive(owner["pid"]):
            return True
    return age_s > stale_after_s


def fail_stale_trials(study: Any, now: float | None = None) -> list[int]:
    """Mark the RUNNING trials whose worker is gone as FAIL; return their numbers.

    Safe to run beside live workers: their trials are left alone, and a trial
    another process finishes first is skipped.
    """
    import optuna
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    here = this_worker()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = t.datetime_start.timestamp() if t.datetime_start else now
        if not is_stale(t.user_attrs.get(WORKER_ATTR), now - started, here):
            continue
        try:
            if study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                failed.append(t.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # finished meanwhile: nothing was lost
    return failed


def recover_study(storage: Any, study_name: str) -> list[int]:
    """Before continuing a study: fail the trials its dead workers left RUNNING."""
    import optuna

    if study_name not in optuna.study.get_all_study_names(storage=storage):
        return []
    return fail_stale_trials(optuna.load_study(study_name=study_name, storage=storage))
