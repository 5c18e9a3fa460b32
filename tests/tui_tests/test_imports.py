"""The UI reads what the trainer writes, never its code; the core of the UI needs no UI library."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(
    "module",
    ["tui.watch_app", "tui.explore_app", "tui.study", "s2d.commands.watch", "s2d.commands.explore"],
)
def test_the_ui_never_imports_torch_or_the_trainer(module):
    top = _top(_modules_after(f"import {module}"))
    assert "torch" not in top and "trainer" not in top and "transformers" not in top


def test_the_run_state_core_does_not_import_textual():
    top = _top(
        _modules_after("import tui.follower, tui.views, tui.run_dir, tui.series, tui.format")
    )
    assert "textual" not in top and "torch" not in top
