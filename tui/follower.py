"""Reads a run directory into a :class:`RunState`: the blocking half of ``s2d watch``.

The app runs :meth:`RunFollower.step` in a thread worker (file reads never
block the event loop) and redraws when it reports a change. Each step checks
that the directory exists, loads ``plan.yaml`` once it is readable (again if
it changes while invalid), and applies the events appended since the last
step. A half-written last line is held back by :class:`planner.contracts.runlog.EventTail`
until the writer finishes it; an events.jsonl that is not a regular file is
never opened for reading (``RunState.read_error`` says what it is).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from planner.contracts import EventTail, RunDir, UserError, load_plan
from tui.run_dir import RunDirStatus, inspect_run_dir
from tui.run_state import RunState


@dataclass
class StepResult:
    changed: bool  # the state changed (redraw)
    more: bool  # a read hit the per-poll limit: step again without sleeping


class RunFollower:
    def __init__(
        self, run_dir: str | os.PathLike[str], state: RunState, max_bytes_per_poll: int = 8 << 20
    ):
        self.run_dir = Path(run_dir)
        self.state = state
        self.tail = EventTail(RunDir(self.run_dir).events, max_bytes_per_poll=max_bytes_per_poll)
        self.dir_status: RunDirStatus = inspect_run_dir(self.run_dir)
        self._plan_mtime: float | None = None

    def _load_plan(self) -> bool:
        if self.state.plan is not None:
            return False
        path = RunDir(self.run_dir).plan
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return False
        if mtime == self._plan_mtime:
            return False
        self._plan_mtime = mtime
        try:
            plan = load_plan(path)
        except UserError as e:
            with self.state.lock:
                self.state.plan_error = str(e)
                self.state.version += 1
            return True
        with self.state.lock:
            self.state.set_plan(plan)
        return True

    def step(self) -> StepResult:
        before = self.dir_status.kind
        if not self.dir_status.is_run:
            self.dir_status = inspect_run_dir(self.run_dir)
        changed = self.dir_status.kind is not before
        if not self.dir_status.is_run:
            return StepResult(changed, False)
        changed |= self._load_plan()
        offset_before = self.tail.offset
        events = self.tail.poll()
        read = self.tail.offset - offset_before
        more = bool(self.tail.max_bytes_per_poll) and read >= self.tail.max_bytes_per_poll
        with self.state.lock:
            if events:
                self.state.apply_all(events)
                changed = True
            if (
                self.tail.skipped != self.state.skipped_lines
                or self.tail.has_partial_line != self.state.partial_line
                or self.tail.error != self.state.read_error
            ):
                self.state.skipped_lines = self.tail.skipped
                self.state.partial_line = self.tail.has_partial_line
                self.state.read_error = self.tail.error
                self.state.version += 1
                changed = True
            if not more and not self.state.caught_up:
                self.state.caught_up = True
                self.state.version += 1
                changed = True
        return StepResult(changed, more)

    def read_to_end(self) -> None:
        """Apply everything written so far (tests, benchmarks, screenshots of finished runs)."""
        while self.step().more:
            pass
