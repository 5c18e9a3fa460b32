"""``s2d plan``: search allocations with Optuna, emit the best as plans, keep every trial.

:func:`make_plans` is the whole command from Python (the explorer and the
tests call it); the storage helpers open the user's study and never show a
password.
"""

from planner.search import space
from planner.search.grid import grid_search
from planner.search.pipeline import PlanResult, make_plans
from planner.search.report import plan_summary, print_plan
from planner.search.storage import mask_url, open_storage, storage_url

__all__ = [
    "PlanResult",
    "grid_search",
    "make_plans",
    "mask_url",
    "open_storage",
    "plan_summary",
    "space",
    "print_plan",
    "storage_url",
]
