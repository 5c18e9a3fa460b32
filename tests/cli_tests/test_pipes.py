"""A reader that closes the pipe early (`s2d validate PLAN | head -1`) ends the command quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["validate", "examples/toy_plan.yaml"], 1),
        # argparse itself drops help text the pipe refuses (its _print_message), so: 0
        (["plan", "--help"], 0),
        (
            [
                "simulate",
                "examples/qwen3_math_plan.yaml",
                "--scenario",
                "examples/paper_scenario.yaml",
            ],
            1,
        ),
    ],
    ids=["validate", "help", "simulate"],
)
def test_a_closed_pipe_prints_no_traceback(argv, code):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2d", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -c 0`: the reader is gone before the command writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == code  # 1: what Python returns on EPIPE ("Note on SIGPIPE")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    # only the memory warnings a prediction prints (teacher_rl fits only sharded)
    assert all(line.startswith("warning: ") for line in err.splitlines()), err
