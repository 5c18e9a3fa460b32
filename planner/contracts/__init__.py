"""What crosses package lines: plans, run directories, run logs, stage kinds, errors.

The trainer writes what these types describe, the UI and calibration read it;
no other package spells a file name or an event field by hand.
"""

from planner.contracts import events, metrics
from planner.contracts.errors import FieldProblem, UserError, ValidationError
from planner.contracts.files import atomic_write_text, load_yaml_text, read_text
from planner.contracts.kinds import KINDS, STAGE_KINDS, StageKind, kind_of
from planner.contracts.plan import (
    SCHEMA_VERSION,
    Budget,
    Datasets,
    EvalOptions,
    EvalSet,
    ForwardKLOptions,
    GRPOOptions,
    LabelSplit,
    ModelRef,
    OPDOptions,
    Optim,
    Plan,
    Prediction,
    Rollout,
    Stage,
    StagePrediction,
    VerifierOptions,
    dump_plan,
    load_plan,
    loads_plan,
    plan_from_dict,
    plan_to_dict,
    save_plan,
)
from planner.contracts.rundir import BASE_STAGE, RunDir, StageRecord
from planner.contracts.runlog import (
    EVENTS_FILE,
    Event,
    EventLogError,
    EventTail,
    EventWriter,
    Spend,
    read_events,
)

__all__ = [
    "BASE_STAGE",
    "KINDS",
    "STAGE_KINDS",
    "RunDir",
    "StageKind",
    "StageRecord",
    "events",
    "kind_of",
    "metrics",
    "EVENTS_FILE",
    "SCHEMA_VERSION",
    "Budget",
    "Datasets",
    "EvalOptions",
    "EvalSet",
    "Event",
    "EventLogError",
    "EventTail",
    "EventWriter",
    "FieldProblem",
    "ForwardKLOptions",
    "GRPOOptions",
    "LabelSplit",
    "ModelRef",
    "OPDOptions",
    "Optim",
    "Plan",
    "Prediction",
    "Rollout",
    "Spend",
    "Stage",
    "StagePrediction",
    "VerifierOptions",
    "UserError",
    "ValidationError",
    "atomic_write_text",
    "dump_plan",
    "load_plan",
    "load_yaml_text",
    "loads_plan",
    "plan_from_dict",
    "plan_to_dict",
    "read_events",
    "read_text",
    "save_plan",
]
