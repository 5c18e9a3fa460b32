"""What `s2d run`'s terminal display shows: messages as written, brackets and all."""

from __future__ import annotations

import re

from planner.contracts import Spend
from s2d.progress import RichReporter

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _shown(capsys) -> str:
    return ANSI.sub("", capsys.readouterr().err)


def test_the_terminal_display_keeps_stage_names_and_brackets(monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws as on a terminal, into captured stderr
    monkeypatch.setenv("COLUMNS", "120")
    with RichReporter() as reporter:
        reporter.stage_skipped("base")
        reporter.stage_started("teacher_rl", "grpo", 2)
        reporter.step("teacher_rl", 2, 2)
        reporter.stage_finished("teacher_rl", Spend(tokens_generated=8, cpu_seconds=1.0))
        reporter.evaluated("teacher_rl", "teacher", "toy", 0.5, 0.25)
        reporter.note("[bold]not a tag[/bold] :smile: see runs/[x]/plan.yaml")
    shown = _shown(capsys)
    assert "[base] already done, skipped" in shown
    assert "[teacher_rl] done:" in shown
    assert "[teacher_rl] teacher on toy: sampled 50.0%, greedy 25.0%" in shown
    assert "[bold]not a tag[/bold] :smile: see runs/[x]/plan.yaml" in shown
    assert "teacher_rl grpo" in shown  # the bar's description: the id, then its kind dimmed


def test_a_stage_id_that_looks_like_markup_names_its_bar(monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    with RichReporter() as reporter:
        reporter.stage_started("[red]", "opd", 1)
        reporter.step("[red]", 1, 1)
    assert "[red] opd" in _shown(capsys)


def test_s2d_plan_shows_a_spinner_on_a_terminal_and_nothing_when_piped(monkeypatch):
    """`s2d plan` used to show nothing for seconds; piped, its output must stay clean."""
    import contextlib
    import io

    from s2d import console

    monkeypatch.setattr(console.sys, "stderr", io.StringIO())
    assert isinstance(console.working("searching"), contextlib.nullcontext)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(console.sys, "stderr", Tty())
    status = console.working("searching 400 trials")
    assert type(status).__name__ == "Status" and "searching 400 trials" in str(status.status)
