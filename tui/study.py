"""Read a planner study into plain rows for ``s2d explore``: accuracy, cost, params, plan.

The adapter is the only place that knows how ``s2d plan`` labels its trials.
It reads a trial's accuracy from user_attrs ``accuracy`` or ``final_accuracy``
(else the first objective value), its cost from ``cost`` or ``compute`` (else
the second objective value), validity from ``valid``, and the plan from a
``plan`` mapping (what :func:`planner.contracts.plan.plan_from_dict` takes). A trial
without a plan still shows its params; it just cannot be written as YAML.
The label split (labels to stage 1 and stage 3, prompts) and the stage
budgets (steps and predicted compute of each stage) come from that plan too;
a trial without one shows none. The objectives' names (``study.metric_names``,
set by ``s2d plan``) label the chart and the table when present.
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
STAGES = ("teacher_rl", "warmup", "opd", "student_rl")  # planner.scenario.spec.STAGES


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

    @property
    def teacher(self) -> str | None:
        teacher = self.params.get("teacher")
        if teacher is None and self.plan_data:
            teacher = (self.plan_data.get("teacher") or {}).get("name") or "none"
        return None if teacher is None else str(teacher)

    def labels(self, key: str) -> int | None:
        """``stage1``, ``stage3`` or ``prompts`` of the plan's label split; None without a plan."""
        if self.plan_data is None:
            return None
        value = (self.plan_data.get("labels") or {}).get(key)
        return int(value) if isinstance(value, (int, float)) else 0

    def stage_steps(self, stage: str) -> int | None:
        """Optimizer steps of ``stage`` (0 when the plan skips it); None without a plan."""
        if self.plan_data is None:
            return None
        for s in self.plan_data.get("stages") or []:
            if s.get("id") == stage:
                steps = (s.get("budget") or {}).get("steps")
                return int(steps) if isinstance(steps, (int, float)) else 0
        return 0

    def stage_compute(self, stage: str) -> float | None:
        """Predicted compute of ``stage`` (0 when the plan skips it); None without a plan."""
        if self.plan_data is None:
            return None
        stages = ((self.plan_data.get("prediction") or {}).get("stages")) or {}
        value = (stages.get(stage) or {}).get("compute")
        return float(value) if isinstance(value, (int, float)) else 0.0


@dataclass
class StudyView:
    name: str
    storage_label: str  # masked
    directions: list[str]
    trials: list[TrialRow]
    cost_unit: str = "gpu_hours"
    metric_names: list[str] | None = None  # the objectives' names, when the study has them

    @property
    def pareto(self) -> bool:
        """Two objectives (accuracy up, cost down); one means accuracy at full spend."""
        return len(self.directions) > 1

    def metric_name(self, index: int) -> str | None:
        names = self.metric_names or []
        return names[index] if index < len(names) and names[index] else None

    @property
    def accuracy_label(self) -> tuple[str, str]:
        """(name, unit) of the accuracy axis: shown in %, whatever scale the objective is in."""
        name, _ = split_metric_name(self.metric_name(0), "accuracy")
        return name, "%"

    @property
    def cost_label(self) -> tuple[str, str]:
        """(name, unit) of the cost axis, e.g. ("compute", "GPU-h"); "cost" before names existed."""
        return split_metric_name(
            self.metric_name(1), "cost", COST_LABEL.get(self.cost_unit, self.cost_unit)
        )


COST_LABEL = {"gpu_hours": "GPU-h", "cpu_seconds": "CPU-s"}


def split_metric_name(name: str | None, default: str, default_unit: str = "") -> tuple[str, str]:
    """``"compute (GPU-h)"`` -> ``("compute", "GPU-h")``; None -> the defaults."""
    if not name:
        return default, default_unit
    name = name.strip()
    if name.endswith(")") and " (" in name:
        base, unit = name[:-1].rsplit(" (", 1)
        return base.strip() or default, unit.strip()
    return name, default_unit


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


def mark_best(rows: list[TrialRow]) -> TrialRow | None:
    """A single-objective study's front: the valid row of highest accuracy (lowest number on ties)."""
    for r in rows:
        r.on_front = False
    scored = [r for r in rows if r.valid and r.accuracy is not None]
    if not scored:
        return None
    best = max(scored, key=lambda r: (r.accuracy, -r.number))
    best.on_front = True
    return best


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
    directions = [d.name.lower() for d in study.directions]
    if len(directions) > 1:
        mark_pareto_front(rows)
    else:
        mark_best(rows)
    unit = study.user_attrs.get(COST_UNIT_KEY) or _unit_from_plans(rows)
    metrics = study.metric_names
    return StudyView(study_name, label, directions, rows, unit, list(metrics) if metrics else None)


def _unit_from_plans(rows: list[TrialRow]) -> str:
    for r in rows:
        prediction = (r.plan_data or {}).get("prediction") or {}
        if prediction.get("compute_unit"):
            return str(prediction["compute_unit"])
    return "gpu_hours"
