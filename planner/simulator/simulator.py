"""The simulator bound to one scenario: its cost table and response profile, priced in batches.

Everything that scores allocations (the search, the reference grid, ``s2d
simulate``, calibration and its cross-validation) holds one
:class:`Simulator`; :meth:`Simulator.evaluate` decodes a population of
allocations into step counts and predicts their accuracy and cost in one
vectorised pass (see planner/simulator/population.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from planner.scenario.models import PROFILE_DIR
from planner.scenario.spec import Scenario
from planner.simulator.population import CostTable, Evaluated, decode, evaluate
from planner.simulator.response import Profile, load_profile


def default_profile_path(sc: Scenario) -> str | None:
    """The scenario's own profile, else the toy profile for ``world: toy`` (None: the paper's)."""
    if sc.profile_path:
        return sc.profile_path
    return str(PROFILE_DIR / "response_toy.yaml") if sc.world == "toy" else None


@dataclass
class Simulator:
    """A scenario with its cost table and response profile: what every search scores against."""

    sc: Scenario
    profile: Profile
    costs: CostTable

    @classmethod
    def create(cls, sc: Scenario, profile_path: str | None = None) -> Simulator:
        profile = load_profile(profile_path or default_profile_path(sc))
        if profile.hardware_overrides:
            sc = replace(sc, hardware=replace(sc.hardware, **profile.hardware_overrides))  # type: ignore[arg-type]
        return cls(sc, profile, CostTable(sc))

    @property
    def teacher_choices(self) -> list[str]:
        """``none`` (direct GRPO) first, then the scenario's teachers by name."""
        return ["none"] + [t.name for t in self.sc.teachers]

    def evaluate(self, teacher: Any, fraction: Any, shares: Any, spend: Any = 1.0) -> Evaluated:
        pop = decode(self.sc, self.costs, teacher, fraction, shares, spend)
        return evaluate(self.sc, self.costs, self.profile.params, pop)
