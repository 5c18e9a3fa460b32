"""`s2d validate`: a valid plan is described; a broken one is one paragraph and exit code 2."""

from __future__ import annotations

from pathlib import Path

from s2d.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "toy_plan.yaml"


def test_valid_plan_is_described(capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "valid plan" in out
    assert "stage 1 200, stage 3 200" in out
    assert "4. student_rl [grpo] trains student on labels.stage3" in out


def test_broken_yaml_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML at line" in err and "Traceback" not in err


def test_invalid_plan_lists_each_problem(tmp_path, capsys):
    bad = tmp_path / "plan.yaml"
    bad.write_text(
        EXAMPLE.read_text().replace("stage3: 200", "stage3: 900").replace("steps: 150", "steps: 0")
    )
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not valid (2 problem(s))" in err
    assert "stage1 (200) + stage3 (900) = 1100 labels, beyond the pool of 400" in err
    assert "stages[1].budget.steps: must be positive (got 0)" in err


def test_a_misspelt_stage_kind_is_named_with_its_fix(tmp_path, capsys):
    bad = tmp_path / "plan.yaml"
    bad.write_text(EXAMPLE.read_text().replace("kind: opd", "kind: odp"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "stages[2].kind: unknown value 'odp' (did you mean 'opd'?" in err


def test_missing_file_and_usage_errors(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["validate"]) == 2  # a usage error: one line, exit code 2
    err = capsys.readouterr().err
    assert err.startswith("s2d validate: error: the following arguments are required: file")
    assert "Traceback" not in err and "usage:" not in err


def test_a_scenario_validates_against_the_profile_it_plans_with(capsys):

    scenario = str(EXAMPLE.parent / "paper_scenario.yaml")
    assert main(["validate", scenario, "--profile", "no/such/profile.yaml"]) != 0
    capsys.readouterr()
    assert main(["validate", scenario]) == 0
    assert "valid scenario" in capsys.readouterr().out
