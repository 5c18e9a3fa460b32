"""Scenario loading (shipped, config.json and toy models), storage URLs and parallel workers."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from pathlib import Path

import pytest
import yaml

from planner.contracts.errors import UserError
from planner.scenario.models import params_from_config
from planner.scenario.spec import load_scenario
from planner.search.pipeline import make_plans
from planner.search.storage import mask_url
from s2d.cli import main

ROOT = Path(__file__).resolve().parents[2]
# Qwen3-8B's config.json shapes (the hub's), about 8.19e9 parameters
QWEN3_8B_CONFIG = {
    "hidden_size": 4096,
    "num_hidden_layers": 36,
    "intermediate_size": 12288,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "tie_word_embeddings": False,
}


def test_paper_example_resolves_profiles():
    sc = load_scenario(ROOT / "examples" / "paper_scenario.yaml")
    assert sc.student.params == 1.72e9 and [t.name for t in sc.teachers] == [
        "qwen3-8b",
        "qwen3-14b",
    ]
    assert sc.compute_unit == "gpu_hours" and sc.hardware.count == 8
    assert sc.shapes["teacher_rl"].prompts_per_step == 512


def test_toy_scenario_reads_a_fake_zoo_and_plans_in_cpu_seconds(tmp_path, fake_zoo):
    data = yaml.safe_load((ROOT / "examples" / "toy_scenario.yaml").read_text())
    data.update(zoo=str(fake_zoo), teachers=["toy:m"])
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(data))
    sc = load_scenario(path)
    assert sc.student.path == "toy:s" and sc.student.base_accuracy == {"toy": 0.095}
    plan = make_plans(path, out=tmp_path / "out", trials=10).best
    assert plan.prediction.compute_unit == "cpu_seconds" and plan.prediction.total_compute <= 600
    assert plan.student.path == "toy:s" and plan.datasets.labeled == "toy:train"


def test_unknown_toy_size_lists_the_zoo(tmp_path, fake_zoo):
    path = tmp_path / "toy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "world": "toy",
                "zoo": str(fake_zoo),
                "student": "toy:q",
                "labels": 10,
                "budget": {"cpu_seconds": 10},
                "hardware": {"device": "cpu"},
            }
        )
    )
    with pytest.raises(UserError, match="toy:s"):
        load_scenario(path)


def test_local_model_dir_is_profiled_from_config_json(tmp_path, paper_scenario):
    cfg = {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    }
    # by hand: embed 151936*64 + 2 layers * (q,o 2*64*64 + k,v 2*64*32 + mlp 3*64*128 + norms 128) + final norm 64
    assert params_from_config(cfg) == 151936 * 64 + 2 * (8192 + 4096 + 24576 + 128) + 64
    model = tmp_path / "my-teacher"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(cfg))
    sc = load_scenario(paper_scenario(teachers=[{"model": str(model), "accuracy": {"math": 0.8}}]))
    assert sc.teachers[0].base_accuracy["math"] == 0.8


def test_a_config_json_teacher_gets_the_wider_band_of_an_estimated_model(tmp_path, paper_scenario):
    from planner.search.pipeline import plans_from_params
    from planner.simulator.simulator import Simulator

    model = tmp_path / "my-8b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(QWEN3_8B_CONFIG))
    workflow = {
        "teacher": "my-8b",
        "stage1_fraction": 0.5,
        **dict.fromkeys(("w_teacher_rl", "w_warmup", "w_opd", "w_student_rl"), 0.25),
    }

    def band(**entry):
        teacher = {"model": str(model), "accuracy": {"math": 0.853}, **entry}
        problem = Simulator.create(load_scenario(paper_scenario(teachers=[teacher])))
        assert problem.sc.teachers[0].interpolated == ("measured" not in entry)
        pred = plans_from_params(problem, [workflow])[0].prediction
        return {s: p.high - p.low for s, p in pred.stages.items()}, problem

    estimated, problem = band()
    measured, _ = band(measured=True)
    factor = problem.profile.params.interpolated_sd_factor
    assert set(estimated) == {"teacher_rl", "warmup", "opd", "student_rl"}
    for stage, width in measured.items():
        assert estimated[stage] > width
        assert estimated[stage] == pytest.approx(factor * width, rel=0.05), stage  # before clipping


def test_measured_false_marks_a_shipped_model_estimated(paper_scenario):
    sc = load_scenario(paper_scenario(teachers=[{"model": "qwen3-8b", "measured": False}]))
    assert (
        sc.teachers[0].interpolated and not load_scenario(paper_scenario()).teachers[0].interpolated
    )


def test_relative_model_dirs_are_read_from_the_scenario_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "models" / "my-8b").mkdir(parents=True)
    (folder / "models" / "my-8b" / "config.json").write_text(json.dumps(QWEN3_8B_CONFIG))
    data = yaml.safe_load((ROOT / "examples" / "paper_scenario.yaml").read_text())
    data["teachers"] = [{"model": "models/my-8b", "accuracy": {"math": 0.85}}]
    (folder / "scenario.yaml").write_text(yaml.safe_dump(data))
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "models").mkdir(parents=True)  # the same relative path from here has no model
    monkeypatch.chdir(elsewhere)
    sc = load_scenario(Path("../project/scenario.yaml"))
    assert sc.teachers[0].path == str((folder / "models" / "my-8b").resolve())
    assert sc.teachers[0].params == params_from_config(QWEN3_8B_CONFIG)
    # a model directory beside the working directory, not the scenario, is not picked up
    data["teachers"] = [{"model": "models/only-here", "accuracy": {"math": 0.85}}]
    (elsewhere / "models" / "only-here").mkdir()
    (elsewhere / "models" / "only-here" / "config.json").write_text(json.dumps(QWEN3_8B_CONFIG))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match="read from the scenario's folder"):
        load_scenario(folder / "scenario.yaml")


def test_model_without_a_prior_on_the_benchmark_is_refused(tmp_path, paper_scenario):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(
        json.dumps({"hidden_size": 8, "num_hidden_layers": 1, "vocab_size": 151936})
    )
    with pytest.raises(UserError, match="no accuracy prior"):
        load_scenario(paper_scenario(teachers=[str(model)]))


def _gsm8k_scenario(paper_scenario, **extra):
    """The paper scenario on gsm8k, every model with a prior on it (so only the profile lacks it)."""
    return paper_scenario(
        student={"model": "qwen3-1.7b", "accuracy": {"gsm8k": 0.8}},
        teachers=[{"model": "qwen3-8b", "accuracy": {"gsm8k": 0.9}}],
        objective={"benchmark": "gsm8k"},
        **extra,
    )


def test_benchmark_the_response_profile_does_not_know_is_refused(paper_scenario, tmp_path, capsys):
    path = _gsm8k_scenario(paper_scenario)
    assert main(["plan", str(path), "--out", str(tmp_path / "o"), "--trials", "5"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "objective.benchmark" in err and "'gsm8k'" in err and "Traceback" not in err
    assert "math (1), aime24 (0.4416), aime25 (0.484)" in err  # what the profile knows
    assert "add `gsm8k: 1.0` under its benchmark_rl_scale" in err and "--profile" in err
    assert not (tmp_path / "o").exists()
    assert main(["validate", str(path)]) == 2  # refused without planning, too
    assert "'gsm8k'" in capsys.readouterr().err


def test_a_near_miss_benchmark_gets_a_did_you_mean(paper_scenario):
    from planner.simulator.simulator import Simulator

    sc = load_scenario(
        paper_scenario(
            student={"model": "qwen3-1.7b", "accuracy": {"aime2024": 0.1}},
            teachers=[{"model": "qwen3-8b", "accuracy": {"aime2024": 0.4}}],
            objective={"benchmark": "aime2024"},
        )
    )
    with pytest.raises(UserError, match="did you mean 'aime24'"):
        Simulator.create(sc)


def test_a_profile_that_describes_the_benchmark_plans_for_it(paper_scenario, tmp_path):
    from planner.scenario.models import PROFILE_DIR

    profile = yaml.safe_load((PROFILE_DIR / "response_paper.yaml").read_text())
    profile["benchmark_rl_scale"]["gsm8k"] = 1.0
    (tmp_path / "gsm8k_profile.yaml").write_text(yaml.safe_dump(profile))
    path = _gsm8k_scenario(paper_scenario, profile="gsm8k_profile.yaml")
    plan = make_plans(path, out=tmp_path / "o", trials=10).best
    assert plan is not None and plan.prediction.benchmark == "gsm8k"


def test_mask_url_hides_passwords():
    assert (
        mask_url("postgresql://bob:s3cret@db:5432/optuna") == "postgresql://bob:***@db:5432/optuna"
    )
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_bad_storage_url_is_a_user_error_without_the_password(paper_scenario, tmp_path, capsys):
    code = main(
        [
            "plan",
            str(paper_scenario()),
            "--out",
            str(tmp_path / "o"),
            "--storage",
            "nosuchdb://u:hunter2@h/db",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "hunter2" not in err and "***" in err


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg", "postgresql+psycopg2"])
def test_postgresql_without_a_driver_says_which_extra_to_install(
    paper_scenario, tmp_path, capsys, monkeypatch, scheme
):
    for module in ("psycopg", "psycopg2"):  # as if neither were installed
        monkeypatch.setitem(sys.modules, module, None)
    url = f"{scheme}://bob:hunter2@db.example:5432/optuna"
    code = main(["plan", str(paper_scenario()), "--out", str(tmp_path / "o"), "--storage", url])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'sparse2dense[postgres]'" in err
    assert f"{scheme}://bob:***@db.example" in err and "hunter2" not in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_unreachable_postgresql_server_is_a_user_error_without_the_password(
    paper_scenario, tmp_path, capsys
):
    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        pytest.skip("no PostgreSQL driver: pip install 'sparse2dense[postgres]'")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://bob:hunter2@127.0.0.1:{port}/optuna"
    code = main(["plan", str(paper_scenario()), "--out", str(tmp_path / "o"), "--storage", url])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the database of Optuna storage" in err
    assert f"postgresql://bob:***@127.0.0.1:{port}/optuna" in err and "hunter2" not in err
    assert "Check that the server is running" in err and "Traceback" not in err


@pytest.mark.parametrize("pareto", [False, True])
def test_objectives_carry_their_names_once(paper_scenario, tmp_path, capsys, pareto):
    import optuna

    from planner.search.optimize import metric_names
    from planner.search.storage import open_storage

    out = tmp_path / "o"
    args = ["plan", str(paper_scenario()), "--out", str(out), "--study", "named", "--trials", "30"]
    args += ["--pareto"] if pareto else []
    assert main(args) == 0 and main(args) == 0  # the second run reopens the study
    study = optuna.load_study(
        study_name="named", storage=open_storage(f"journal:{out / 'study.journal'}")
    )
    expected = ["accuracy (0-1)", "compute (GPU-h)"] if pareto else ["accuracy (0-1)"]
    assert study.metric_names == expected == metric_names(pareto, "gpu_hours")
    assert (out / "study.journal").read_text().count("metric_names") == 1  # written once


def test_sqlite_storage_and_study_resume(paper_scenario, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first = make_plans(
        paper_scenario(), out=tmp_path / "o", trials=3, storage=url, study="mine", sampler="tpe"
    )
    again = make_plans(
        paper_scenario(), out=tmp_path / "o", trials=3, storage=url, study="mine", sampler="tpe"
    )
    assert (first.n_trials, again.n_trials) == (3, 6)  # the second run adds to the same study


def test_two_workers_keep_every_trial(paper_scenario, tmp_path):
    import optuna

    from planner.search.storage import open_storage

    result = make_plans(
        paper_scenario(), out=tmp_path / "o", trials=16, workers=2, sampler="tpe", study="par"
    )
    study = optuna.load_study(study_name="par", storage=open_storage(result.storage_url))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 16
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(16))


def test_validate_accepts_a_scenario(capsys):
    assert main(["validate", str(ROOT / "examples" / "paper_scenario.yaml")]) == 0
    assert "valid scenario" in capsys.readouterr().out
