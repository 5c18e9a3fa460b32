"""What a path given to ``s2d watch`` is: a run directory, one still to come, or a mistake.

A run directory holds ``plan.yaml`` and/or ``events.jsonl`` (see
planner/contracts/runlog.py). The watcher may be started before the trainer creates it,
so a missing or empty directory means "wait"; a directory with other files and
neither of those means the user pointed at the wrong place, and the message
names the run directories found just below it.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from planner.contracts import RunDir

PLAN_FILE, EVENTS_FILE = RunDir.PLAN, RunDir.EVENTS


class DirKind(enum.Enum):
    MISSING = "missing"
    FILE = "file"
    EMPTY = "empty"  # exists, nothing written yet
    RUN = "run"
    NOT_RUN = "not_run"


@dataclass
class RunDirStatus:
    path: Path
    kind: DirKind
    candidates: list[Path] = field(default_factory=list)  # run dirs found one level down

    @property
    def is_run(self) -> bool:
        return self.kind is DirKind.RUN

    def describe(self, following: bool) -> str:
        """One sentence for the banner or the CLI error."""
        where = str(self.path)
        wait = " Waiting for it to appear." if following else ""
        if self.kind is DirKind.MISSING:
            return (
                f"Waiting for {where} to be created (start the run with `s2d run`)."
                if following
                else f"{where} does not exist; give the directory of a run (runs/<name>)."
            )
        if self.kind is DirKind.FILE:
            return (
                f"{where} is a file; give the run directory that holds plan.yaml and events.jsonl."
            )
        if self.kind is DirKind.EMPTY:
            return (
                f"Waiting for the run to write {PLAN_FILE} and {EVENTS_FILE} in {where}."
                if following
                else f"{where} is empty: no {PLAN_FILE} or {EVENTS_FILE} yet.{wait}"
            )
        if self.kind is DirKind.NOT_RUN:
            hint = ""
            if self.candidates:
                names = ", ".join(str(c) for c in self.candidates[:5])
                hint = f" Run directories inside it: {names}."
            return f"{where} is not a run directory: it has no {PLAN_FILE} or {EVENTS_FILE}.{hint} Give a runs/<name> directory."
        return f"{where} is a run directory."


def _is_run_dir(path: Path) -> bool:
    return RunDir(path).is_run()


def inspect_run_dir(path: str | os.PathLike[str]) -> RunDirStatus:
    path = Path(path)
    if not path.exists():
        return RunDirStatus(path, DirKind.MISSING)
    if not path.is_dir():
        return RunDirStatus(path, DirKind.FILE)
    if _is_run_dir(path):
        return RunDirStatus(path, DirKind.RUN)
    try:
        entries = sorted(os.listdir(path))
    except OSError:
        entries = []
    if all(name in RunDir.ENTRIES for name in entries):
        return RunDirStatus(path, DirKind.EMPTY)
    candidates = [
        path / name for name in entries if (path / name).is_dir() and _is_run_dir(path / name)
    ]
    return RunDirStatus(path, DirKind.NOT_RUN, candidates)


def resolve_run_path(path: str | os.PathLike[str]) -> Path:
    """Accept the run directory or a file inside it (events.jsonl, plan.yaml)."""
    path = Path(path)
    if path.is_file() and path.name in (EVENTS_FILE, PLAN_FILE):
        return path.parent
    return path
