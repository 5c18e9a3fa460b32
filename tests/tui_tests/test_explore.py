"""``s2d explore``: the study adapter, the Pareto front, and the app driven with the pilot."""

from __future__ import annotations

import pytest

from planner.contracts.plan import load_plan
from s2d.cli import main
from tests.tui_tests.pilot import SIZE, wait_for_text
from tests.tui_tests.study_fixture import make_study, planner_study
from tui.explore_app import make_app
from tui.study import (
    TrialRow,
    load_study,
    mark_pareto_front,
    split_metric_name,
    storage_url_for,
    trial_row,
)
from tui.widgets.pareto_chart import integer_ticks, padded
from tui.widgets.trials_table import TrialsTable, columns


def test_trial_row_reads_planner_keys_and_falls_back_to_objective_values():
    r = trial_row(
        3, [0.5, 12.0], {"teacher": "m"}, {"final_accuracy": 0.42, "compute": 7.5, "valid": False}
    )
    assert (r.accuracy, r.cost, r.valid, r.plan_data) == (0.42, 7.5, False, None)
    r = trial_row(4, [0.5, 12.0], {}, {"plan": {"name": "x"}})
    assert (r.accuracy, r.cost, r.plan_data) == (0.5, 12.0, {"name": "x"})
    assert trial_row(5, [0.6], {}, {}).cost is None


def test_pareto_front_keeps_trials_nothing_beats_on_both_axes():
    rows = [
        TrialRow(0, 0.4, 300.0),
        TrialRow(1, 0.45, 250.0),
        TrialRow(2, 0.2, 90.0),
        TrialRow(3, 0.55, 600.0),
        TrialRow(4, 0.5, 600.0),
        TrialRow(5, 0.9, 1.0, valid=False),
        TrialRow(6, None, 5.0),
    ]
    front = mark_pareto_front(rows)
    assert [r.number for r in front] == [2, 1, 3]
    assert [r.number for r in rows if r.on_front] == [1, 2, 3]


def test_storage_argument_becomes_an_optuna_url(tmp_path):
    db = tmp_path / "s.db"
    db.write_text("")
    assert storage_url_for(str(db)) == f"sqlite:///{db.resolve()}"
    journal = make_study(tmp_path / "study.journal")
    assert storage_url_for(str(journal)) == f"journal:{journal}"
    assert storage_url_for(str(tmp_path)) == f"journal:{journal}"  # a plans folder
    assert storage_url_for("postgresql://u:pw@h/db") == "postgresql://u:pw@h/db"


def test_load_study_reads_trials_and_the_front(tmp_path):
    study = load_study(str(make_study(tmp_path / "study.journal")))
    assert study.name == "toy-study" and study.cost_unit == "cpu_seconds" and len(study.trials) == 8
    assert sorted(r.number for r in study.trials if r.on_front) == [1, 3, 5, 6]


def test_cli_errors_are_clear_and_never_show_a_password(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "missing.journal")]) == 2
    assert "does not exist" in capsys.readouterr().err
    path = make_study(tmp_path / "two.journal")
    make_study(path, name="other")
    assert main(["explore", str(path)]) == 2
    err = capsys.readouterr().err
    assert "toy-study" in err and "other" in err and "--study" in err
    assert main(["explore", "postgresql://alice:s3cret@127.0.0.1:1/nodb"]) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err and "***" in err


def test_cli_screenshot(tmp_path, capsys):
    shot = tmp_path / "study.svg"
    assert (
        main(["explore", str(make_study(tmp_path / "study.journal")), "--screenshot", str(shot)])
        == 0
    )
    assert "Pareto" in shot.read_text()


@pytest.mark.anyio
async def test_select_sort_and_write_a_plan(tmp_path):
    study = load_study(str(make_study(tmp_path / "study.journal")))
    out = tmp_path / "plans"
    app = make_app(study, out_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.explore_screen
        await wait_for_text(pilot, "8 trials, 4 on the Pareto front", "allocation · trial 6")
        assert screen.selected == 6  # sorted by accuracy, best first
        await pilot.press("down")
        assert screen.selected == 3
        await wait_for_text(pilot, "allocation · trial 3", "predicted 52.0%")
        await pilot.press("w")
        written = out / "toy-study-trial3.yaml"
        assert written.is_file() and load_plan(written).stages[0].budget.steps == 13
        await pilot.press("o")  # sort by cost, cheapest first; the cursor stays on trial 3
        assert screen.selected == 3
        await pilot.press("ctrl+home")
        assert screen.selected == 5
        await pilot.press("r", "ctrl+home")  # most expensive first
        assert screen.selected == 6
        while screen.selected != 2:  # the trial without a plan: shows its params, refuses to write
            await pilot.press("down")
        await wait_for_text(pilot, "carries no plan")
        await pilot.press("w")
        assert not (out / "toy-study-trial2.yaml").exists()


def test_explore_snapshot(snap_compare, tmp_path):
    study = load_study(str(make_study(tmp_path / "study.journal")))
    study.storage_label = "journal:plans/study.journal"  # the tmp path differs per run

    async def loaded(pilot):
        await wait_for_text(pilot, "allocation · trial 6")

    assert snap_compare(
        make_app(study, out_dir=tmp_path), press=["down"], terminal_size=SIZE, run_before=loaded
    )


def test_axes_are_padded_and_clamped():
    assert padded([10.0, 30.0], 1.0) == (9.0, 31.0)
    assert padded([0.0, 600.0], 1.0, floor=0.0) == (0.0, 630.0)  # no negative cost
    low, high = padded([81.9, 81.9], 0.5, 0.0, 100.0)  # one value: a span around it
    assert low < 81.9 < high and high - low > 0.5
    assert padded([99.9, 100.0], 0.5, 0.0, 100.0)[1] == 100.0
    assert integer_ticks(-1.5, 30.5, 8) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    assert integer_ticks(0, 3, 8) == [0.0, 1.0, 2.0, 3.0]


def test_objective_names_label_the_axes():
    assert split_metric_name("compute (GPU-h)", "cost") == ("compute", "GPU-h")
    assert split_metric_name(None, "cost", "CPU-s") == ("cost", "CPU-s")
    assert split_metric_name("loss", "cost", "CPU-s") == ("loss", "CPU-s")


@pytest.fixture(scope="module")
def pareto_study(tmp_path_factory):
    return planner_study(tmp_path_factory.mktemp("pareto"), pareto=True)


@pytest.fixture(scope="module")
def single_study(tmp_path_factory):
    return planner_study(tmp_path_factory.mktemp("single"), pareto=False)


def test_planner_study_names_its_objectives_and_carries_the_allocation(pareto_study, single_study):
    assert pareto_study.pareto and not single_study.pareto
    assert pareto_study.metric_names == ["accuracy (0-1)", "compute (GPU-h)"]
    assert pareto_study.cost_label == ("compute", "GPU-h")
    assert single_study.metric_names == ["accuracy (0-1)"]
    assert single_study.cost_label == ("cost", "GPU-h")  # no name for a cost it does not minimise
    assert sum(r.on_front for r in single_study.trials) == 1  # the best trial
    row = next(r for r in pareto_study.trials if r.plan_data and len(r.plan_data["stages"]) == 4)
    cells = {c.key: c.value(row) for c in columns(pareto_study)}
    labels = row.plan_data["labels"]
    assert (cells["stage1"].value, cells["stage3"].value) == (labels["stage1"], labels["stage3"])
    assert cells["prompts"].value == labels["prompts"]
    steps = {s["id"]: s["budget"]["steps"] for s in row.plan_data["stages"]}
    assert cells["steps_teacher_rl"].value == steps["teacher_rl"]
    predicted = row.plan_data["prediction"]["stages"]["opd"]["compute"]
    assert cells["compute_opd"].value == pytest.approx(predicted)
    direct = next(r for r in pareto_study.trials if r.plan_data and r.teacher == "none")
    assert direct.stage_steps("teacher_rl") == 0 and direct.stage_steps("student_rl") > 0


@pytest.mark.anyio
async def test_stage_columns_sort(pareto_study, tmp_path):
    app = make_app(pareto_study, out_dir=tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_text(pilot, "allocation · trial", "teach.RL", "stud.RL")
        table = app.explore_screen.query_one(TrialsTable)
        table.sort_by("steps_teacher_rl")
        await pilot.press("ctrl+home")
        first = app.explore_screen.rows[app.explore_screen.selected]
        present = [r.stage_steps("teacher_rl") for r in pareto_study.trials]
        assert first.stage_steps("teacher_rl") == min(s for s in present if s is not None)


# What must show at each size: the chart's key, the whole allocation, the
# leading columns and the footer's last binding.
SIZES = {
    (80, 24): ("labels", "student_rl", "q Quit"),
    (160, 45): ("stud.RL", "student_rl", "q Quit"),
}


@pytest.mark.parametrize("size", list(SIZES), ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", ["pareto", "single"])
def test_planner_study_snapshot(snap_compare, request, tmp_path, kind, size):
    study = request.getfixturevalue(f"{kind}_study")
    legend = "● front" if kind == "pareto" else "● best"

    async def loaded(pilot):
        await wait_for_text(pilot, "allocation · trial", legend, *SIZES[size])

    assert snap_compare(make_app(study, out_dir=tmp_path), terminal_size=size, run_before=loaded)
