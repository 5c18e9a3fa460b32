"""The simulator bound to one scenario: its cost table and response profile, priced in batches.

Everything that scores allocations (the search, the reference grid, ``s2d
simulate``, calibration and its cross-validation) holds one
:class:`Simulator`; :meth:`Simulator.evaluate` decodes a population of
allocations into step counts and predicts their accuracy and cost in one
vectorised pass (see planner/simulator/population.py). Creating one refuses a
scenario whose benchmark the response profile has no ``benchmark_rl_scale``
for: that table is where a profile describes each benchmark it predicts.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

from planner.contracts.errors import UserError
from planner.scenario.models import PROFILE_DIR
from planner.scenario.spec import Scenario
from planner.simulator.population import CostTable, Evaluated, decode, evaluate
from planner.simulator.response import DEFAULT_PROFILE, Profile, load_profile
from planner.simulator.response_v2 import SecondParams


def default_profile_path(sc: Scenario) -> str | None:
    """The scenario's own profile, else the toy profile for ``world: toy`` (None: the paper's)."""
    if sc.profile_path:
        return sc.profile_path
    return str(PROFILE_DIR / "response_toy.yaml") if sc.world == "toy" else None


def check_benchmark(sc: Scenario, profile: Profile, profile_source: str) -> None:
    """Refuse a scenario benchmark the profile has no ``benchmark_rl_scale`` for.

    The scale says how RL on the training problems carries over to a benchmark (and
    whether GRPO's signal is judged on it); a benchmark missing from the table would
    silently be treated as the training distribution itself.
    """
    if isinstance(profile.params, SecondParams):
        from planner.simulator import second

        second.check_benchmark(sc, profile.params, profile_source)
        return
    scales = profile.params.benchmark_rl_scale
    bench = sc.benchmark
    if bench in scales:
        return
    close = difflib.get_close_matches(bench[:200], list(scales), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    known = ", ".join(f"{b} ({k:g})" for b, k in scales.items()) or "none"
    example = next((f", e.g. {b}: {k:g}" for b, k in scales.items() if k != 1.0), "")
    raise UserError(
        f"{sc.source}: objective.benchmark: the response profile {profile_source} does not know benchmark {bench!r}; {hint}"
        f"it knows {known} under benchmark_rl_scale, the share of RL's gain on the training problems that shows on each benchmark. "
        f"To plan for {bench!r}, copy the profile, add `{bench}: 1.0` under its benchmark_rl_scale if RL trains on problems like this benchmark's "
        f"(less than 1 for a benchmark RL only transfers to{example}), and name the copy in the scenario (profile: FILE) or with --profile; or pick a benchmark it knows."
    )


@dataclass
class Simulator:
    """A scenario with its cost table and response profile: what every search scores against."""

    sc: Scenario
    profile: Profile
    costs: CostTable

    @classmethod
    def create(cls, sc: Scenario, profile_path: str | None = None) -> Simulator:
        path = profile_path or default_profile_path(sc)
        profile = load_profile(path)
        check_benchmark(sc, profile, str(path or DEFAULT_PROFILE))
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
