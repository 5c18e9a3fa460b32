"""Studies for ``s2d explore``: a small planner-like one written by hand (no sampler involved),
and :func:`planner_study`, one the planner itself writes."""

from __future__ import annotations

import copy
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from planner.contracts.schema import to_plain
from tests.tui_tests.fixtures.toy_run import PLAN_DICT, PREDICTION
from tui.study import StudyView, load_study

# (accuracy, cost in CPU-seconds, teacher): trials 1, 3, 5 and 6 form the front.
TRIALS = [
    (0.40, 300.0, "toy-m"),
    (0.45, 250.0, "toy-m"),
    (0.30, 400.0, "toy-s"),
    (0.52, 420.0, "toy-m"),
    (0.35, 320.0, "none"),
    (0.20, 90.0, "none"),
    (0.55, 600.0, "toy-l"),
    (0.41, 450.0, "toy-s"),
]
DIST = {
    "teacher": CategoricalDistribution(["none", "toy-s", "toy-m", "toy-l"]),
    "stage1_fraction": FloatDistribution(0.0, 1.0),
}


def plan_for(number: int, accuracy: float, cost: float) -> dict:
    plan = copy.deepcopy(PLAN_DICT)
    plan["name"] = f"toy-trial{number}"
    plan["stages"][0]["budget"]["steps"] = 10 + number
    prediction = to_plain(PREDICTION)
    prediction["final_accuracy"] = accuracy
    prediction["total_compute"] = cost
    plan["prediction"] = prediction
    return plan


def make_study(path: Path, name: str = "toy-study", with_plans: bool = True) -> Path:
    storage = JournalStorage(JournalFileBackend(str(path)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage, study_name=name, directions=["maximize", "minimize"]
    )
    study.set_user_attr("compute_unit", "cpu_seconds")
    for i, (acc, cost, teacher) in enumerate(TRIALS):
        attrs = {"accuracy": acc, "cost": cost, "valid": True}
        if with_plans and i != 2:  # trial 2 carries no plan, as an older planner wrote them
            attrs["plan"] = plan_for(i, acc, cost)
        params = {"teacher": teacher, "stage1_fraction": 0.1 * (i + 1)}
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=DIST, values=[acc, cost], user_attrs=attrs
            )
        )
    return path


ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "examples" / "paper_scenario.yaml"


def planner_study(out: Path, pareto: bool) -> StudyView:
    """A study as `s2d plan` writes it (the paper scenario, a short seeded search), loaded for explore."""
    from planner.search.pipeline import make_plans

    make_plans(PAPER, out=out, trials=40 if pareto else 30, seed=0, pareto=pareto)
    study = load_study(str(out))
    study.storage_label = "journal:plans/study.journal"  # the tmp path differs per run
    return study
