"""The batched search: in-memory rounds, bulk writes to the user's storage, workers, the grid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from planner.search.bulk import append_trials
from planner.search.pipeline import make_plans
from planner.search.storage import open_storage

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _url(kind: str, tmp_path: Path) -> str:
    if kind == "journal":
        return f"journal:{tmp_path / 'study.journal'}"
    return f"sqlite:///{tmp_path / 'study.db'}"


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials()


def _view(trials):
    return [
        (t.number, t.state, t.values, t.params, t.distributions, t.user_attrs, t.system_attrs)
        + (t.datetime_start, t.datetime_complete)
        for t in trials
    ]


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_bulk_append_writes_what_add_trials_writes(tmp_path, kind):
    dist = {"x": FloatDistribution(0, 1), "teacher": CategoricalDistribution(["none", "a"])}
    source = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(6):
        source.add_trial(
            optuna.trial.create_trial(
                params={"x": i / 6, "teacher": ["none", "a"][i % 2]},
                distributions=dist,
                values=[0.1 * i, float("inf") if i == 3 else 2.0 + i],
                user_attrs={"plan": {"name": f"p{i}", "stages": [{"id": "opd"}]}, "valid": i != 4},
                system_attrs={"fixed_params": {"x": i / 6}},
            )
        )
    url = _url(kind, tmp_path)
    for name, write in (("one-by-one", "add_trials"), ("bulk", "append")):
        study = optuna.create_study(
            storage=open_storage(url), study_name=name, directions=["maximize", "minimize"]
        )
        for _ in range(2):  # a second write numbers on from the first
            if write == "append":
                append_trials(study, source.get_trials())
            else:
                study.add_trials(source.get_trials())
    assert _view(_trials(url, "bulk")) == _view(_trials(url, "one-by-one"))
    assert [t.number for t in _trials(url, "bulk")] == list(range(12))


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_every_trial_reaches_the_users_storage_with_its_plan(tmp_path, kind):
    from tui.study import load_study

    url = _url(kind, tmp_path)
    result = make_plans(
        ROOT / "examples" / "paper_scenario.yaml", out=tmp_path / "o", trials=40, storage=url
    )
    trials = _trials(url, result.study_name)
    assert result.n_trials == len(trials) == 40
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(40))
    for t in trials:
        assert {"final_accuracy", "compute", "valid", "compute_unit"} <= t.user_attrs.keys()
        if t.user_attrs["valid"]:
            plan = t.user_attrs["plan"]
            assert plan["prediction"]["final_accuracy"] == t.user_attrs["final_accuracy"]
    best = max(trials, key=lambda t: t.value)
    assert result.best.prediction.final_accuracy == best.user_attrs["final_accuracy"]

    view = load_study(url)  # what `s2d explore` shows
    assert len(view.trials) == 40 and view.cost_unit == "gpu_hours"
    assert sum(r.plan_data is not None for r in view.trials) == sum(
        t.user_attrs["valid"] for t in trials
    )


def test_search_is_never_worse_than_the_grid_on_the_paper_scenario(tmp_path):
    for seed in range(2):
        result = make_plans(
            ROOT / "examples" / "paper_scenario.yaml",
            out=tmp_path / str(seed),
            trials=30,
            seed=seed,
            check=True,
        )
        assert result.check["gap"] >= 0.0


def test_pareto_search_writes_a_front_of_plans(tmp_path):
    result = make_plans(
        ROOT / "examples" / "paper_scenario.yaml", out=tmp_path / "o", trials=60, pareto=True
    )
    study = optuna.load_study(
        study_name=result.study_name, storage=open_storage(result.storage_url)
    )
    assert len(study.get_trials()) == 60
    front = [t for t in study.best_trials if t.user_attrs["valid"]]
    assert len(front) >= 8
    costs = [p.prediction.total_compute for p in result.front]
    accs = [p.prediction.final_accuracy for p in result.front]
    assert len(result.front) >= 6 and costs == sorted(costs) and accs == sorted(accs)
    assert costs[0] < 0.25 * 600 and accs[-1] > 0.81  # cheap plans and the best one


def test_resuming_adds_trials_without_repeating_the_coarse_pass(tmp_path):
    args = dict(out=tmp_path / "o", trials=20, study="again")
    first = make_plans(ROOT / "examples" / "paper_scenario.yaml", **args)
    again = make_plans(ROOT / "examples" / "paper_scenario.yaml", seed=1, **args)
    assert (first.n_trials, again.n_trials) == (20, 40)
    tuned = [t for t in _trials(again.storage_url, "again") if t.params["teacher"] != "none"]
    assert len({tuple(sorted(t.params.items())) for t in tuned}) == len(
        tuned
    )  # TPE may repeat "none"


def test_two_workers_on_one_study_lose_no_trials(tmp_path):
    result = make_plans(
        ROOT / "examples" / "paper_scenario.yaml", out=tmp_path / "o", trials=40, workers=2
    )
    trials = _trials(result.storage_url, result.study_name)
    assert result.n_trials == len(trials) == 40
    assert sorted(t.number for t in trials) == list(range(40))
    assert all(t.state == TrialState.COMPLETE and "plan" in t.user_attrs for t in trials)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_plan_processes_on_one_study_lose_no_trials(tmp_path, kind):
    url = _url(kind, tmp_path)
    cmd = [sys.executable, "-m", "s2d", "plan", str(ROOT / "examples" / "paper_scenario.yaml")]
    cmd += ["--storage", url, "--study", "shared", "--trials", "30"]
    procs = [
        subprocess.Popen(
            [*cmd, "--out", str(tmp_path / f"o{i}"), "--seed", str(i)],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
    trials = _trials(url, "shared")
    assert len(trials) == 60 and sorted(t.number for t in trials) == list(range(60))
    assert all(t.state == TrialState.COMPLETE for t in trials)
