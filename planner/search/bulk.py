"""Append finished trials to a study in one write: what ``Study.add_trials`` does, in bulk.

``Study.add_trials`` writes one trial at a time: on a journal file that is a
locked, fsynced append per trial; on an RDB one transaction per trial with a
flush per parameter and attribute (about 20 ms a trial on SQLite). The
searches here evaluate hundreds of trials in milliseconds, so
:func:`append_trials` writes them together: one journal append of the
``CREATE_TRIAL`` entries Optuna itself writes for a trial added with a
template, or one RDB transaction that locks the study row as Optuna does
(trial numbers stay dense and unique beside other workers). Readers see
exactly what ``add_trials`` would have written (tests compare the two).
Other storages, and a future Optuna whose internals differ, get
``add_trials``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any


def append_trials(study: Any, trials: Sequence[Any]) -> None:
    """Add finished ``trials`` (FrozenTrials) to ``study``; their numbers are the study's next."""
    trials = list(trials)
    if not trials:
        return
    for t in trials:
        t._validate()
        if t.values is not None and len(t.values) != len(study.directions):
            raise ValueError(
                f"trial {t.number} has {len(t.values)} values, the study {len(study.directions)} objectives"
            )
    storage = study._storage
    if type(storage).__name__ == "_CachedStorage":  # how Optuna wraps an RDBStorage
        storage = storage._backend
    if any(t.intermediate_values for t in trials):  # never here: the planner reports no steps
        study.add_trials(trials)
        return
    try:
        from optuna.storages import JournalStorage, RDBStorage

        if isinstance(storage, JournalStorage) and hasattr(storage, "_replay_result"):
            return _journal(storage, study._study_id, trials)
        if isinstance(storage, RDBStorage) and hasattr(storage, "scoped_session"):
            return _rdb(storage, study._study_id, trials)
    except (ImportError, AttributeError):
        pass
    study.add_trials(trials)


def _iso(dt: Any) -> str | None:
    return dt.astimezone(UTC).isoformat(timespec="microseconds") if dt else None


def _journal(storage: Any, study_id: int, trials: list[Any]) -> None:
    from optuna.distributions import distribution_to_json
    from optuna.storages.journal._storage import JournalOperation

    logs = []
    for t in trials:
        many = t.values is not None and len(t.values) > 1
        log: dict[str, Any] = {
            "op_code": JournalOperation.CREATE_TRIAL,
            "worker_id": storage._replay_result.worker_id,
            "study_id": study_id,
            "datetime_start": _iso(t.datetime_start),
            "state": int(t.state.value),
            "value": None if many else t.value,
            "values": t.values if many else None,
            "distributions": {k: distribution_to_json(d) for k, d in t.distributions.items()},
            "params": {k: t.distributions[k].to_internal_repr(v) for k, v in t.params.items()},
            "user_attrs": t.user_attrs,
            "system_attrs": t.system_attrs,
            "intermediate_values": t.intermediate_values,
        }
        if t.datetime_complete:
            log["datetime_complete"] = _iso(t.datetime_complete)
        logs.append(log)
    with storage._thread_lock:
        storage._backend.append_logs(logs)
        storage._sync_with_backend()


def _rdb(storage: Any, study_id: int, trials: list[Any]) -> None:
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import func

    with _create_scoped_session(storage.scoped_session) as session:
        # the lock Optuna takes to number a new trial; held until the commit (SQLite ignores it:
        # there the first INSERT takes the database's write lock, so numbering waits until then)
        models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        rows = [
            models.TrialModel(
                study_id=study_id,
                number=None,
                state=t.state,
                datetime_start=t.datetime_start,
                datetime_complete=t.datetime_complete,
            )
            for t in trials
        ]
        session.add_all(rows)
        session.flush()  # assigns the trial ids, under the write lock
        # numbered as Optuna numbers a trial: the study's trials inserted before it
        before = (
            session.query(func.count(models.TrialModel.trial_id))
            .filter(
                models.TrialModel.study_id == study_id,
                models.TrialModel.trial_id < min(r.trial_id for r in rows),
            )
            .scalar()
        )
        for i, row in enumerate(sorted(rows, key=lambda r: r.trial_id)):
            row.number = before + i
        children: list[Any] = []
        for row, t in zip(rows, trials, strict=True):
            tid = row.trial_id
            for k, v in enumerate(t.values or []):
                stored, kind = models.TrialValueModel.value_to_stored_repr(v)
                children.append(
                    models.TrialValueModel(trial_id=tid, objective=k, value=stored, value_type=kind)
                )
            for name, value in t.params.items():
                d = t.distributions[name]
                children.append(
                    models.TrialParamModel(
                        trial_id=tid,
                        param_name=name,
                        param_value=d.to_internal_repr(value),
                        distribution_json=distribution_to_json(d),
                    )
                )
            for model, attrs in (
                (models.TrialUserAttributeModel, t.user_attrs),
                (models.TrialSystemAttributeModel, t.system_attrs),
            ):
                children += [
                    model(trial_id=tid, key=k, value_json=json.dumps(v)) for k, v in attrs.items()
                ]
        session.add_all(children)
