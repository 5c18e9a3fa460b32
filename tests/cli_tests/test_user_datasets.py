"""A new user's own data, from files to a finished run, with no file edited by hand.

A DAPO-Math-17k-shaped labeled pool (chat prompts wrapped in DAPO's instruction,
``reward_model.ground_truth``, every problem repeated as the real set repeats them) and a
MATH-500-shaped eval set, both holding the toy world's problems, go through
``s2d data inspect``, ``s2d plan`` and ``s2d run`` on the tiny toy zoo. The scenario names
the files relative to its own folder, and the commands run from elsewhere.
"""

from __future__ import annotations

import json

import pytest
import yaml

from planner.contracts import load_plan
from s2d.cli import main
from tests.trainer_tests.test_data_sources import dapo_row, write_jsonl


def _toy_rows(zoo, name: str) -> list[dict]:
    path = zoo.root / "data" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.extended
def test_dapo_and_math500_files_go_through_inspect_plan_and_run(
    tiny_zoo, tmp_path, monkeypatch, capsys
):
    project = tmp_path / "project"
    train = _toy_rows(tiny_zoo, "train")
    dapo = [dapo_row(r["problem"], r["answer"], i) for i, r in enumerate(train)]
    write_jsonl(project / "data" / "dapo.jsonl", dapo * 3)
    math500 = [
        {
            "problem": r["problem"],
            "solution": r["solution"],
            "answer": r["answer"],
            "subject": "Arithmetic",
            "level": r.get("level", 1),
            "unique_id": f"test/arith/{i}.json",
        }
        for i, r in enumerate(_toy_rows(tiny_zoo, "eval"))
    ]
    write_jsonl(project / "data" / "math500.jsonl", math500)
    unique = len({r["problem"] for r in train})
    scenario = project / "scenario.yaml"
    base = {
        "kind": "scenario",
        "name": "mine",
        "world": "toy",
        "zoo": str(tiny_zoo.root),
        "student": "toy:xs",
        "teachers": ["toy:s"],
        "hardware": {"device": "cpu", "count": 1, "probe": False},
        "budget": {"cpu_seconds": 20},
        "prompts": 4,
        "datasets": {
            "labeled": "data/dapo.jsonl",
            "prompts": "data/dapo.jsonl",  # the bridge reads problems no stage has labels for
            "eval": [{"name": "toy", "path": "data/math500.jsonl", "format": "math"}],
        },
        "settings": {
            stage: {"prompts_per_step": 2, "samples_per_prompt": 2, "max_new_tokens": 12}
            for stage in ("teacher_rl", "warmup", "opd", "student_rl")
        },
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    # inspect: the schema is recognised, the repeats are counted, the golds are readable
    assert main(["data", "inspect", str(project / "data" / "dapo.jsonl"), "--rows", "1"]) == 0
    out = capsys.readouterr().out
    assert "format: dapo (detected)" in out and "DAPO's instruction removed" in out
    assert f"rows: {3 * unique:,}; unique problems: {unique:,}" in out
    assert f"{3 * unique:,} of {3 * unique:,} checked are read by the verifier" in out
    assert "Answer:" not in out.split("id ", 1)[1]  # the row shows the bare problem

    # a scenario asking for more labels than the data holds once deduplicated is refused
    scenario.write_text(yaml.safe_dump(base | {"labels": unique + 1}))
    assert main(["data", "inspect", "data/x", "--scenario", str(scenario)]) == 2
    assert main(["plan", str(scenario), "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert f"labels {unique + 1:,} > {unique:,}" in err and f"{3 * unique:,} rows" in err
    assert not (tmp_path / "refused").exists()

    scenario.write_text(yaml.safe_dump(base | {"labels": unique - 4}))  # 4 left for prompts
    plans = tmp_path / "plans"
    assert main(["plan", str(scenario), "--out", str(plans), "--trials", "8"]) == 0
    assert "unique labeled problems outside the eval sets" in capsys.readouterr().out
    plan = load_plan(plans / "best.yaml")
    assert plan.datasets.labeled == str(project / "data" / "dapo.jsonl")  # read from anywhere
    assert plan.datasets.eval[0].path == str(project / "data" / "math500.jsonl")

    run_dir = tmp_path / "runs" / "mine"
    assert main(["run", str(plans / "best.yaml"), "--run-dir", str(run_dir)]) == 0
    done = [json.loads(p.read_text()) for p in sorted(run_dir.glob("stages/*/DONE.json"))]
    assert done and all(d["status"] == "ok" for d in done)
    assert {e["n"] for d in done for e in d["evals"]} == {len(math500)}
