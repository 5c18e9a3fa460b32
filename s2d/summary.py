"""The table `s2d run` prints at the end: each stage's status, accuracy and spend, from the run directory.

It is read from what the run left on disk, the way ``s2d watch`` reads it
(:class:`tui.follower.RunFollower` folding events.jsonl into a
:class:`tui.run_state.RunState`, and :mod:`tui.views` for spent against planned),
with each stage's DONE marker (:meth:`planner.contracts.RunDir.read_done`) for
whether it finished. So it is the same after a resume as after a run in one go:
a stage that finished in an earlier attempt is listed as ``skipped``, with the
accuracy and spend it had then.

One row per stage, the untrained student's eval (``base``) first: its kind,
status (done, skipped, interrupted, failed, not run), the accuracy measured
after it on each benchmark (sampled, and greedy when the plan asks for it),
the plan's predicted accuracy beside it where the plan carries a prediction
for that benchmark, and tokens generated and compute spent against planned
(planned: the ``stage_start`` event's, else the prediction's compute).
:func:`summary_lines` gives plain text (logs, pipes, ``--quiet``; lines under 100
columns), :func:`summary_table` a rich Table for a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.contracts import BASE_STAGE, DamagedFile, RunDir, Spend, StageRecord
from tui import format as fmt
from tui.follower import RunFollower
from tui.run_state import OK, MeasuredEval, RunState, StageView
from tui.views import budget_rows, compute_of

MAX_COLUMNS = 99  # plain lines stay under 100 columns
STATUS = {"interrupted": "interrupted", "error": "failed", "running": "running"}
UNIT = {"gpu_hours": "GPU-h", "cpu_seconds": "CPU-s"}
NONE = "-"


@dataclass
class StageSummary:
    stage: str
    kind: str
    status: str  # done | skipped (finished in an earlier attempt) | interrupted | failed | not run
    evals: list[MeasuredEval] = field(default_factory=list)
    predicted: float | None = None  # the plan's prediction on ``RunSummary.predicted_on``
    tokens_spent: int | None = None  # tokens generated
    tokens_planned: int | None = None
    compute_spent: float | None = None  # in RunSummary.unit
    compute_planned: float | None = None


@dataclass
class RunSummary:
    name: str
    run_dir: Path
    status: str  # the run's: ok, interrupted, error, or running/waiting for a live one
    unit: str  # gpu_hours | cpu_seconds
    predicted_on: str | None  # the benchmark the plan's prediction is for
    stages: list[StageSummary]
    attempts: int = 1

    @property
    def any_skipped(self) -> bool:
        return any(s.status == "skipped" for s in self.stages)


def _record(run: RunDir, stage_id: str) -> StageRecord | None:
    try:
        return run.read_done(stage_id)
    except DamagedFile:  # a resume sets it aside and redoes the stage; not finished
        return None


def _status(state: RunState, view: StageView, record: StageRecord | None) -> str:
    evaluated_only = view.kind == "eval" and view.evals and state.status == OK
    if (record is not None and record.status == "ok") or view.status == "ok" or evaluated_only:
        return "skipped" if view.attempt < state.attempts else "done"
    return STATUS.get(view.status, "not run")


def summarize(run_dir: str | Path) -> RunSummary:
    """The summary of the run directory as it is now on disk."""
    run_dir = Path(run_dir)
    state = RunState()
    RunFollower(run_dir, state).read_to_end()
    run = RunDir(run_dir)
    unit = state.compute_unit
    prediction = state.plan.prediction if state.plan is not None else None
    predicted_on = prediction.benchmark if prediction and prediction.benchmark else None
    budgets = {r.stage: r for r in budget_rows(state)}
    stages = []
    for view in state.stages.values():
        record = _record(run, view.id)
        row = StageSummary(view.id, view.kind, _status(state, view, record))
        row.evals = [view.evals[b] for b in state.benchmarks if b in view.evals]
        if view.predicted is not None and predicted_on is not None:
            row.predicted = view.predicted.accuracy
        budget = budgets.get(view.id)
        if budget is not None:  # a training stage
            spent = view.spent
            if view.spent_raw is None and record is not None and record.spent:
                spent = Spend.from_dict(record.spent)  # the log lost it; the marker has it
            started = view.spent_raw is not None or row.status in ("done", "skipped")
            row.tokens_spent = spent.tokens_generated if started else None
            row.compute_spent = compute_of(spent, unit) if started else None
            if view.planned is not None and view.planned.tokens_generated:
                row.tokens_planned = view.planned.tokens_generated
            row.compute_planned = budget.compute_planned
        stages.append(row)
    stages.sort(key=lambda s: s.stage != BASE_STAGE)  # the untrained student first
    return RunSummary(
        name=state.run_name or run_dir.name,
        run_dir=run_dir,
        status=state.status,
        unit=unit,
        predicted_on=predicted_on,
        stages=stages,
        attempts=state.attempts,
    )


# -- cells ---------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return NONE if x is None else fmt.pct(x)


def _compute(x: float | None, unit: str) -> str:
    if x is None:
        return NONE
    if unit == "gpu_hours":
        return f"{x:.3g}"
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def _against(spent: str, planned: str | None) -> str:
    return spent if planned is None else f"{spent}/{planned}"


HEADERS = ("stage", "kind", "status", "benchmark", "sampled", "greedy", "predicted")


def _rows(summary: RunSummary) -> list[list[str]]:
    """Cells of the table, a line per stage and benchmark (the stage's cells on its first)."""
    rows = []
    for s in summary.stages:
        tokens = NONE
        if s.tokens_spent is not None or s.tokens_planned is not None:
            tokens = _against(
                NONE if s.tokens_spent is None else fmt.count(s.tokens_spent),
                None if s.tokens_planned is None else fmt.count(s.tokens_planned),
            )
        compute = NONE
        if s.compute_spent is not None or s.compute_planned is not None:
            compute = _against(
                _compute(s.compute_spent, summary.unit),
                None if s.compute_planned is None else _compute(s.compute_planned, summary.unit),
            )
        # a line per benchmark measured, and one for the predicted benchmark if not measured
        benches: list[tuple[str | None, MeasuredEval | None]] = [(e.benchmark, e) for e in s.evals]
        if s.predicted is not None and summary.predicted_on not in [b for b, _ in benches]:
            benches.append((summary.predicted_on, None))
        for i, (bench, e) in enumerate(benches or [(None, None)]):
            first = i == 0
            rows.append(
                [
                    s.stage if first else "",
                    s.kind if first else "",
                    s.status if first else "",
                    bench or NONE,
                    _pct(e.accuracy if e else None),
                    _pct(e.greedy if e else None),
                    _pct(s.predicted if bench == summary.predicted_on else None),
                    tokens if first else "",
                    compute if first else "",
                ]
            )
    return rows


def _headers(summary: RunSummary) -> tuple[str, ...]:
    return (*HEADERS, "tokens gen", UNIT.get(summary.unit, summary.unit))


def _notes(summary: RunSummary) -> list[str]:
    notes = []
    if summary.predicted_on:
        notes.append(f"predicted: the plan's prediction on {summary.predicted_on}")
    notes.append("spend: spent/planned (tokens generated; compute)")
    if summary.any_skipped:
        notes.append("skipped: finished in an earlier attempt in this run directory")
    return notes


def _title(summary: RunSummary) -> str:
    attempts = f", {summary.attempts} attempts" if summary.attempts > 1 else ""
    return f"{summary.name}: run {summary.status}{attempts}"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def summary_lines(summary: RunSummary, max_columns: int = MAX_COLUMNS) -> list[str]:
    """The table as plain text lines of at most ``max_columns`` characters."""
    headers = _headers(summary)
    rows = _rows(summary)
    widths = [max(len(c) for c in col) for col in zip(headers, *rows, strict=True)]
    gap = 2
    over = sum(widths) + gap * (len(widths) - 1) - max_columns
    floor = {i: max(len(headers[i]), 8) for i in (0, 1, 3)}  # stage, kind, benchmark
    while over > 0:  # the widest of the name columns gives way, a character at a time
        i = max(floor, key=lambda i: widths[i] - floor[i])
        if widths[i] <= floor[i]:
            break
        widths[i] -= 1
        over -= 1
    right = {4, 5, 6, 7, 8}

    def line(cells: list[str] | tuple[str, ...]) -> str:
        out = []
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
            cell = _shorten(cell, w)
            out.append(cell.rjust(w) if i in right else cell.ljust(w))
        return (" " * gap).join(out).rstrip()[:max_columns]

    text = [_shorten(_title(summary), max_columns), line(headers)]
    text += [line(r) for r in rows]
    text += [_shorten(n, max_columns) for n in _notes(summary)]
    return text


def summary_table(summary: RunSummary) -> Any:
    """The table as a rich Table (every cell plain text: names are shown as written)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(_title(summary)), title_justify="left", caption_justify="left")
    for i, h in enumerate(_headers(summary)):
        table.add_column(h, justify="right" if i >= 4 else "left", no_wrap=i != 0)
    status_style = {"done": "green", "skipped": "cyan", "interrupted": "magenta", "failed": "red"}
    for r in _rows(summary):
        cells = [Text(c) for c in r]
        cells[2].stylize(status_style.get(r[2], "dim"))
        table.add_row(*cells)
    table.caption = Text("; ".join(_notes(summary)), style="dim")
    return table


def print_summary(run_dir: str | Path, console: Any = None, plain: bool = False) -> None:
    """Print the run directory's summary: a rich table on ``console``, else plain lines."""
    summary = summarize(run_dir)
    if plain or console is None:
        print("\n".join(summary_lines(summary)))
    else:
        console.print(summary_table(summary))
