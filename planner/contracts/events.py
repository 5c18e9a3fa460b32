"""The payload of each event kind in events.jsonl, as types both writer and readers use.

One TypedDict per kind; its required keys are what :class:`~planner.contracts.runlog.EventWriter`
refuses to write without and what a reader may rely on, the rest are optional.
Fractions (accuracy) are 0..1; spends are :class:`~planner.contracts.runlog.Spend`
dictionaries.
"""

from typing import Any, Required, TypedDict


class SpendDict(TypedDict, total=False):
    tokens_generated: int
    tokens_trained: int
    teacher_tokens_scored: int
    student_tokens_scored: int
    wall_seconds: float
    gpu_hours: float
    cpu_seconds: float
    labels: int


class RunStart(TypedDict, total=False):
    plan: Required[str]  # the plan's name
    run_dir: str
    resumed: bool
    host: str
    pid: int
    device: str


class StageStart(TypedDict, total=False):
    stage: Required[str]
    stage_kind: Required[str]
    model: str  # student | teacher
    planned: SpendDict
    resumed_from: str | None  # the checkpoint, relative to the run directory
    total_steps: int


class Metrics(TypedDict, total=False):
    stage: Required[str]
    step: Required[int]
    values: Required[dict[str, float]]  # names: planner.contracts.metrics
    total_steps: int
    spent: SpendDict  # cumulative for the stage, earlier attempts included


class Progress(TypedDict, total=False):
    """Progress through a part of a stage that is not training steps (an eval)."""

    stage: Required[str]
    phase: Required[str]  # "eval"
    done: Required[int]
    total: Required[int]
    benchmark: str


class Eval(TypedDict, total=False):
    stage: Required[str]  # the stage it ran after, or "base" for the untrained student
    benchmark: Required[str]
    accuracy: Required[float]  # avg@k at the plan's temperature
    n: Required[int]  # problems
    k: Required[int]  # samples per problem
    model: str
    greedy_accuracy: float | None
    sampled: bool
    verdicts: dict[str, int]  # correct | wrong | unparseable -> count
    temperature: float
    top_p: float
    tokens_generated: int
    wall_seconds: float


class Checkpoint(TypedDict, total=False):
    stage: Required[str]
    step: Required[int]
    path: Required[str]  # relative to the run directory


class StageEnd(TypedDict, total=False):
    stage: Required[str]
    status: Required[str]  # ok | skipped
    spent: SpendDict
    metrics: dict[str, float]


class Error(TypedDict, total=False):
    message: Required[str]
    stage: str
    error_type: str
    traceback: str


class Warning(TypedDict, total=False):  # noqa: A001 (the event's name)
    message: Required[str]
    stage: str


class RunEnd(TypedDict, total=False):
    status: Required[str]  # ok | error | interrupted
    spent: SpendDict
    stage: str  # the stage an interrupt stopped


PAYLOADS: dict[str, Any] = {
    "run_start": RunStart,
    "stage_start": StageStart,
    "metrics": Metrics,
    "progress": Progress,
    "eval": Eval,
    "checkpoint": Checkpoint,
    "stage_end": StageEnd,
    "error": Error,
    "warning": Warning,
    "run_end": RunEnd,
}
EVENT_KINDS: tuple[str, ...] = tuple(PAYLOADS)
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(k for k in td.__annotations__ if k in td.__required_keys__)
    for kind, td in PAYLOADS.items()
}
FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset(td.__annotations__) for kind, td in PAYLOADS.items()
}
