"""The planner under faults: a worker killed mid-study leaves the study usable, and the next
``s2d plan`` on the same storage fails the trial it left RUNNING and goes on, losing no finished
trial. Uses the paper scenario (shipped model profiles, no toy zoo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from planner.search.stale_trials import WORKER_ATTR, is_stale, this_worker
from planner.search.storage import open_storage
from s2d.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "paper_scenario.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

# Runs five trials with the planner's own objective, then hangs inside a sixth (after the
# objective has run) until killed: a worker dying mid-trial, deterministically.
HANGING_WORKER = """
import sys, time
from planner.scenario.spec import load_scenario
from planner.search.optimize import _objective, _sampler, create_study
from planner.simulator.simulator import Simulator
from planner.search.storage import open_storage

problem = Simulator.create(load_scenario(sys.argv[1]))
study = create_study(open_storage(sys.argv[2]), sys.argv[3], False, _sampler("tpe", 0, False))
objective = _objective(problem, False)
study.optimize(objective, n_trials=5)

def hang(trial):
    value = objective(trial)
    print("running", trial.number, flush=True)
    time.sleep(600)
    return value

study.optimize(hang, n_trials=1)
"""


def _trials(url: str, name: str) -> dict[int, optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    return {t.number: t for t in study.get_trials(deepcopy=False)}


def test_stale_rules_on_hand_cases():
    here = {"host": "a", "boot": "b1", "pid": 1}
    alive = {10}.__contains__
    assert is_stale({"host": "a", "boot": "b1", "pid": 11}, 1.0, here, alive)  # dead, here
    assert not is_stale({"host": "a", "boot": "b1", "pid": 10}, 1.0, here, alive)  # alive
    assert is_stale({"host": "a", "boot": "b0", "pid": 10}, 1.0, here, alive)  # rebooted since
    assert not is_stale({"host": "c", "boot": "b1", "pid": 11}, 1.0, here, alive)  # remote
    assert is_stale({"host": "c", "boot": "b1", "pid": 11}, 601.0, here, alive)  # remote, old
    assert not is_stale(None, 599.0, here, alive)  # unclaimed, could still be starting
    assert is_stale(None, 601.0, here, alive)
    assert this_worker()["pid"] == os.getpid()


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_trial_of_a_killed_worker_is_failed_and_the_study_goes_on(tmp_path, kind, capsys):
    url = (
        f"journal:{tmp_path / 'study.journal'}"
        if kind == "journal"
        else f"sqlite:///{tmp_path / 'study.db'}"
    )
    name = "faults"
    worker = subprocess.Popen(
        [sys.executable, "-c", HANGING_WORKER, str(SCENARIO), url, name],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = worker.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("running"), worker.stderr.read()  # type: ignore[union-attr]
        hung = int(line.split()[1])
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    before = _trials(url, name)
    assert before[hung].state == TrialState.RUNNING
    assert before[hung].user_attrs[WORKER_ATTR]["pid"] == worker.pid
    finished = {
        n: (t.values, t.params) for n, t in before.items() if t.state == TrialState.COMPLETE
    }
    assert len(finished) == 5

    code = main(
        [
            "plan",
            str(SCENARIO),
            "--out",
            str(tmp_path / "out"),
            "--storage",
            url,
            "--study",
            name,
            "--trials",
            "4",
            "--sampler",
            "tpe",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        f"marked failed 1 trial(s) that a worker which died had left running (number {hung})" in out
    )

    after = _trials(url, name)
    assert after[hung].state == TrialState.FAIL
    assert {n: (after[n].values, after[n].params) for n in finished} == finished  # nothing lost
    states = [t.state for t in after.values()]
    assert states.count(TrialState.COMPLETE) == 5 + 4 and TrialState.RUNNING not in states
    assert (tmp_path / "out" / "best.yaml").exists()


def _spawned_workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]


@pytest.mark.slow
def test_killing_one_worker_of_a_parallel_plan_loses_nothing(tmp_path, capsys):
    out_dir = tmp_path / "out"
    url, name = f"journal:{out_dir / 'study.journal'}", "par"
    cmd = [
        sys.executable,
        "-m",
        "s2d",
        "plan",
        str(SCENARIO),
        "--out",
        str(out_dir),
        "--study",
        name,
        "--trials",
        "60",
        "--workers",
        "2",
        "--sampler",
        "tpe",
    ]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if not (out_dir / "study.journal").exists():
            continue
        try:
            trials = _trials(url, name)
        except KeyError:  # the journal file exists before the study's record is in it
            continue
        done = [t for t in trials.values() if t.state == TrialState.COMPLETE]
        workers = _spawned_workers(proc.pid)
        if len(done) >= 8 and len(workers) == 2:
            victim = workers[0]
            os.kill(victim, signal.SIGKILL)
            break
    stdout, stderr = proc.communicate(timeout=120)
    assert victim is not None, stdout + stderr
    assert proc.returncode == 2, stdout + stderr
    assert "1 worker process(es) failed (killed by SIGKILL)" in stderr and "Traceback" not in stderr

    before = _trials(url, name)
    finished = {
        n: (t.values, t.params) for n, t in before.items() if t.state == TrialState.COMPLETE
    }
    left_running = [t for t in before.values() if t.state == TrialState.RUNNING]
    # A worker runs one trial at a time; it records itself first thing in the objective.
    assert len(left_running) <= 1
    claimed = [
        t.number for t in left_running if t.user_attrs.get(WORKER_ATTR, {}).get("pid") == victim
    ]

    assert (
        main(
            [
                "plan",
                str(SCENARIO),
                "--out",
                str(out_dir),
                "--study",
                name,
                "--trials",
                "6",
                "--workers",
                "2",
                "--sampler",
                "tpe",
            ]
        )
        == 0
    )
    after = _trials(url, name)
    assert {n: (after[n].values, after[n].params) for n in finished} == finished
    assert [after[n].state for n in claimed] == [TrialState.FAIL] * len(claimed)
    assert sum(t.state == TrialState.COMPLETE for t in after.values()) == len(finished) + 6
    if claimed:
        assert "marked failed 1 trial(s)" in capsys.readouterr().out


def test_a_half_written_journal_entry_is_cut_not_fused_with_the_next(tmp_path, cli):
    out_dir = tmp_path / "out"
    args = ["plan", str(SCENARIO), "--out", str(out_dir), "--study", "j", "--trials", "3"]
    args += ["--sampler", "tpe"]
    assert cli(*args).code == 0
    journal = out_dir / "study.journal"
    whole = journal.read_bytes()
    with open(journal, "ab") as f:  # a worker killed in the middle of an append
        f.write(b'{"op_code":6,"worker_id":"w","trial_id":1,"user_attr":{"plan":{"na')

    result = cli(*args)

    assert result.code == 0, result.err
    assert journal.read_bytes().startswith(whole)
    assert all(line.endswith("}") for line in journal.read_text().splitlines())
    trials = _trials(f"journal:{journal}", "j").values()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6


def test_a_killed_lock_holder_does_not_stall_the_next_writer(tmp_path):
    journal = tmp_path / "study.journal"
    # Takes the journal's write lock the way every writer does, then dies holding it.
    hold = (
        "import sys, time; from planner.search.storage import open_storage\n"
        "open_storage('journal:' + sys.argv[1])._backend._lock.acquire()\n"
        "print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(journal)], env=ENV, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)

    start = time.monotonic()
    study = optuna.create_study(study_name="s", storage=open_storage(f"journal:{journal}"))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    # Optuna's own lock files make the next writer wait out a 30 s grace period.
    assert time.monotonic() - start < 5.0
    assert len(study.trials) == 3
