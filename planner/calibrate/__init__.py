"""``s2d calibrate``: refit the simulator to measured runs, and check it on runs it did not see.

:func:`calibrate_from_runs` turns run directories into observations and fits
the response model (and the hardware's time factors) to them; the
cross-validation checks and the paper's comparison arms live beside it.
"""

from planner.calibrate.arms import PAPER_ROWS, ROWS, Row, arm_plans, check_workflow, prediction_plan
from planner.calibrate.crossval import held_out_arms, leave_one_out, run_dirs
from planner.calibrate.fit_v2 import FittedV2, SecondModel
from planner.calibrate.from_runs import CalibrationReport, calibrate_from_runs
from planner.calibrate.records import (
    DATASET,
    PLANNER_PLANS,
    REBUILT_ZOO,
    add_records,
    finished_runs,
    load_records,
    other_zoo_models,
    paper_records,
    record_from_run,
    records_from_comparison,
    share_base_eval,
    zoo_models,
    zoo_notice,
)
from planner.calibrate.validate import (
    FirstModel,
    decisions,
    in_sample,
    leave_one_arm_out,
    leave_one_pair_out,
    pairs,
    toy_records,
    transfer,
)

__all__ = [
    "DATASET",
    "PLANNER_PLANS",
    "REBUILT_ZOO",
    "FirstModel",
    "FittedV2",
    "SecondModel",
    "add_records",
    "decisions",
    "finished_runs",
    "in_sample",
    "transfer",
    "leave_one_arm_out",
    "leave_one_pair_out",
    "load_records",
    "other_zoo_models",
    "zoo_models",
    "zoo_notice",
    "pairs",
    "paper_records",
    "record_from_run",
    "records_from_comparison",
    "share_base_eval",
    "toy_records",
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
