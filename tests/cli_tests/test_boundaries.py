"""Import boundaries: the light parts of the product never load torch or the UI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from s2d.cli import build_parser


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "\nimport sys; print('@@modules@@'); print('\\n'.join(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split("@@modules@@")[-1].split())


def _heavy(mods: set[str]) -> set[str]:
    return {
        m
        for m in mods
        if m.split(".")[0] in {"torch", "transformers", "trl", "textual", "trainer", "tui"}
    }


def test_planner_imports_no_torch_no_ui_no_trainer():
    mods = _modules_after(
        "import planner, planner.contracts.plan, planner.contracts.runlog, planner.contracts.schema, planner.contracts.errors\nimport pkgutil, importlib\nfor m in pkgutil.walk_packages(planner.__path__, 'planner.'): importlib.import_module(m.name)"
    )
    assert not _heavy(mods)


def test_tui_imports_no_torch_and_no_trainer():
    mods = _modules_after(
        "import pkgutil, importlib, tui\nfor m in pkgutil.walk_packages(tui.__path__, 'tui.'): importlib.import_module(m.name)"
    )
    assert not {m for m in mods if m.split(".")[0] in {"torch", "transformers", "trl", "trainer"}}


def _subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("argv", [["--help"]] + [[name, "--help"] for name in _subcommands()])
def test_help_loads_no_heavy_module(argv):
    code = f"import sys\nfrom s2d.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert not _heavy(_modules_after(code))
