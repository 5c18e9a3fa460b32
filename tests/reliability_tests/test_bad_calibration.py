"""``s2d calibrate`` refuses an eval accuracy that is not a fraction 0..1, and writes nothing.

A NaN, an infinity, a negative value or a percentage (57.0 where 0.57 belongs) in a
run's events would otherwise become a measured point of the profile. Each is refused
with one message naming the run directory, the stage, the benchmark and the value,
exit code 2, and no profile written: an existing one stays byte for byte as it was.
"""

from __future__ import annotations

import json

import pytest

from planner.contracts.plan import save_plan
from planner.contracts.runlog import EventWriter
from planner.search.pipeline import make_plans
from tests.planner_tests.conftest import fake_zoo  # noqa: F401 (a fixture)
from tests.planner_tests.test_calibration_runs import _toy_scenario
from tests.reliability_tests.fs_snapshot import tree_diff, tree_state

# (name, the accuracy as written in events.jsonl, how the message shows it)
BAD_ACCURACIES = [
    ("nan", "NaN", "nan"),
    ("inf", "Infinity", "inf"),
    ("minus-inf", "-Infinity", "-inf"),
    ("negative", "-0.2", "-0.2"),
    ("percentage", "57.0", "57.0"),
    ("just-above-one", "1.01", "1.01"),
    ("null", "null", "None"),
    ("text", '"high"', "'high'"),
    ("true", "true", "True"),
]


@pytest.fixture
def toy_plan(tmp_path, fake_zoo):  # noqa: F811
    scenario = _toy_scenario(tmp_path, fake_zoo)
    return scenario, make_plans(scenario, out=tmp_path / "plans", trials=5).best


def _run_with_accuracy(run_dir, plan, raw: str) -> str:
    """A finished run whose eval after its first stage says ``raw``; returns that stage."""
    save_plan(plan, run_dir / "plan.yaml")
    first = plan.stages[0].id
    with EventWriter(run_dir / "events.jsonl") as w:
        w.emit("run_start", plan=plan.name)
        for s in plan.stages:
            w.emit("stage_start", stage=s.id, stage_kind=s.kind)
            w.emit("stage_end", stage=s.id, status="ok")
            w.emit("eval", stage=s.id, benchmark="toy", accuracy=0.3, n=400, k=4)
        w.emit("run_end", status="ok")
    events = run_dir / "events.jsonl"
    lines = events.read_text().splitlines()
    for i, line in enumerate(lines):
        obj = json.loads(line)
        if obj["kind"] == "eval" and obj["stage"] == first:
            lines[i] = line.replace('"accuracy":0.3', f'"accuracy":{raw}')
    events.write_text("\n".join(lines) + "\n")
    return first


@pytest.mark.parametrize("existing", [False, True], ids=["no-profile-yet", "profile-exists"])
def test_an_accuracy_outside_0_to_1_is_refused_and_nothing_written(
    existing, toy_plan, tmp_path, cli
):
    scenario, plan = toy_plan
    for name, raw, shown in BAD_ACCURACIES:
        run = tmp_path / "runs" / name
        stage = _run_with_accuracy(run, plan, raw)
        out = tmp_path / f"{name}.yaml"
        if existing:
            out.write_text("name: kept\n")
        before = tree_state(tmp_path)
        result = cli("calibrate", str(run), "--scenario", str(scenario), "--out", str(out))
        assert result.code == 2, (name, result.out + result.err)
        assert result.err.startswith("s2d calibrate: error: "), result.err
        for part in (str(run), repr(stage), "'toy'", f"accuracy {shown}", "fractions 0..1"):
            assert part in result.err, (name, part, result.err)
        assert "Traceback" not in result.err + result.out
        assert tree_diff(before, tree_state(tmp_path)) == [], name
        assert out.exists() == existing
