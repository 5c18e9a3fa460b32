"""The one-line header of ``s2d watch``: run, status, current stage, elapsed, events, paused."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.run_state import ERROR, INTERRUPTED, OK, RUNNING, STARTED, WAITING, RunState
from tui.views import run_eta, stage_eta

STATUS_STYLE = {
    WAITING: ("◌ waiting", "dim"),
    STARTED: ("● starting", "yellow"),
    RUNNING: ("● running", "bold yellow"),
    OK: ("✔ finished", "bold green"),
    ERROR: ("✖ failed", "bold red"),
    INTERRUPTED: ("■ interrupted", "bold magenta"),
}


class RunHeader(Static):
    def show(self, state: RunState, *, paused: bool, following: bool) -> None:
        label, style = STATUS_STYLE.get(state.status, (state.status, "bold"))
        text = Text()
        text.append(" s2d watch ", "bold reverse")
        text.append(f"  {state.run_name or '(no run yet)'}  ", "bold")
        text.append(label, style)
        current = state.stages.get(state.current_stage or "")
        if current is not None and not state.finished:
            total = f"/{current.total_steps}" if current.total_steps else ""
            text.append(f"  stage {current.id} {current.step}{total}")
        if state.started_t is not None and state.last_t is not None:
            text.append(f"  {fmt.duration(state.last_t - state.started_t)}")
        if current is not None and not state.finished:
            stage_left, run_left = stage_eta(current, state.last_t), run_eta(state)
            if stage_left is not None:
                text.append(f"  ETA stage {fmt.duration(stage_left)}", "cyan")
            if run_left is not None:
                text.append(f" · run ≈{fmt.duration(run_left)}", "cyan")
        text.append(f"  {state.events_applied:,} events", "dim")
        if state.bad_lines:
            text.append(f"  {state.bad_lines} bad line(s) skipped", "yellow")
        if paused:
            text.append("  ⏸ PAUSED", "bold black on yellow")
        elif following and not state.finished:
            text.append("  following", "dim")
        self.update(text)
