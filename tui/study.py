"""Read a planner study into plain rows for ``s2d explore``: accuracy, cost, params, plan.

The adapter is the only place that knows how ``s2d plan`` labels its trials.
It reads a trial's accuracy from user_attrs ``accuracy`` or ``final_accuracy``
(else the first objective value), its cost from ``cost`` or ``compute`` (else
the second objective value), validity from ``valid``, and the plan from a
``plan`` mapping (what :func:`planner.contracts.plan.plan_from_dict` takes). A trial
without a plan still shows its params; it just cannot be written as YAML.
Only complete trials count. Storage URLs are shown with any password masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.contracts import Plan, UserError, plan_from_dict

ACCURACY_KEYS = ("accuracy", "final_accuracy")
COST_KEYS = ("cost", "compute")
PLAN_KEY = "plan"
COST_UNIT_KEY = "compute_unit"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass
class TrialRow:
    number: int
    accuracy: float | None  # 0..1
    cost: float | None  # in StudyView.cost_unit
    valid: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    plan_data: dict[str, Any] | None = None
    on_front: bool = False

    def plan(self, source: str) -> Plan:
        """The trial's plan, validated; a clear error when the trial carries none."""
        if self.plan_data is None:
            raise UserError(
                f"trial {self.number} of {source} carries no plan (its user_attrs have no {PLAN_KEY!r}); run `s2d plan` again to emit plans, or pick another trial."
            )
        return plan_from_dict(self.plan_data, f"{source}, trial {self.number}")


@dataclass
class StudyView:
    name: str
    storage_label: str  # masked
    directions: list[str]
    trials: list[TrialRow]
    cost_unit: str = "gpu_hours"


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in attrs and attrs[k] is not None:
            return attrs[k]
    return None


def trial_row(
    number: int, values: list[float] | None, params: dict[str, Any], user_attrs: dict[str, Any]
) -> TrialRow:
    """One complete trial as a row (pure: tests build rows from hand-written attrs)."""
    values = list(values or [])
    acc = _first(user_attrs, ACCURACY_KEYS)
    cost = _first(user_attrs, COST_KEYS)
    if acc is None and values:
        acc = values[0]
    if cost is None and len(values) > 1:
        cost = values[1]
    plan_data = user_attrs.get(PLAN_KEY)
    return TrialRow(
        number=number,
        accuracy=float(acc) if isinstance(acc, (int, float)) else None,
        cost=float(cost) if isinstance(cost, (int, float)) else None,
        valid=bool(user_attrs.get("valid", True)),
        params=dict(params),
        plan_data=plan_data if isinstance(plan_data, dict) else None,
    )


def mark_pareto_front(rows: list[TrialRow]) -> list[TrialRow]:
    """Flag the valid rows no other row beats on both accuracy (higher) and cost (lower).

    Returns the front sorted by cost. Ties on both keep the lowest trial number.
    """
    for r in rows:
        r.on_front = False
    scored = [
        (r.cost, r.accuracy, r)
        for r in rows
        if r.valid and r.accuracy is not None and r.cost is not None
    ]
    scored.sort(key=lambda c: (c[0], -c[1], c[2].number))
    front: list[TrialRow] = []
    best = float("-inf")
    for _, accuracy, r in scored:
        if accuracy > best:
            r.on_front = True
            front.append(r)
            best = accuracy
    return front


def storage_url_for(text: str) -> str:
    """What the user typed (a file or a URL) as a URL that planner.search.storage.open_storage takes."""
    if "://" in text or text.startswith("journal:"):
        return text
    path = Path(text).expanduser()
    if path.is_dir():
        for name in ("study.journal", "study.db"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise UserError(
                f"{text} is a directory without study.journal or study.db; give the study file written by `s2d plan` (or an RDB URL)."
            )
    if not path.exists():
        raise UserError(
            f"study storage {text} does not exist; give the journal or SQLite file written by `s2d plan` (or an RDB URL such as postgresql://USER@HOST/DB)."
        )
    if path.suffix.lower() in SQLITE_SUFFIXES:
        return f"sqlite:///{path.resolve()}"
    return f"journal:{path}"


def load_study(storage: str, study_name: str | None = None) -> StudyView:
    """Open the storage, pick the study (the only one, or ``study_name``) and read its trials."""
    import optuna

    from planner.search import mask_url, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url_for(storage)
    label = mask_url(url)
    handle = open_storage(url)
    names = optuna.study.get_all_study_names(storage=handle)
    if not names:
        raise UserError(f"{label} holds no study yet; run `s2d plan` first, or check the path.")
    if study_name is None:
        if len(names) > 1:
            raise UserError(
                f"{label} holds {len(names)} studies ({', '.join(names)}); choose one with --study NAME."
            )
        study_name = names[0]
    elif study_name not in names:
        raise UserError(f"{label} has no study {study_name!r}; it has: {', '.join(names)}.")
    study = optuna.load_study(study_name=study_name, storage=handle)
    rows = [
        trial_row(t.number, t.values, t.params, t.user_attrs)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    ]
    mark_pareto_front(rows)
    unit = study.user_attrs.get(COST_UNIT_KEY) or _unit_from_plans(rows)
    return StudyView(study_name, label, [d.name.lower() for d in study.directions], rows, unit)


def _unit_from_plans(rows: list[TrialRow]) -> str:
    for r in rows:
        prediction = (r.plan_data or {}).get("prediction") or {}
        if prediction.get("compute_unit"):
            return str(prediction["compute_unit"])
    return "gpu_hours"
