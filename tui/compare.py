"""Several runs side by side: which runs a ``s2d watch`` command names, and what the table and chart show.

Pure logic, no UI: the comparison screen (tui/screens/compare_screen.py) folds
each run into its own :class:`RunState` and asks these functions for the rows
of its table and the series of its chart.

* :func:`resolve_sources` turns the paths given on the command line into run
  directories and parent folders (a folder that holds run directories, such as
  the one ``s2d demo`` writes, found with tui/run_dir.py's candidates); parent
  folders are looked at again while following, so runs that start later join.
* :func:`compare_rows` gives one row per run, like the end table of
  ``s2d demo`` but from what the runs have written so far: accuracy after each
  stage (predicted beside it when the plan has a prediction), final accuracy,
  compute spent against the plan and labels used. Stage columns are the
  stage ids of all runs in the order the runs have them, so the arms of the
  paper's comparison (which reuse the workflow's stage ids) line up.
* :func:`layout_columns` picks the columns that fit a width, dropping the least
  needed first, so the table stays readable at 80 columns.
* :func:`chart_choices` and :func:`chart_series`: the overlaid chart, one
  series per run, of a metric of one stage, or of accuracy after each stage.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from planner.contracts import BASE_STAGE, UserError, metrics
from tui.run_dir import DirKind, inspect_run_dir, resolve_run_path
from tui.run_state import RUNNING, STARTED, RunState
from tui.views import budget_rows, compute_of, stage_charts

ACCURACY = "accuracy"  # the chart of accuracy after each stage, across runs


# -- which runs ------------------------------------------------------------------
@dataclass
class Sources:
    runs: list[Path] = field(default_factory=list)  # run directories named or found
    parents: list[Path] = field(default_factory=list)  # folders of runs, looked at again

    @property
    def is_comparison(self) -> bool:
        return len(self.runs) > 1 or bool(self.parents)


def _no_runs(path: Path) -> str:
    return (
        f"{path} is not a run directory and holds none: no plan.yaml or events.jsonl in it or "
        "in the folders just below it. Give run directories (runs/<name>) or a folder of them, "
        "such as the one `s2d demo` writes its runs into."
    )


def resolve_sources(paths: Sequence[str | os.PathLike[str]], *, follow: bool) -> Sources:
    """The run directories and folders of runs the paths name; UserError for one that is neither.

    A single path that is a run, or one still to come, is a run (the
    single-run dashboard). A folder holding run directories stands for them.
    With several paths, one that does not exist yet (or is still empty) is
    waited for while following, and refused otherwise.
    """
    sources = Sources()
    seen: set[Path] = set()

    def add(run: Path) -> None:
        key = run.resolve()
        if key not in seen:
            seen.add(key)
            sources.runs.append(run)

    for given in paths:
        path = resolve_run_path(given)
        status = inspect_run_dir(path)
        if status.kind is DirKind.RUN:
            add(path)
        elif status.kind is DirKind.NOT_RUN:
            if not status.candidates:
                raise UserError(_no_runs(path))
            sources.parents.append(path)
            for run in status.candidates:
                add(run)
        elif status.kind is DirKind.FILE:
            raise UserError(status.describe(following=False))
        elif follow or len(paths) == 1:  # MISSING or EMPTY: a run still to come
            add(path)
        else:
            raise UserError(status.describe(following=False))
    return sources


def rescan(parents: Iterable[Path], known: Iterable[Path]) -> list[Path]:
    """Run directories that appeared in the parent folders since ``known`` was listed."""
    have = {p.resolve() for p in known}
    new = []
    for parent in parents:
        for run in inspect_run_dir(parent).candidates:
            if run.resolve() not in have:
                have.add(run.resolve())
                new.append(run)
    return new


def run_names(runs: Sequence[Path]) -> list[str]:
    """Each run's name on screen: its directory's name, with its parent's where two share one."""
    names = [p.name or str(p) for p in runs]
    for i, name in enumerate(names):
        if names.count(name) > 1:
            names[i] = f"{runs[i].parent.name}/{name}"
    return names


# -- the table -------------------------------------------------------------------
@dataclass
class Cell:
    measured: float | None = None  # 0..1
    predicted: float | None = None
    in_run: bool = True  # the run has this stage at all

    def text(self, predicted: bool = True) -> str:
        if not self.in_run:
            return ""
        m = "—" if self.measured is None else f"{self.measured * 100:.1f}"
        if predicted and self.predicted is not None:
            return f"{m} (p {self.predicted * 100:.1f})"
        return m


@dataclass
class CompareRow:
    name: str
    plan: str
    teacher: str
    status: str
    stage: str  # the current stage and its progress, or where it stopped
    cells: dict[str, Cell]
    final: Cell
    unit: str  # gpu_hours | cpu_seconds
    spent: float
    planned: float | None
    labels: int
    labels_planned: int | None
    benchmark: str | None

    def spend_text(self, planned: bool = True) -> str:
        unit = "GPU-h" if self.unit == "gpu_hours" else "CPU-s"

        def num(x: float) -> str:
            return f"{x:.3g}" if self.unit == "gpu_hours" else f"{x:.0f}"

        if planned and self.planned is not None:
            return f"{num(self.spent)}/{num(self.planned)} {unit}"
        return f"{num(self.spent)} {unit}"

    def labels_text(self, planned: bool = True) -> str:
        if planned and self.labels_planned is not None:
            return f"{self.labels}/{self.labels_planned}"
        return str(self.labels)


def stage_columns(states: Sequence[RunState]) -> list[str]:
    """The stage ids of all runs, each run's order kept (base first when a run evaluated it)."""
    columns: list[str] = []
    for state in states:
        ids = list(state.stages)
        for i, sid in enumerate(ids):
            if sid in columns:
                continue
            # after the nearest earlier stage of this run already placed, else at the front
            before = [c for c in ids[:i] if c in columns]
            at = columns.index(before[-1]) + 1 if before else 0
            if not before and columns and columns[0] == BASE_STAGE and sid != BASE_STAGE:
                at = 1
            columns.insert(at, sid)
    return columns


def _last_stage(state: RunState) -> str | None:
    ids = [sid for sid, v in state.stages.items() if sid != BASE_STAGE and v.kind != "eval"]
    return ids[-1] if ids else None


def _stage_text(state: RunState) -> str:
    view = state.stages.get(state.current_stage or "")
    if view is None:
        return "—"
    if state.status in (RUNNING, STARTED) and not state.finished:
        total = f"/{view.total_steps}" if view.total_steps else ""
        return f"{view.id} {view.step}{total}"
    failed = [v.id for v in state.stages.values() if v.status in ("error", "interrupted")]
    if failed:
        return failed[0]
    return "—" if state.finished else view.id


def compare_row(name: str, state: RunState) -> CompareRow:
    plan = state.plan
    bench = state.main_benchmark
    cells = {}
    for sid, view in state.stages.items():
        result = view.evals.get(bench) if bench else None
        cells[sid] = Cell(
            measured=result.accuracy if result else None,
            predicted=view.predicted.accuracy if view.predicted else None,
        )
    last = _last_stage(state)
    final = Cell(cells[last].measured, cells[last].predicted) if last else Cell()
    if plan is not None and plan.prediction is not None:
        final.predicted = plan.prediction.final_accuracy
    budget = budget_rows(state)
    planned = [b.compute_planned for b in budget if b.compute_planned is not None]
    labels_planned = [b.labels_planned for b in budget if b.labels_planned is not None]
    if plan is not None and plan.prediction is not None and plan.prediction.total_compute > 0:
        total_planned: float | None = plan.prediction.total_compute
    else:
        total_planned = sum(planned) if planned else None
    spent = sum(b.compute_spent for b in budget)
    if state.total_spent is not None:  # the run's own total, once it ended
        spent = max(spent, compute_of(state.total_spent, state.compute_unit))
    teacher = "—"
    if plan is not None:
        teacher = plan.teacher.name if plan.teacher is not None else "none"
    return CompareRow(
        name=name,
        plan=state.run_name or (plan.name if plan else "—"),
        teacher=teacher,
        status=state.status,
        stage=_stage_text(state),
        cells=cells,
        final=final,
        unit=state.compute_unit,
        spent=spent,
        planned=total_planned,
        labels=sum(b.labels_spent for b in budget),
        labels_planned=sum(labels_planned) if labels_planned else None,
        benchmark=bench,
    )


def compare_rows(runs: Sequence[tuple[str, RunState]]) -> list[CompareRow]:
    """One row per run; read each state under its lock."""
    return [compare_row(name, state) for name, state in runs]


# -- the columns that fit --------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str  # run | plan | teacher | status | stage | stage:<id> | final | spend | labels
    header: str
    right: bool = False


@dataclass(frozen=True)
class Layout:
    columns: tuple[Column, ...]
    predicted: bool = True  # stage cells and final show the prediction beside the measurement
    planned: bool = True  # spend and labels show the plan beside what was spent
    unit_in_cells: bool = True  # "323/510 CPU-s"; else the unit is in the header
    merged_status: bool = False  # the status column also says the stage (no stage column)


STATUS_MARK = {"waiting": "◌", "started": "●", "running": "●", "ok": "✔", "error": "✖"}


def _merged_status(row: CompareRow) -> str:
    mark = STATUS_MARK.get(row.status, "■")
    return mark if row.stage == "—" else f"{mark} {row.stage}"


def cell_text(row: CompareRow, column: Column, layout: Layout) -> str:
    key = column.key
    if key.startswith("stage:"):
        return row.cells.get(key[6:], Cell(in_run=False)).text(layout.predicted)
    if key == "final":
        return row.final.text(layout.predicted)
    if key == "spend":
        text = row.spend_text(layout.planned)
        return text if layout.unit_in_cells else text.rsplit(" ", 1)[0]
    if key == "labels":
        return row.labels_text(layout.planned)
    if key == "status" and layout.merged_status:
        return _merged_status(row)
    return str(getattr(row, "name" if key == "run" else key))


# DataTable pads each cell by one column either side.
CELL_PADDING = 2


def column_widths(rows: Sequence[CompareRow], layout: Layout) -> list[int]:
    """Each column's width: its header's or its widest cell's."""
    return [
        max([len(column.header), *(len(cell_text(r, column, layout)) for r in rows)])
        for column in layout.columns
    ]


def table_width(rows: Sequence[CompareRow], layout: Layout) -> int:
    return sum(w + CELL_PADDING for w in column_widths(rows, layout))


# What goes first when the table is too wide, least needed first.
DROPS = ("plan", "teacher", "base", "stage", "planned", "predicted", "unit", "labels")


def layout_columns(rows: Sequence[CompareRow], stages: Sequence[str], width: int) -> Layout:
    """The richest set of columns whose cells fit ``width`` cells, dropping :data:`DROPS` in order."""
    units = {r.unit for r in rows}
    unit = "GPU-h" if units == {"gpu_hours"} else "CPU-s" if units == {"cpu_seconds"} else None

    def build(dropped: set[str]) -> Layout:
        merged = "stage" in dropped
        in_cells = "unit" not in dropped or unit is None
        cols = [Column("run", "run")]
        cols += [Column(k, k) for k in ("plan", "teacher") if k not in dropped]
        cols += [Column("status", "status")]
        cols += [] if merged else [Column("stage", "stage")]
        cols += [
            Column(f"stage:{s}", s, right=True)
            for s in stages
            if s != BASE_STAGE or "base" not in dropped
        ]
        cols += [Column("final", "final", right=True)]
        cols += [Column("spend", "spend" if in_cells else unit or "spend", right=True)]
        cols += [] if "labels" in dropped else [Column("labels", "labels", right=True)]
        return Layout(
            tuple(cols),
            predicted="predicted" not in dropped,
            planned="planned" not in dropped,
            unit_in_cells=in_cells,
            merged_status=merged,
        )

    dropped: set[str] = set()
    layout = build(dropped)
    for name in DROPS:
        if table_width(rows, layout) <= width:
            return layout
        dropped.add(name)
        layout = build(dropped)
    return layout


# -- the chart -------------------------------------------------------------------
@dataclass(frozen=True)
class ChartChoice:
    metric: str  # a key of planner.contracts.metrics.METRICS, or ACCURACY
    stage: str | None = None  # the stage whose curve each run shows (None for accuracy)

    @property
    def title(self) -> str:
        if self.metric == ACCURACY:
            return "accuracy after each stage (%)"
        return f"{metrics.label(self.metric)} · {self.stage}"


def chart_choices(states: Sequence[RunState]) -> list[ChartChoice]:
    """Every (metric, stage) some run charts and has logged, in metrics.METRICS order, then accuracy.

    A stage's charts are its kind's, as on the single-run screen (tui.views.stage_charts).
    """
    stages = stage_columns(states)
    charted = {(key, sid) for st in states for sid in st.stages for key in stage_charts(st, sid)}
    choices = []
    for key in metrics.METRICS:
        for sid in stages:
            if (key, sid) in charted and any(
                sid in st.stages and len(st.stages[sid].curves.get(key, ())) for st in states
            ):
                choices.append(ChartChoice(key, sid))
    choices.append(ChartChoice(ACCURACY))
    return choices


def default_choice(states: Sequence[RunState], choices: Sequence[ChartChoice]) -> ChartChoice:
    """The reward of the stage most runs logged it for (GRPO stages log reward), else accuracy."""
    rewards = [c for c in choices if c.metric == "reward"]
    if not rewards:
        return ChartChoice(ACCURACY)

    def runs_with(c: ChartChoice) -> int:
        return sum(
            1 for st in states if c.stage in st.stages and "reward" in st.stages[c.stage].curves
        )

    best = max(runs_with(c) for c in rewards)
    return next(c for c in rewards if runs_with(c) == best)


@dataclass
class Series:
    run: str
    xs: list[float]
    ys: list[float]


def chart_series(
    choice: ChartChoice, runs: Sequence[tuple[str, RunState]], stages: Sequence[str]
) -> list[Series]:
    """One series per run that has points for the choice (accuracy: x is the stage column, 1..n)."""
    out = []
    for name, state in runs:
        if choice.metric == ACCURACY:
            bench = state.main_benchmark
            xs, ys = [], []
            for i, sid in enumerate(stages, start=1):
                view = state.stages.get(sid)
                result = view.evals.get(bench) if view is not None and bench else None
                if result is not None:
                    xs.append(float(i))
                    ys.append(result.accuracy * 100)
            if xs:
                out.append(Series(name, xs, ys))
            continue
        view = state.stages.get(choice.stage or "")
        series = view.curves.get(choice.metric) if view is not None else None
        if series is not None and len(series):
            xs, ys = series.points()
            out.append(Series(name, xs, ys))
    return out


def chart_steps(choice: ChartChoice, states: Sequence[RunState]) -> int | None:
    """The longest planned step count of the chosen stage across runs (the x axis' end)."""
    totals = [
        st.stages[choice.stage].total_steps or 0
        for st in states
        if choice.stage is not None and choice.stage in st.stages
    ]
    return max(totals) if totals and max(totals) > 0 else None
