"""The latest eval completions of the selected stage, with their verdicts.

The trainer keeps the first sample of the first few problems of each eval
(``artifacts/<id>/eval_samples.jsonl``, trainer.executor.write_eval_samples); the pane
reads that small file when the stage or the file changes, and shows for each: the
verdict, the gold answer, and the end of the completion (where its answer is), so
a researcher sees what the model writes, not only how often it is right.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

VERDICT = {"correct": ("✔", "green"), "wrong": ("✖", "red"), "unparseable": ("?", "yellow")}
MAX_ROWS = 16
TAIL_CHARS = 160


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The rows of an eval-samples file that are readable; [] when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines()[:MAX_ROWS]:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _tail(text: Any, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else "…" + flat[-(width - 1) :]


class SamplesPane(Static):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key: tuple[str, float] | None = None

    def show(self, path: Path | None, stage: str | None) -> None:
        try:
            mtime = path.stat().st_mtime if path is not None else -1.0
        except OSError:
            mtime = -1.0
        key = (f"{path}", mtime)
        if key == self._key:
            return
        self._key = key
        rows = read_samples(path) if path is not None else []
        self.border_title = f"eval samples · {stage}" if stage else "eval samples"
        if not rows:
            self.update(Text(f"no eval samples for {stage or 'this stage'} yet", style="dim"))
            return
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(no_wrap=True, style="cyan")
        table.add_column(no_wrap=True, style="bold")
        table.add_column(ratio=1, no_wrap=True)
        for r in rows:
            icon, style = VERDICT.get(str(r.get("verdict")), ("·", "dim"))
            cut = "" if r.get("stopped", True) else " ✂"
            table.add_row(
                Text(icon, style),
                str(r.get("benchmark", "")),
                f"gold {_tail(r.get('gold'), 12)}",
                Text(_tail(r.get("completion", ""), TAIL_CHARS) + cut),
            )
        self.update(table)
