"""``s2d calibrate``: refit the simulator to measured runs, and check it on runs it did not see.

:func:`calibrate_from_runs` turns run directories into observations and fits
the response model (and the hardware's time factors) to them; the
cross-validation checks and the paper's comparison arms live beside it.
"""

from planner.calibrate.arms import PAPER_ROWS, ROWS, Row, arm_plans, check_workflow, prediction_plan
from planner.calibrate.crossval import held_out_arms, leave_one_out, run_dirs
from planner.calibrate.from_runs import CalibrationReport, calibrate_from_runs

__all__ = [
    "PAPER_ROWS",
    "ROWS",
    "CalibrationReport",
    "Row",
    "arm_plans",
    "calibrate_from_runs",
    "check_workflow",
    "held_out_arms",
    "leave_one_out",
    "prediction_plan",
    "run_dirs",
]
