"""Predicted accuracy and cost: of a population of allocations at once, and of a written plan.

:class:`Simulator` binds a scenario to its cost table and response profile;
:func:`simulate_plan` predicts and prices a plan as written, stage by stage.
"""

from planner.simulator.plans import simulate_plan
from planner.simulator.response import Profile, dump_profile, load_profile
from planner.simulator.simulator import Simulator

__all__ = ["Profile", "Simulator", "dump_profile", "load_profile", "simulate_plan"]
