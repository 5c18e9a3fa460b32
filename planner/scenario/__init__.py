"""What the user plans for: the student and candidate teachers, labels, prompts, hardware, budget.

Loading a scenario resolves every model to a profile (shipped, a local
config.json, or the toy zoo) and the hardware to its figures, so that the
simulator and the search never read files.
"""

from planner.scenario.hardware import Hardware, resolve_hardware
from planner.scenario.models import PROFILE_DIR, ModelProfile, resolve_model
from planner.scenario.spec import (
    STAGES,
    Scenario,
    StageShape,
    is_scenario_data,
    load_scenario,
    scenario_from_dict,
)
from planner.scenario.zoo import resolve_zoo

__all__ = [
    "PROFILE_DIR",
    "STAGES",
    "Hardware",
    "ModelProfile",
    "Scenario",
    "StageShape",
    "is_scenario_data",
    "load_scenario",
    "resolve_hardware",
    "resolve_model",
    "resolve_zoo",
    "scenario_from_dict",
]
