"""The search space: Optuna trial parameters <-> allocation arrays, and the scored problem.

Trial parameters: ``teacher`` (``none`` or a teacher's name), and when a
teacher is chosen ``stage1_fraction`` (share of the labels for teacher RL) and
one weight per stage (``w_teacher_rl``, ``w_warmup``, ``w_opd``,
``w_student_rl``; normalised to budget shares); ``spend`` (share of the budget
to use) only in the multi-objective search. The same mapping serves the
Optuna objective, the vectorised screen and the reference grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.allocation import NONE, CostTable, Evaluated, decode, evaluate
from planner.response import Profile, load_profile
from planner.scenario import STAGES, Scenario

WEIGHTS = tuple(f"w_{s}" for s in STAGES)


def default_profile_path(sc: Scenario) -> str | None:
    from planner.models import PROFILE_DIR

    if sc.profile_path:
        return sc.profile_path
    return str(PROFILE_DIR / "response_toy.yaml") if sc.world == "toy" else None


@dataclass
class Problem:
    """A scenario with its cost table and response profile: what every search scores against."""

    sc: Scenario
    profile: Profile
    costs: CostTable

    @classmethod
    def create(cls, sc: Scenario, profile_path: str | None = None) -> Problem:
        from dataclasses import replace

        profile = load_profile(profile_path or default_profile_path(sc))
        if profile.hardware_overrides:
            sc = replace(sc, hardware=replace(sc.hardware, **profile.hardware_overrides))  # type: ignore[arg-type]
        return cls(sc, profile, CostTable(sc))

    @property
    def teacher_choices(self) -> list[str]:
        return ["none"] + [t.name for t in self.sc.teachers]

    def evaluate(self, teacher: Any, fraction: Any, shares: Any, spend: Any = 1.0) -> Evaluated:
        pop = decode(self.sc, self.costs, teacher, fraction, shares, spend)
        return evaluate(self.sc, self.costs, self.profile.params, pop)

    def arrays(
        self, params_list: Sequence[dict[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        names = self.teacher_choices
        teacher = np.array([names.index(p["teacher"]) - 1 for p in params_list], dtype=int)
        fraction = np.array([p.get("stage1_fraction", 1.0) for p in params_list])
        shares = np.array([[p.get(w, 0.0) for w in WEIGHTS] for p in params_list])
        spend = np.array([p.get("spend", 1.0) for p in params_list])
        return teacher, fraction, shares, spend

    def evaluate_params(self, params_list: Sequence[dict[str, Any]]) -> Evaluated:
        return self.evaluate(*self.arrays(params_list))

    def params_of(
        self, teacher: int, fraction: float, shares: Sequence[float], spend: float | None = None
    ) -> dict[str, Any]:
        p: dict[str, Any] = {"teacher": self.teacher_choices[teacher + 1]}
        if teacher != NONE:
            p["stage1_fraction"] = float(fraction)
            p.update({w: float(v) for w, v in zip(WEIGHTS, shares, strict=True)})
        if spend is not None:
            p["spend"] = float(spend)
        return p

    def suggest(self, trial: Any, pareto: bool) -> dict[str, Any]:
        p: dict[str, Any] = {"teacher": trial.suggest_categorical("teacher", self.teacher_choices)}
        if p["teacher"] != "none":
            p["stage1_fraction"] = trial.suggest_float("stage1_fraction", 0.0, 1.0)
            for w in WEIGHTS:
                p[w] = trial.suggest_float(w, 0.0, 1.0)
        if pareto:
            p["spend"] = trial.suggest_float("spend", 0.02, 1.0)
        return p

    def random(
        self, n: int, rng: np.random.Generator, pareto: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        teacher = rng.integers(-1, len(self.sc.teachers), n)
        fraction = rng.random(n)
        shares = rng.random((n, len(STAGES)))
        shares *= rng.random((n, len(STAGES))) < 0.85  # some plans drop a stage outright
        spend = rng.uniform(0.02, 1.0, n) if pareto else np.ones(n)
        return teacher, fraction, shares, spend
