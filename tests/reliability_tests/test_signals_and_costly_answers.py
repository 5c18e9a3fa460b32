"""A terminated run stops as an interrupted one does; answers cost linear time to parse.

SIGTERM is what schedulers, ``kill`` and container runtimes send: it must leave a
checkpoint and a ``run_end`` event (else ``s2d watch`` shows "running" forever) and
exit with 143, as Ctrl-C exits with 130.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from planner.contracts.runlog import read_events
from tests.trainer_tests.long_run import start_long_warmup


@pytest.mark.slow
def test_sigterm_checkpoints_ends_the_log_and_exits_143_then_resumes(tiny_zoo, tmp_path):
    proc, plan_path, run_dir, env = start_long_warmup(tiny_zoo, tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, proc.stdout.read() if proc.stdout else ""
    events = read_events(run_dir / "events.jsonl")
    assert events[-1].kind == "run_end" and events[-1]["status"] == "interrupted"
    saved = [e for e in events if e.kind == "checkpoint" and e["stage"] == "warmup"]
    assert saved and saved[-1]["step"] < 40  # at the boundary, not on the 50-step schedule
    out = subprocess.run(
        [sys.executable, "-m", "s2d", "run", str(plan_path), "--run-dir", str(run_dir), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    resumed = [e for e in read_events(run_dir / "events.jsonl") if e.kind == "stage_start"][-1]
    assert resumed["stage"] == "warmup" and resumed["resumed_from"] == saved[-1]["path"]


# Runs the tiny plan's first stage; SIGTERM at step 1 stops it, and another SIGTERM arrives
# each time the run's outcome (run_end) is written: the window the handlers must cover.
SIGNALS_AT_THE_END = """
import os, signal, sys
from pathlib import Path
from planner.contracts import load_plan
from planner.contracts.runlog import EventWriter
from trainer.executor import Executor, Reporter, RunOptions

emit = EventWriter.emit
def signalling_emit(self, kind, **data):
    if kind == "run_end":
        os.kill(os.getpid(), signal.SIGTERM)
    return emit(self, kind, **data)
EventWriter.emit = signalling_emit

class TermAtStep(Reporter):
    def step(self, stage_id, step, total):
        if step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

plan = load_plan(Path(sys.argv[1]))
plan.stages = plan.stages[:1]
options = RunOptions(verifier_workers=1, toy_zoo=Path(sys.argv[3]), reporter=TermAtStep())
try:
    print(Executor(plan, Path(sys.argv[2]), options).run())
except KeyboardInterrupt:
    print("stopped now")
"""


def test_signals_while_the_outcome_is_written_still_leave_one_run_end(tiny_zoo, tmp_path):
    from tests.trainer_tests.tiny_plan import TINY_PLAN

    run_dir = tmp_path / "run"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            SIGNALS_AT_THE_END,
            str(TINY_PLAN),
            str(run_dir),
            str(tiny_zoo.root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "interrupted"  # the late signal only recorded
    ends = [e for e in read_events(run_dir / "events.jsonl") if e.kind == "run_end"]
    assert len(ends) == 1 and ends[0]["status"] == "interrupted"


@pytest.mark.parametrize(
    "answer",
    [
        "\\boxed{" * 20_000,  # 140 KB of unclosed boxes
        "\\boxed{1} " + "\\boxed{{{" * 10_000,
        "{" * 100_000 + "\\boxed{2}",
        "\\boxed{" + "}" * 100_000,
    ],
    ids=["unclosed", "closed-then-unclosed", "open-braces-before", "stray-closers"],
)
def test_boxed_answers_parse_in_linear_time(answer):
    from trainer.formats import last_boxed

    start = time.process_time()
    last_boxed(answer)
    assert time.process_time() - start < 1.0  # quadratic took 85 s on 128 KB


def test_the_linear_parse_finds_what_the_balanced_scan_found():
    from trainer.formats import last_boxed

    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{3} and \\boxed{4") == "3"  # an unclosed last box: the one before
    assert last_boxed("{ \\boxed{5}") == "5"
    assert last_boxed("\\boxed{ {a} }") == "{a}"
    assert last_boxed("no box") is None and last_boxed("\\boxed{") is None
