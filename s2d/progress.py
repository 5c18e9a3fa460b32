"""Console progress for ``s2d run``: rich bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from planner.contracts import Plan, Spend


def _spent(spent: Spend) -> str:
    compute = (
        f"{spent.gpu_hours:.3f} GPU-h" if spent.gpu_hours else f"{spent.cpu_seconds:.0f} CPU-s"
    )
    return f"{spent.wall_seconds:.0f} s wall, {compute}, {spent.tokens_generated:,} tokens generated, {spent.labels} labels"


class LineReporter:
    """One line per event worth telling; for logs and non-interactive shells."""

    def __init__(self, print_fn: Any = print):
        self.print = print_fn
        self._last_step = 0.0

    def run_started(self, plan: Plan, run_dir: Path, resumed: bool) -> None:
        self.print(f"{'resuming' if resumed else 'starting'} {plan.name} in {run_dir}")

    def stage_started(self, stage_id: str, kind: str, total_steps: int) -> None:
        self.print(f"[{stage_id}] {kind}: {total_steps} steps")

    def step(self, stage_id: str, step: int, total: int) -> None:
        now = time.monotonic()
        if step == total or now - self._last_step > 10:
            self._last_step = now
            self.print(f"[{stage_id}] step {step}/{total}")

    def stage_skipped(self, stage_id: str) -> None:
        self.print(f"[{stage_id}] already done, skipped")

    def stage_finished(self, stage_id: str, spent: Spend) -> None:
        self.print(f"[{stage_id}] done: {_spent(spent)}")

    def evaluated(
        self, stage_id: str, model: str, benchmark: str, accuracy: float, greedy: float | None
    ) -> None:
        g = f", greedy {greedy:.1%}" if greedy is not None else ""
        self.print(f"[{stage_id}] {model} on {benchmark}: sampled {accuracy:.1%}{g}")

    def note(self, text: str) -> None:
        self.print(text)


class RichReporter(LineReporter):
    """A bar per stage, with the line messages printed above the bars.

    Messages (stage ids, notes, paths) are printed as written: the console has markup
    off (s2d.console); only the bar descriptions are markup, with their text escaped.
    ``console`` is the terminal's stderr unless given (tests record one).
    """

    def __init__(self, console: Any = None):
        super().__init__()
        self.console = console

    def __enter__(self) -> RichReporter:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from s2d.console import make_console

        if self.console is None:
            self.console = make_console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        console = self.progress.console
        self.print = lambda text: console.print(text, markup=False, emoji=False)
        self.tasks: dict[str, Any] = {}
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def stage_started(self, stage_id: str, kind: str, total_steps: int) -> None:
        from rich.markup import escape

        self.tasks[stage_id] = self.progress.add_task(
            f"{escape(stage_id)} [dim]{escape(kind)}[/]", total=total_steps
        )

    def step(self, stage_id: str, step: int, total: int) -> None:
        if stage_id in self.tasks:
            self.progress.update(self.tasks[stage_id], completed=step, total=total)
