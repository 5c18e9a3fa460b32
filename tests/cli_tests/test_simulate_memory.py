"""`s2d simulate` warns about each stage that does not fit in memory, or fits only sharded."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from s2d.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"
PLAN = str(EXAMPLES / "qwen3_math_plan.yaml")


def scenario(tmp_path: Path, count: int) -> str:
    data = yaml.safe_load((EXAMPLES / "paper_scenario.yaml").read_text())
    data["hardware"]["count"] = count
    path = EXAMPLES / "paper_scenario.yaml" if count == 8 else tmp_path / "scenario.yaml"
    if count != 8:
        path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_stage_that_cannot_fit_is_warned_about_and_shown_in_json(tmp_path, capsys):
    assert main(["simulate", PLAN, "--scenario", scenario(tmp_path, 1), "--json"]) == 0
    cap = capsys.readouterr()
    assert "warning: teacher_rl does not fit in memory on 1 x h100" in cap.err
    assert "131.3 GiB per device, 79.6 GiB available" in cap.err
    stages = {s["id"]: s for s in json.loads(cap.out)["stages"]}
    assert stages["teacher_rl"]["memory_gib"] == 131.3
    assert stages["teacher_rl"]["sharding"] == "full"
    assert stages["student_rl"]["sharding"] == "none" and stages["student_rl"]["memory_gib"] > 30


def test_a_stage_that_fits_only_sharded_is_warned_about(tmp_path, capsys):
    assert main(["simulate", PLAN, "--scenario", scenario(tmp_path, 8)]) == 0
    err = capsys.readouterr().err
    assert "warning: teacher_rl fits in memory on 8 x h100 only sharded" in err
    assert "fully sharded over 8" in err and "num_processes set to 8" in err
    assert "does not fit" not in err and "student_rl" not in err
