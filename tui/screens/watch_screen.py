"""The dashboard of one run: timeline, budget, accuracy, live curves and the log.

The screen owns the :class:`RunState` and a thread worker that feeds it from
the run directory (harlequin's pattern: blocking reads in a thread, results as
messages). Every redraw reads the state under its lock. Following pauses by
not reading the file: the screen stays as it was until resumed, then catches up.
Should the reader fail, it stops and says why in the banner (``reader_error``)
rather than leave a screen that silently stops changing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import get_current_worker

from planner.contracts import RunDir
from tui.follower import RunFollower
from tui.messages import RunChanged
from tui.run_dir import DirKind
from tui.run_state import RunState, StageView
from tui.screens.pausing import Pausing
from tui.views import BURN_DOWN, accuracy_rows, burn_down, run_banner, watch_charts
from tui.widgets.accuracy_chart import AccuracyChart
from tui.widgets.accuracy_table import AccuracyTable
from tui.widgets.banner import Banner
from tui.widgets.budget_bars import BudgetBars
from tui.widgets.log_pane import LogPane
from tui.widgets.metric_chart import MetricChart
from tui.widgets.run_header import RunHeader
from tui.widgets.samples_pane import SamplesPane
from tui.widgets.stage_timeline import StageTimeline

W = TypeVar("W", bound=Widget)


def titled(widget: W, title: str) -> W:
    widget.border_title = title
    return widget


class WatchScreen(Pausing, Screen[None]):
    # Layout by terminal size (tui/s2d.tcss): below 120 columns the two columns share the
    # width and the widgets drop their least-needed columns; below 36 rows the accuracy
    # chart gives its place to the rest; from 180x50 a second chart shows the next metric.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (180, "-huge")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall"), (50, "-taller")]
    BINDINGS = [
        Binding("left,h", "stage(-1)", "Prev stage", priority=True),
        Binding("right,l", "stage(1)", "Next stage", priority=True),
        Binding("f", "follow_stage", "Current stage"),
        Binding("c", "chart(1)", "Next chart"),
        Binding("C", "chart(-1)", "Prev chart", show=False),
        Binding("m", "smooth", "Smooth"),
        Binding("g", "samples", "Samples"),
        Binding("p,space", "pause", "Pause"),
        Binding("s", "save_screenshot", "Save SVG"),
    ]

    def __init__(self, run_dir: Path, *, follow: bool = True, poll_interval_s: float = 0.25):
        super().__init__()
        self.run_dir = run_dir
        self.follow = follow
        self.poll_interval_s = poll_interval_s
        self.state = RunState()
        self.follower = RunFollower(run_dir, self.state)
        self.paused = threading.Event()
        self._wake = threading.Event()
        self.steps_done = 0  # follower steps completed (tests wait on it)
        self.selected: str | None = None  # None: follow the running stage
        # The chart asked for; a stage that does not chart it shows its first chart.
        self.chart: str | None = None
        self.drawn_version = -1
        self.smooth = False  # the charts draw an exponential moving average over the points
        self.show_samples = False  # the bottom pane shows eval samples instead of the log
        self.reader_error: str | None = None  # the reader stopped on this error

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield Banner(id="banner")
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield titled(StageTimeline(id="timeline"), "stages")
                yield titled(BudgetBars(id="budget"), "budget: spent / planned")
                yield AccuracyChart(id="accuracy-chart")
            with Vertical(id="right"):
                yield MetricChart(id="metric-chart")
                yield MetricChart(id="metric-chart-2")
                yield titled(AccuracyTable(id="accuracy-table"), "accuracy after each stage")
        yield titled(LogPane(id="log"), "log")
        yield SamplesPane(id="samples")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()
        self._follow()

    def on_unmount(self) -> None:
        self._wake.set()

    # -- reading ---------------------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def _follow(self) -> None:
        try:
            self._follow_loop()
        except Exception as e:  # any failure must reach the screen, not freeze it
            self.reader_error = f"{type(e).__name__}: {e}"
            self.post_message(RunChanged(self.state.version))

    def _follow_loop(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            if self.paused.is_set():
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()
                continue
            result = self.follower.step()
            self.steps_done += 1
            if result.changed or self.steps_done == 1:
                self.post_message(RunChanged(self.state.version))
            if not self.follow and (self.state.caught_up or not self.follower.dir_status.is_run):
                return  # opened once: everything written so far is shown
            if not result.more:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()

    @on(RunChanged)
    def _on_run_changed(self, message: RunChanged) -> None:
        self.redraw()

    # -- drawing ---------------------------------------------------------------
    def _selected_stage(self) -> str | None:
        if self.selected in self.state.stages:
            return self.selected
        return self.state.current_stage or next(iter(self.state.stages), None)

    @property
    def done_reading(self) -> bool:
        """Everything written so far is shown, or nothing more will be."""
        st = self.follower.dir_status
        return (
            self.state.caught_up
            or not st.is_run
            or self.reader_error is not None
            or self.state.read_error is not None
        )

    def _banner_text(self) -> tuple[str | None, str]:
        if self.reader_error:
            return (
                f"Reading the run stopped: {self.reader_error}. The screen shows what was read before; restart `s2d watch` to try again.",
                "error",
            )
        st = self.follower.dir_status
        if not st.is_run:
            level = "error" if st.kind in (DirKind.NOT_RUN, DirKind.FILE) else "info"
            return st.describe(self.follow), level
        state = self.state
        message, level = run_banner(state)
        if message:
            return message, level
        if state.caught_up and state.events_applied == 0:
            waiting = " Waiting for the first event." if self.follow else ""
            return (
                f"events.jsonl in {self.run_dir} is empty or missing: the run has not started.{waiting}",
                "info",
            )
        return None, "info"

    def _shown_chart(self, stage_id: str | None) -> str | None:
        charts = watch_charts(self.state, stage_id)
        if not charts:
            return None
        return self.chart if self.chart in charts else charts[0]

    def _draw_chart(self, chart: MetricChart, view: StageView | None, name: str | None) -> None:
        if name == BURN_DOWN:
            chart.show_burn_down(burn_down(self.state))
        else:
            chart.show(view, name, smooth=self.smooth)

    def redraw(self) -> None:
        with self.state.lock:
            state = self.state
            selected = self._selected_stage()
            self.query_one(RunHeader).show(
                state, paused=self.paused.is_set(), following=self.follow
            )
            self.query_one(Banner).say(*self._banner_text())
            self.query_one(StageTimeline).show(state, selected)
            self.query_one(BudgetBars).show(state)
            self.query_one(AccuracyTable).show(state)
            view = state.stages.get(selected or "")
            shown = self._shown_chart(selected)
            self._draw_chart(self.query_one("#metric-chart", MetricChart), view, shown)
            others = [c for c in watch_charts(state, selected) if c != shown]
            self._draw_chart(
                self.query_one("#metric-chart-2", MetricChart), view, others[0] if others else None
            )
            self.query_one(SamplesPane).show(
                RunDir(self.run_dir).eval_samples(selected) if selected else None, selected
            )
            self.query_one(AccuracyChart).show(accuracy_rows(state), state.main_benchmark)
            self.query_one(LogPane).show(state)
            self.drawn_version = state.version

    # -- actions ---------------------------------------------------------------
    def action_stage(self, delta: int) -> None:
        with self.state.lock:
            ids = list(self.state.stages)
            if not ids:
                return
            current = self._selected_stage()
            index = ids.index(current) if current in ids else 0
            self.selected = ids[(index + delta) % len(ids)]
        self.redraw()

    def action_follow_stage(self) -> None:
        self.selected = None
        self.redraw()

    def action_chart(self, delta: int) -> None:
        with self.state.lock:
            selected = self._selected_stage()
            charts = watch_charts(self.state, selected)
            if charts:
                shown = self._shown_chart(selected)
                index = charts.index(shown) if shown in charts else 0
                self.chart = charts[(index + delta) % len(charts)]
        self.redraw()

    def action_smooth(self) -> None:
        self.smooth = not self.smooth
        self.notify("Smoothed (EMA 0.6)" if self.smooth else "Raw points")
        self.redraw()

    def action_samples(self) -> None:
        self.show_samples = not self.show_samples
        self.query_one(LogPane).display = not self.show_samples
        self.query_one(SamplesPane).display = self.show_samples
        self.redraw()

    def action_save_screenshot(self) -> None:
        name = f"{self.state.run_name or self.run_dir.name}.svg"
        path = self.app.save_screenshot(filename=name)
        self.notify(f"Saved {path}", markup=False)
