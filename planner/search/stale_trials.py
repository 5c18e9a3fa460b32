"""Trials that lost their worker: recorded owners, heartbeats, and failing what a dead worker left RUNNING.

A worker killed mid-trial leaves that trial RUNNING for ever. Two remedies,
both applied by :func:`recover_study` before ``s2d plan`` continues a study:

* Every trial records the process running it (:func:`claim_trial`, the first
  thing the objective does), and :func:`fail_stale_trials` marks a RUNNING
  trial FAIL when that process is known dead (same machine) or the trial has
  run far longer than any trial here can (``STALE_AFTER_S``: a remote or
  unrecorded worker). This is all a journal file has.
* RDB storages (SQLite, PostgreSQL: planner/search/storage.py opens them so)
  also use Optuna's heartbeats: a thread of the worker stamps its running
  trial every ``heartbeat_settings()[0]`` seconds with the database's clock,
  and a RUNNING trial whose last stamp is older than the grace period is
  failed, by :func:`recover_study` and by every worker before it asks for its
  next trial (``Study.optimize`` does that itself). A worker on another
  machine that was killed, or lost its network, thus costs its trial after
  the grace period instead of ``STALE_AFTER_S``, with no clocks to agree.

A failed trial is not retried (no ``RetryFailedTrialCallback``): a trial here
is a deterministic, millisecond pricing of one allocation, so nothing is
gained by pricing it again, and a retry left WAITING by a study that is not
continued would be a trial neither finished nor failed. The sampler proposes
the next allocation from the finished trials; the trials asked for are still
all added. Finished trials are never touched.

``S2D_HEARTBEAT_S`` sets the heartbeat interval (seconds, default
``HEARTBEAT_S``); the grace period is ``GRACE_BEATS`` intervals.
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
HEARTBEAT_S = 10  # seconds between a running trial's heartbeats on RDB storages
GRACE_BEATS = 3  # heartbeats a trial may miss (a loaded machine) before it counts as lost
HEARTBEAT_ENV = "S2D_HEARTBEAT_S"


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat interval, grace period) in whole seconds, as Optuna's RDBStorage takes them."""
    from planner.contracts.errors import UserError

    text = os.environ.get(HEARTBEAT_ENV, "").strip()
    try:
        interval = int(text) if text else HEARTBEAT_S
    except ValueError:
        interval = 0
    if not 1 <= interval <= 3600:
        raise UserError(
            f"{HEARTBEAT_ENV}={text!r} is not a whole number of seconds from 1 to 3600; unset it for the default {HEARTBEAT_S}."
        )
    return interval, GRACE_BEATS * interval


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


def fail_heartbeat_stale_trials(study: Any) -> list[int]:
    """On a storage with heartbeats: fail the RUNNING trials whose heartbeat stopped; their numbers."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    interval = getattr(study._storage, "get_heartbeat_interval", lambda: None)()
    if interval is None:  # a journal or in-memory storage
        return []
    running = {t._trial_id: t.number for t in study.get_trials(states=(TrialState.RUNNING,))}
    if not running:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = study._storage
    return sorted(
        n for tid, n in running.items() if storage.get_trial(tid).state == TrialState.FAIL
    )


def recover_study(storage: Any, study_name: str) -> list[int]:
    """Before continuing a study: fail the trials its dead workers left RUNNING."""
    import optuna

    if study_name not in optuna.study.get_all_study_names(storage=storage):
        return []
    study = optuna.load_study(study_name=study_name, storage=storage)
    stale = fail_heartbeat_stale_trials(study)
    return sorted(stale + fail_stale_trials(study))
