"""The table `s2d run` ends with, read back from a run directory (s2d.summary)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from s2d.summary import summarize, summary_lines, summary_table
from tests.tui_tests.fixtures.toy_run import TOY_RUN, TOY_RUN_ERROR

TINY_PLAN = Path(__file__).parents[1] / "trainer_tests" / "tiny_plan.yaml"
TINY_STAGES = ["teacher_rl", "warmup", "opd", "opd_s", "student_rl"]


def _cells(lines: list[str]) -> dict[str, list[str]]:
    """Each stage's line split on runs of spaces, by stage id."""
    return {
        line.split()[0]: line.split()
        for line in lines[2:]
        if line and line[0] != " " and not line.split()[0].endswith(":")  # not the notes
    }


def test_a_recorded_run_shows_measured_beside_predicted_and_spend_against_plan():
    lines = summary_lines(summarize(TOY_RUN))
    assert lines[0] == "toy-s2d: run ok"
    assert lines[1].split() == [
        *("stage", "kind", "status", "benchmark", "sampled", "greedy", "predicted"),
        *("tokens", "gen", "CPU-s"),
    ]
    rows = _cells(lines)
    # measured 65.5% (greedy 70.0%) beside the predicted 62.0%; 196 CPU-s of 180 planned
    assert rows["teacher_rl"] == [
        *("teacher_rl", "grpo", "done", "toy_math", "65.5%", "70.0%", "62.0%"),
        *("49.2k/49.2k", "196/180"),
    ]
    assert rows["warmup"][:3] == ["warmup", "forward_kl", "done"]
    assert rows["student_rl"][4:7] == ["51.5%", "55.0%", "49.0%"]
    assert "predicted: the plan's prediction on toy_math" in lines
    assert all(len(line) < 100 for line in lines)


def test_a_failed_run_says_which_stage_failed_and_which_never_ran():
    rows = _cells(summary_lines(summarize(TOY_RUN_ERROR)))
    assert rows["opd"][2:7] == ["failed", "toy_math", "-", "-", "44.0%"]
    assert rows["student_rl"][2:] == ["not", "run", "toy_math", "-", "-", "49.0%", "-", "-/150"]


def test_long_names_stay_under_100_columns(tmp_path):
    summary = summarize(TOY_RUN)
    summary.stages[0].stage = "a-very-long-stage-name-" * 4
    summary.stages[0].evals[0].benchmark = "a-benchmark-with-a-long-name-" * 3
    lines = summary_lines(summary)
    assert all(len(line) < 100 for line in lines)
    assert lines[2].startswith("a-very-long-") and "…" in lines[2]  # shortened, marked so


def test_the_terminal_table_keeps_names_as_written():
    from rich.console import Console

    summary = summarize(TOY_RUN)
    summary.stages[0].stage = "[teacher_rl]"
    console = Console(file=io.StringIO(), force_terminal=True, width=120, record=True)
    console.print(summary_table(summary))
    text = console.export_text()
    assert "[teacher_rl]" in text and "65.5%" in text and "196/180" in text
    assert "toy-s2d: run ok" in text


def test_a_real_run_lists_the_base_eval_first_and_every_stage(tiny_run):
    status, run_dir = tiny_run
    assert status == "ok"
    summary = summarize(run_dir)
    assert [s.stage for s in summary.stages] == ["base", *TINY_STAGES]
    assert summary.stages[0].kind == "eval" and summary.stages[0].status == "done"
    assert all(s.status == "done" for s in summary.stages)
    for s in summary.stages:
        assert [e.benchmark for e in s.evals] == ["toy"]
        assert s.evals[0].greedy is not None  # the tiny plan evaluates greedy too
        assert s.predicted is None  # the tiny plan carries no prediction
    teacher = summary.stages[1]
    assert teacher.tokens_spent and teacher.tokens_planned and teacher.compute_spent
    lines = summary_lines(summary)
    rows = _cells(lines)
    assert rows["base"][:4] == ["base", "eval", "done", "toy"]
    assert rows["teacher_rl"][6] == "-"  # no prediction
    assert "/" in rows["teacher_rl"][7]  # tokens generated: spent/planned
    assert all(len(line) < 100 for line in lines)


@pytest.fixture
def resumable_copy(tiny_run, tmp_path):
    """A copy of the finished tiny run, to run `s2d run` on again."""
    _, run_dir = tiny_run
    copy = tmp_path / "tiny"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock"))
    return copy


def test_s2d_run_ends_with_the_table_also_after_a_resume(resumable_copy, tiny_zoo, capsys):
    from s2d.cli import main

    capsys.readouterr()
    code = main(
        [
            *("run", str(TINY_PLAN), "--run-dir", str(resumable_copy)),
            *("--toy-zoo", str(tiny_zoo.root), "--quiet"),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[-1].startswith(f"run ok: {resumable_copy}")
    start = out.index("tiny: run ok, 2 attempts")
    rows = _cells(out[start:-1])
    assert list(rows) == ["base", *TINY_STAGES]
    assert all(row[2] == "skipped" for row in rows.values())  # each finished the first time
    assert "skipped: finished in an earlier attempt in this run directory" in out
