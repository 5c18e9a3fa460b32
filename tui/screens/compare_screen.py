"""Several runs side by side: a table of their accuracies and spend, and their curves overlaid.

Each run directory has its own :class:`RunState` and :class:`RunFollower`;
one thread worker steps them all in turn (file reads never block the event
loop) and looks again in the parent folders for runs that started since.
Every redraw reads each state under its lock. Pausing stops the reading, as on
the single-run screen. ``enter`` opens the run under the cursor as its own
:class:`WatchScreen`; ``escape`` comes back (a binding of the app).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from tui.compare import (
    ACCURACY,
    ChartChoice,
    Layout,
    chart_choices,
    chart_series,
    chart_steps,
    compare_rows,
    default_choice,
    layout_columns,
    rescan,
    run_names,
    stage_columns,
)
from tui.follower import RunFollower
from tui.messages import RunChanged
from tui.run_state import ERROR, INTERRUPTED, OK, RunState
from tui.screens.pausing import Pausing
from tui.screens.watch_screen import WatchScreen
from tui.widgets.banner import Banner
from tui.widgets.compare_chart import CompareChart
from tui.widgets.compare_table import CompareTable

RESCAN_EVERY = 8  # parent folders are looked at for new runs every this many polls
TABLE_CHROME = 2  # the table's border, left and right


@dataclass
class WatchedRun:
    name: str
    path: Path
    state: RunState
    follower: RunFollower


class CompareScreen(Pausing, Screen[None]):
    BINDINGS = [
        Binding("enter", "open_run", "Open run", show=True),
        Binding("c", "chart(1)", "Next chart"),
        Binding("C", "chart(-1)", "Prev chart", show=False),
        Binding("a", "accuracy", "Accuracy"),
        Binding("p,space", "pause", "Pause"),
        Binding("s", "save_screenshot", "Save SVG"),
    ]

    def __init__(
        self,
        runs: list[Path],
        *,
        parents: list[Path] | None = None,
        follow: bool = True,
        poll_interval_s: float = 0.25,
    ):
        super().__init__()
        self.parents = list(parents or [])
        self.follow = follow
        self.poll_interval_s = poll_interval_s
        self.runs: list[WatchedRun] = []
        self._runs_lock = threading.Lock()
        self._add_runs(runs)
        self.paused = threading.Event()
        self._wake = threading.Event()
        self.steps_done = 0  # rounds of reading every run (tests wait on it)
        self.changes = 0
        self.choice: ChartChoice | None = None  # None: the default chart
        self.reader_error: str | None = None

    def _add_runs(self, paths: list[Path]) -> None:
        with self._runs_lock:
            paths = [r.path for r in self.runs] + list(paths)
            names = run_names(paths)
            known = {r.path: r for r in self.runs}
            self.runs = []
            for name, path in zip(names, paths, strict=True):
                run = known.get(path)
                if run is None:
                    state = RunState()
                    run = WatchedRun(name, path, state, RunFollower(path, state))
                run.name = name
                self.runs.append(run)

    def snapshot(self) -> list[WatchedRun]:
        with self._runs_lock:
            return list(self.runs)

    def compose(self) -> ComposeResult:
        yield Static(id="compare-header")
        yield Banner(id="compare-banner")
        yield CompareTable(id="compare-table")
        yield CompareChart(id="compare-chart")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(CompareTable)
        table.border_title = "runs side by side: accuracy after each stage (p: predicted)"
        self.redraw()
        self.query_one(CompareTable).focus()
        self._follow()

    def on_unmount(self) -> None:
        self._wake.set()

    def on_resize(self, event: events.Resize) -> None:
        self.redraw()

    # -- reading ---------------------------------------------------------------
    @work(thread=True, exclusive=True, group="follow-all", exit_on_error=False)
    def _follow(self) -> None:
        try:
            self._follow_loop()
        except Exception as e:  # any failure must reach the screen, not freeze it
            self.reader_error = f"{type(e).__name__}: {e}"
            self.post_message(RunChanged(self.changes))

    def _follow_loop(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            if self.paused.is_set():
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()
                continue
            changed = more = False
            if self.follow and self.parents and self.steps_done % RESCAN_EVERY == RESCAN_EVERY - 1:
                new = rescan(self.parents, [r.path for r in self.snapshot()])
                if new:
                    self._add_runs(new)
                    changed = True
            for run in self.snapshot():
                result = run.follower.step()
                changed |= result.changed
                more |= result.more
            self.steps_done += 1
            if changed or self.steps_done == 1:
                self.changes += 1
                self.post_message(RunChanged(self.changes))
            if not self.follow and self._all_read():
                return  # opened once: everything written so far is shown
            if not more:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()

    def _all_read(self) -> bool:
        return all(
            r.state.caught_up or not r.follower.dir_status.is_run or r.state.read_error
            for r in self.snapshot()
        )

    @property
    def done_reading(self) -> bool:
        """Everything written so far in every run is shown, or nothing more will be."""
        return self.reader_error is not None or (self.steps_done > 0 and self._all_read())

    @on(RunChanged)
    def _on_run_changed(self, message: RunChanged) -> None:
        self.redraw()

    # -- drawing ---------------------------------------------------------------
    def _problems(self, runs: list[WatchedRun]) -> tuple[str | None, str]:
        if self.reader_error:
            return (
                f"Reading the runs stopped: {self.reader_error}. The screen shows what was read before; restart `s2d watch` to try again.",
                "error",
            )
        problems = []
        for r in runs:
            st = r.follower.dir_status
            if not st.is_run:
                if not self.follow:
                    problems.append(f"{r.name}: {st.describe(False)}")
            elif r.state.read_error:
                problems.append(f"{r.name}: {r.state.read_error}")
            elif r.state.plan_error:
                problems.append(f"{r.name}: plan.yaml could not be read")
        if not problems:
            return None, "info"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return problems[0] + more, "warning"

    def _choices(self, states: list[RunState]) -> tuple[list[ChartChoice], ChartChoice]:
        choices = chart_choices(states)
        shown = self.choice if self.choice in choices else default_choice(states, choices)
        return choices, shown

    def redraw(self) -> None:
        runs = self.snapshot()
        for r in runs:
            r.state.lock.acquire()
        try:
            pairs = [(r.name, r.state) for r in runs]
            states = [r.state for r in runs]
            stages = stage_columns(states)
            rows = compare_rows(pairs)
            width = max(40, self.app.size.width - TABLE_CHROME)
            layout: Layout = layout_columns(rows, stages, width)
            choices, shown = self._choices(states)
            series = chart_series(shown, pairs, stages)
            steps = chart_steps(shown, states)
        finally:
            for r in runs:
                r.state.lock.release()
        self._draw_header(runs)
        self.query_one(Banner).say(*self._problems(runs))
        self.query_one(CompareTable).show(rows, layout)
        colors = {r.name: i for i, r in enumerate(runs)}
        position = f"{choices.index(shown) + 1}/{len(choices)}, c: next" if choices else ""
        self.query_one(CompareChart).show(
            shown,
            series,
            colors,
            stages=stages if shown.metric == ACCURACY else (),
            steps=steps,
            position=position,
        )

    def _draw_header(self, runs: list[WatchedRun]) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" s2d watch ", "bold reverse")
        text.append(f"  {len(runs)} runs  ", "bold")
        ok = sum(1 for r in runs if r.state.status == OK)
        failed = sum(1 for r in runs if r.state.status == ERROR)
        stopped = sum(1 for r in runs if r.state.status == INTERRUPTED)
        text.append(f"{ok} finished", "green" if ok == len(runs) else "")
        if failed:
            text.append(f", {failed} failed", "red")
        if stopped:
            text.append(f", {stopped} interrupted", "magenta")
        if self.paused.is_set():
            text.append("  ⏸ PAUSED", "bold black on yellow")
        elif self.follow and ok + failed + stopped < len(runs):
            text.append("  following", "dim")
        if len(self.parents) == 1:
            text.append(f"  in {self.parents[0]}", "dim")
        self.query_one("#compare-header", Static).update(text)

    # -- actions ---------------------------------------------------------------
    @on(DataTable.RowSelected)
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_run(str(event.row_key.value))

    def action_open_run(self) -> None:
        table = self.query_one(CompareTable)
        runs = self.snapshot()
        if runs and 0 <= table.cursor_row < len(runs):
            self.open_run(runs[table.cursor_row].name)

    def open_run(self, name: str) -> None:
        run = next((r for r in self.snapshot() if r.name == name), None)
        if run is None:
            return
        self.app.push_screen(
            WatchScreen(run.path, follow=self.follow, poll_interval_s=self.poll_interval_s)
        )

    def action_chart(self, delta: int) -> None:
        runs = self.snapshot()
        states = [r.state for r in runs]
        for st in states:
            st.lock.acquire()
        try:
            choices, shown = self._choices(states)
        finally:
            for st in states:
                st.lock.release()
        index = choices.index(shown) if shown in choices else 0
        self.choice = choices[(index + delta) % len(choices)]
        self.redraw()

    def action_accuracy(self) -> None:
        self.choice = None if self.choice == ChartChoice(ACCURACY) else ChartChoice(ACCURACY)
        self.redraw()

    def action_save_screenshot(self) -> None:
        path = self.app.save_screenshot(filename="runs-side-by-side.svg")
        self.notify(f"Saved {path}", markup=False)
