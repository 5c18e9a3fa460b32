"""``s2d plan`` on a real PostgreSQL server (started by the tests): many workers, two plans at
once, and a killed worker whose trial the heartbeats fail. Every plan runs as the console
command in its own process, on the paper scenario (shipped profiles, no toy zoo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from planner.search.optimize import metric_names
from planner.search.stale_trials import GRACE_BEATS, HEARTBEAT_ENV, WORKER_ATTR
from planner.search.storage import open_storage
from tests.planner_tests.postgres_server import PASSWORD
from tests.reliability_tests.test_planner_faults import HANGING_WORKER

pytestmark = pytest.mark.extended

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "paper_scenario.yaml"
HEARTBEAT_S = 1
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "OMP_NUM_THREADS": "1",
    HEARTBEAT_ENV: str(HEARTBEAT_S),
}
_SCRIPT = Path(sys.executable).with_name("s2d")
S2D = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "s2d"]
# The hanging worker of test_planner_faults, as if on another machine: its own pid tells this
# machine nothing, so only the heartbeats can say whether it still runs.
REMOTE_HANGING_WORKER = (
    "import planner.search.stale_trials as st\n"
    "st.this_worker = lambda: {'host': 'another-machine', 'boot': 'b', 'pid': 1}\n"
) + HANGING_WORKER


def plan(out: Path, url: str, study: str) -> list[str]:
    return [*S2D, "plan", str(SCENARIO), "--out", str(out), "--storage", url, "--study", study]


def run_plan(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    return done


def trials(url: str, study: str) -> dict[int, optuna.trial.FrozenTrial]:
    loaded = optuna.load_study(study_name=study, storage=open_storage(url))
    return {t.number: t for t in loaded.get_trials(deepcopy=False)}


@pytest.mark.parametrize(("sampler", "n"), [("tpe", 6), ("s2d", 60)])
def test_two_workers_on_postgresql_add_exactly_the_trials_asked(postgres_url, tmp_path, sampler, n):
    cmd = plan(tmp_path / "out", postgres_url, "w2")
    cmd += ["--trials", str(n), "--workers", "2", "--sampler", sampler, "--pareto", "--json"]
    doc = json.loads(run_plan(cmd).stdout)

    assert doc["trials"] == n and doc["storage"] == postgres_url.replace(PASSWORD, "***")
    found = trials(postgres_url, "w2")
    assert sorted(found) == list(range(n))
    assert all(t.state == TrialState.COMPLETE for t in found.values())
    study = optuna.load_study(study_name="w2", storage=open_storage(postgres_url))
    assert study.metric_names == metric_names(True, "gpu_hours")
    assert (tmp_path / "out" / "pareto" / "plan-00.yaml").exists()


@pytest.mark.parametrize(("sampler", "each"), [("tpe", 5), ("s2d", 40)])
def test_two_plans_started_at_once_share_one_study(postgres_url, tmp_path, sampler, each):
    """Both open a new database at once (the schema race too) and add to the same study."""
    cmds = [
        plan(tmp_path / f"out{i}", postgres_url, "shared")
        + ["--trials", str(each), "--sampler", sampler, "--seed", str(i)]
        for i in range(2)
    ]
    procs = [
        subprocess.Popen(c, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in cmds
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out + err

    found = trials(postgres_url, "shared")
    assert sorted(found) == list(range(2 * each))  # unique, dense numbers
    assert all(t.state == TrialState.COMPLETE for t in found.values())


def _start_hanging_worker(url: str, study: str) -> tuple[subprocess.Popen[str], int]:
    worker = subprocess.Popen(
        [sys.executable, "-c", REMOTE_HANGING_WORKER, str(SCENARIO), url, study],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = worker.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("running"):
        worker.kill()
        raise AssertionError(worker.communicate(timeout=30)[1])
    return worker, int(line.split()[1])


def test_a_killed_workers_trial_is_failed_by_its_heartbeat(postgres_url, tmp_path):
    name, grace = "faults", GRACE_BEATS * HEARTBEAT_S
    worker, hung = _start_hanging_worker(postgres_url, name)
    try:
        # Alive past the grace period: its heartbeat keeps its trial RUNNING beside a new plan.
        time.sleep(grace + 1.5)
        cmd = plan(tmp_path / "out", postgres_url, name) + ["--sampler", "tpe"]
        first = run_plan([*cmd, "--trials", "2"])
        assert "marked failed" not in first.stdout
        assert trials(postgres_url, name)[hung].state == TrialState.RUNNING
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    before = trials(postgres_url, name)
    assert before[hung].state == TrialState.RUNNING
    assert before[hung].user_attrs[WORKER_ATTR]["host"] == "another-machine"
    finished = {
        n: (t.values, t.params) for n, t in before.items() if t.state == TrialState.COMPLETE
    }
    assert len(finished) == 5 + 2

    time.sleep(grace + 1.5)  # its last heartbeat is now older than the grace period
    second = run_plan([*cmd, "--trials", "4", "--workers", "2"])

    assert (
        f"marked failed 1 trial(s) that a worker which died had left running (number {hung})"
        in (second.stdout)
    )
    after = trials(postgres_url, name)
    assert after[hung].state == TrialState.FAIL
    assert {n: (after[n].values, after[n].params) for n in finished} == finished  # nothing lost
    states = [t.state for t in after.values()]
    assert states.count(TrialState.COMPLETE) == 5 + 2 + 4 and TrialState.RUNNING not in states
    assert len(states) == 5 + 1 + 2 + 4  # every trial accounted for: complete, or failed here
