"""``s2d watch`` with several runs: the side-by-side table and chart, on recorded and real runs.

The runs are copies of the recorded toy runs (tests/tui_tests/fixtures/) in a
folder laid out as ``s2d demo`` writes one: ``workflow`` (the finished toy
run), ``raw_bridge`` (the run that failed in OPD) and ``direct`` (the finished
run under another plan name, its rewards and accuracies moved by a few points
so that its curve can be told apart), plus a ``plans`` folder that is no run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from planner.contracts import RunDir, read_events
from s2d.cli import main
from tests.tui_tests.fixtures.toy_run import TOY_RUN, TOY_RUN_ERROR
from tests.tui_tests.pilot import screen_text, wait_for_text, wait_until
from tui.compare import (
    ACCURACY,
    ChartChoice,
    chart_choices,
    compare_rows,
    layout_columns,
    resolve_sources,
    stage_columns,
)
from tui.follower import RunFollower
from tui.run_state import RunState
from tui.screens.compare_screen import CompareScreen
from tui.screens.watch_screen import WatchScreen
from tui.watch_app import compare_app_for

SMALL, LARGE = (80, 24), (160, 45)
RUNS = ("workflow", "raw_bridge", "direct")


def copy_run(src: Path, dst: Path, plan_name: str | None = None, shift: float = 0.0) -> Path:
    """A copy of a recorded run, optionally under another plan name and with shifted results."""
    dst.mkdir(parents=True)
    plan = (src / "plan.yaml").read_text()
    if plan_name:
        plan = plan.replace("name: toy-s2d\n", f"name: {plan_name}\n", 1)
    (dst / "plan.yaml").write_text(plan)
    lines = []
    for line in (src / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["kind"] == "run_start" and plan_name:
            e["plan"] = plan_name
        if e["kind"] == "eval":
            e["accuracy"] = round(e["accuracy"] + shift, 4)
        if e["kind"] == "metrics" and "reward" in e["values"]:
            e["values"]["reward"] = round(e["values"]["reward"] + shift, 4)
        lines.append(json.dumps(e, separators=(",", ":")))
    (dst / "events.jsonl").write_text("\n".join(lines) + "\n")
    return dst


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """A demo-like folder ``runs`` of three recorded runs; the working directory is its parent."""
    root = tmp_path / "runs"
    copy_run(TOY_RUN, root / "workflow")
    copy_run(TOY_RUN_ERROR, root / "raw_bridge")
    copy_run(TOY_RUN, root / "direct", plan_name="toy-s2d-direct", shift=-0.08)
    (root / "plans").mkdir()
    (root / "plans" / "workflow.yaml").write_text((TOY_RUN / "plan.yaml").read_text())
    (root / "workflow.log").write_text("")
    monkeypatch.chdir(tmp_path)  # screens name "runs", not a temporary path
    return Path("runs")


def _read(path: Path) -> RunState:
    state = RunState()
    RunFollower(path, state).read_to_end()
    return state


def _eval_events(path: Path) -> dict[str, float]:
    return {e["stage"]: e["accuracy"] for e in read_events(RunDir(path).events) if e.kind == "eval"}


# -- the command line ------------------------------------------------------------
def test_the_cli_shows_several_run_dirs_side_by_side(runs, capsys):
    shot = Path("two.svg")
    args = ["watch", str(runs / "workflow"), str(runs / "raw_bridge" / "events.jsonl")]
    assert main([*args, "--screenshot", str(shot), "--size", "120x40"]) == 0
    svg = shot.read_text()
    assert "workflow" in svg and "raw_bridge" in svg and "direct" not in svg
    assert "wrote two.svg" in capsys.readouterr().out


def test_the_cli_shows_the_runs_a_folder_holds(runs):
    shot = Path("all.svg")
    assert main(["watch", str(runs), "--screenshot", str(shot), "--size", "160x45"]) == 0
    svg = shot.read_text()
    assert all(name in svg for name in RUNS) and "plans" not in svg  # a folder that is no run


def test_the_cli_refuses_a_folder_that_holds_no_runs(tmp_path, capsys):
    (tmp_path / "empty-handed" / "notes").mkdir(parents=True)
    (tmp_path / "empty-handed" / "README").write_text("x")
    assert main(["watch", str(tmp_path / "empty-handed"), "--no-follow"]) == 2
    assert main(["watch", str(TOY_RUN), str(tmp_path / "empty-handed")]) == 2
    err = capsys.readouterr().err
    assert err.count("is not a run directory and holds none") == 2 and "Traceback" not in err
    assert "s2d demo" in err


def test_several_dirs_without_following_must_all_be_runs(tmp_path, capsys):
    assert main(["watch", str(TOY_RUN), str(tmp_path / "later"), "--no-follow"]) == 2
    assert "does not exist" in capsys.readouterr().err
    # while following, a run still to come is waited for
    sources = resolve_sources([TOY_RUN, tmp_path / "later"], follow=True)
    assert sources.runs == [TOY_RUN, tmp_path / "later"] and sources.is_comparison


# -- what the table and chart show -----------------------------------------------
def test_rows_carry_each_runs_accuracy_after_each_stage_as_its_eval_events(runs):
    paths = resolve_sources([runs], follow=False).runs
    assert sorted(p.name for p in paths) == sorted(RUNS)
    states = {p.name: _read(p) for p in paths}
    rows = {r.name: r for r in compare_rows(list(states.items()))}
    for name, state in states.items():
        measured = _eval_events(runs / name)
        assert measured, name
        row = rows[name]
        for stage, accuracy in measured.items():
            assert row.cells[stage].measured == accuracy
        for stage, view in state.stages.items():
            assert row.cells[stage].predicted == (view.predicted.accuracy)  # type: ignore[union-attr]
    assert rows["workflow"].final.measured == _eval_events(runs / "workflow")["student_rl"]
    assert rows["raw_bridge"].status == "error" and rows["raw_bridge"].stage == "opd"
    assert rows["raw_bridge"].cells["opd"].measured is None
    assert rows["direct"].plan == "toy-s2d-direct" and rows["workflow"].teacher == "toy-m"
    assert rows["workflow"].labels == 384 and rows["workflow"].planned == 510.0
    assert stage_columns(list(states.values())) == ["teacher_rl", "warmup", "opd", "student_rl"]


@pytest.mark.slow
def test_real_runs_show_the_accuracy_their_done_markers_hold(tiny_run, tmp_path):
    """Two copies of a real tiny run (every stage kind): each cell is its stage's DONE.json eval."""
    _, run_dir = tiny_run
    folder = tmp_path / "demo"
    for name in ("tiny", "tiny-again"):
        dst = folder / name
        dst.mkdir(parents=True)
        shutil.copy(run_dir / "plan.yaml", dst / "plan.yaml")
        shutil.copy(run_dir / "events.jsonl", dst / "events.jsonl")
        for done in (run_dir / "stages").glob("*/DONE.json"):
            (dst / "stages" / done.parent.name).mkdir(parents=True)
            shutil.copy(done, dst / "stages" / done.parent.name / "DONE.json")
    sources = resolve_sources([folder], follow=False)
    assert [p.name for p in sources.runs] == ["tiny", "tiny-again"]
    states = [(p.name, _read(p)) for p in sources.runs]
    plan_stages = [s.id for s in states[0][1].plan.stages]  # type: ignore[union-attr]
    assert stage_columns([st for _, st in states]) == ["base", *plan_stages]
    for row in compare_rows(states):
        run = RunDir(folder / row.name)
        for stage in ["base", *plan_stages]:
            record = run.read_done(stage)
            assert record is not None and record.evals, stage
            done = {e["benchmark"]: e["accuracy"] for e in record.evals}
            assert row.cells[stage].measured == done[row.benchmark], stage
        assert row.final.measured == row.cells[plan_stages[-1]].measured
        assert row.status == "ok" and row.spent > 0 and row.unit == "cpu_seconds"


def test_the_table_keeps_what_matters_as_it_narrows(runs):
    paths = resolve_sources([runs], follow=False).runs
    rows = compare_rows([(p.name, _read(p)) for p in paths])
    stages = ["teacher_rl", "warmup", "opd", "student_rl"]
    wide = layout_columns(rows, stages, 158)
    keys = [c.key for c in wide.columns]
    assert keys[:5] == ["run", "plan", "teacher", "status", "stage"] and wide.predicted
    narrow = layout_columns(rows, stages, 78)
    keys = [c.key for c in narrow.columns]
    assert {"run", "status", "final", "spend", *(f"stage:{s}" for s in stages)} <= set(keys)


@pytest.mark.anyio
async def test_runs_in_the_table_show_their_accuracies_on_screen(runs):
    app = compare_app_for([runs], follow=False)
    async with app.run_test(size=LARGE) as pilot:
        await wait_until(pilot, lambda: app.compare_screen.done_reading)
        text = await wait_for_text(pilot, "3 runs  2 finished, 1 failed  in runs", "toy-s2d-direct")
        for name in RUNS:
            line = next(ln for ln in text.splitlines() if f" {name} " in ln)
            for accuracy in _eval_events(runs / name).values():
                assert f"{accuracy * 100:.1f} (p " in line, (name, line)


@pytest.mark.anyio
async def test_the_chart_overlays_one_series_per_run_and_switches_metrics(runs):
    app = compare_app_for([runs], follow=False)
    async with app.run_test(size=LARGE) as pilot:
        screen = app.compare_screen
        await wait_until(pilot, lambda: screen.done_reading)
        chart = screen.query_one("#compare-chart")
        assert str(chart.border_title).startswith("reward · teacher_rl")
        states = [r.state for r in screen.snapshot()]
        choices = chart_choices(states)
        assert choices[0] == ChartChoice("reward", "teacher_rl")
        assert ChartChoice("loss", "warmup") in choices and choices[-1].metric == ACCURACY
        assert all(choice.stage != "opd" or choice.metric != "reward" for choice in choices)

        shown = screen_text(app)
        assert all(f"⢕⢕ {name}" in shown for name in RUNS)  # one series per run, named
        await pilot.press("c")
        assert str(chart.border_title).startswith("reward · student_rl")
        # raw_bridge failed before student_rl: two runs have its reward
        shown = screen_text(app)
        assert "⢕⢕ workflow" in shown and "⢕⢕ direct" in shown and "⢕⢕ raw_bridge" not in shown
        await pilot.press("a")
        assert str(chart.border_title).startswith("accuracy after each stage")
        assert all(f"⢕⢕ {name}" in screen_text(app) for name in RUNS)
        await pilot.press("a")  # back to the default
        assert str(chart.border_title).startswith("reward · teacher_rl")
        await pilot.press("C")
        assert str(chart.border_title).startswith("accuracy after each stage")


@pytest.mark.anyio
async def test_enter_opens_the_runs_own_screen_and_escape_comes_back(runs):
    app = compare_app_for([runs], follow=False)
    async with app.run_test(size=LARGE) as pilot:
        screen = app.compare_screen
        await wait_until(pilot, lambda: screen.done_reading)
        order = [r.name for r in screen.snapshot()]
        await pilot.press("down")  # the second row
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, WatchScreen))
        assert app.screen.run_dir == runs / order[1]
        await wait_for_text(pilot, "✖ failed" if order[1] == "raw_bridge" else "✔ finished")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press("escape")  # nothing under the comparison: stays
        assert isinstance(app.screen, CompareScreen)


@pytest.mark.anyio
async def test_follows_runs_as_they_grow_and_pauses(tmp_path):
    from tests.tui_tests.fixtures.toy_run import ToyRunWriter

    a = ToyRunWriter(tmp_path / "runs" / "a")
    a.write(3)  # run_start, stage_start, one metrics line
    (tmp_path / "runs" / "notes").mkdir()
    app = compare_app_for([tmp_path / "runs"], poll_interval_s=0.02)
    async with app.run_test(size=SMALL) as pilot:
        screen = app.compare_screen
        await wait_for_text(pilot, "1 runs", "● teacher_rl 1/24")
        b = ToyRunWriter(tmp_path / "runs" / "b")  # a run that starts later joins
        b.write(3)
        await wait_until(pilot, lambda: len(screen.snapshot()) == 2)
        await wait_for_text(pilot, "2 runs")
        await pilot.press("p")
        await pilot.pause(0.1)
        steps = screen.steps_done
        a.write()
        await pilot.pause(0.2)
        assert screen.steps_done == steps and "PAUSED" in screen_text(app)
        await pilot.press("p")
        await wait_for_text(pilot, "1 finished")
        runs = {r.name: r.state for r in screen.snapshot()}
        assert runs["a"].finished and not runs["b"].finished
        a.close()
        b.close()


@pytest.mark.anyio
async def test_the_demo_shows_its_runs_side_by_side_before_and_as_they_start(tmp_path):
    from planner.calibrate import PAPER_ROWS
    from planner.contracts import load_plan
    from s2d import compare
    from s2d.demo import watch_app
    from tests.tui_tests.fixtures.toy_run import ToyRunWriter

    comp = compare.prepare(load_plan(TOY_RUN / "plan.yaml"), tmp_path / "demo", PAPER_ROWS)
    app = watch_app(comp)  # as `s2d demo` opens it: no run has started yet
    async with app.run_test(size=LARGE) as pilot:
        screen = app.compare_screen
        await wait_until(pilot, lambda: screen.steps_done > 0)
        assert [r.name for r in screen.snapshot()] == list(comp.runs)
        await wait_for_text(pilot, "4 runs  0 finished", "replay      —        —        waiting")
        workflow = ToyRunWriter(comp.run_dir("workflow"))
        workflow.write(3)
        await wait_for_text(pilot, "workflow    toy-s2d  toy-m    running  teacher_rl 1/24")
        workflow.close()


# -- snapshots -------------------------------------------------------------------
def _loaded(pilot_app_size):
    async def loaded(pilot):
        await wait_until(pilot, lambda: pilot.app.compare_screen.done_reading)
        await wait_for_text(pilot, "3 runs  2 finished, 1 failed  in runs")

    return loaded


def test_snapshot_side_by_side_80x24(runs, snap_compare):
    assert snap_compare(
        compare_app_for([runs], follow=False), terminal_size=SMALL, run_before=_loaded(SMALL)
    )


def test_snapshot_side_by_side_160x45(runs, snap_compare):
    assert snap_compare(
        compare_app_for([runs], follow=False), terminal_size=LARGE, run_before=_loaded(LARGE)
    )
