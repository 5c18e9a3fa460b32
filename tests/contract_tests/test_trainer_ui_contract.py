"""What the trainer writes is what the UI and calibration read: a real run's log, end to end.

The tiny plan (every stage kind) runs through the executor once; its
events.jsonl and run directory are then read the way ``s2d watch`` and
``s2d calibrate`` read them. A metric renamed in the trainer, an event field
the payload types do not know, or a chart the UI offers that no run fills,
fails here.
"""

from __future__ import annotations

from planner.contracts import KINDS, RunDir, events, kind_of, load_plan, metrics, read_events
from tui.run_state import RunState
from tui.views import stage_charts


def _state(run_dir):
    from tui.follower import RunFollower

    state = RunState()
    RunFollower(run_dir, state).read_to_end()
    return state


def test_every_event_matches_its_payload_type(tiny_run):
    status, run_dir = tiny_run
    assert status == "ok"
    log = read_events(RunDir(run_dir).events)
    # every kind but error and warning, which the reliability suite provokes
    assert {e.kind for e in log} == set(events.PAYLOADS) - {"error", "warning"}
    for e in log:
        missing = set(events.REQUIRED_FIELDS[e.kind]) - set(e.data)
        unknown = set(e.data) - events.FIELDS[e.kind]
        assert not missing and not unknown, (e.kind, missing, unknown)


def test_every_chart_the_ui_offers_has_points(tiny_run):
    _, run_dir = tiny_run
    state = _state(run_dir)
    plan = state.plan
    assert plan is not None and state.finished and state.skipped_lines == 0
    charted = 0
    for stage in plan.stages:
        view = state.stages[stage.id]
        for key in stage_charts(state, stage.id):
            series = view.curves.get(key)
            assert series is not None and len(series) > 0, (stage.id, key)
            charted += 1
    assert charted >= 20
    # throughput is derived by the trainer from its meter: it must move, not sit at zero
    rl = state.stages["teacher_rl"].curves["throughput/generated_tokens_per_s"]
    assert max(rl.points()[1]) > 0


def test_every_metric_the_trainer_logs_is_charted_or_left_out_on_purpose(tiny_run):
    _, run_dir = tiny_run
    logged = {
        key
        for e in read_events(RunDir(run_dir).events)
        if e.kind == "metrics"
        for key in e["values"]
    }
    unplaced = {
        k for k in logged if k not in metrics.METRICS and metrics.why_not_charted(k) is None
    }
    assert not unplaced, f"add these to planner/contracts/metrics.py: {sorted(unplaced)}"
    plan = load_plan(RunDir(run_dir).plan)
    offered = {key for s in plan.stages for key in kind_of(s).charts(s)}
    assert offered <= set(metrics.METRICS)  # every chart has a label and a description
    assert not offered & set(metrics.NOT_CHARTED)


def test_eval_results_reach_the_accuracy_table(tiny_run):
    _, run_dir = tiny_run
    state = _state(run_dir)
    log = [e for e in read_events(RunDir(run_dir).events) if e.kind == "eval"]
    assert {e["stage"] for e in log} == {"base", *(s.id for s in state.plan.stages)}
    for e in log:
        shown = state.stages[e["stage"]].evals[e["benchmark"]]
        assert shown.accuracy == e["accuracy"] and (shown.n, shown.k) == (e["n"], e["k"])
        assert shown.greedy == e["greedy_accuracy"] is not None


def test_done_markers_give_the_lineage_the_next_stage_starts_from(tiny_run):
    _, run_dir = tiny_run
    run = RunDir(run_dir)
    plan = load_plan(run.plan)
    student, teacher = run.root / "s0", run.root / "t0"
    held = run.lineage(plan, student, teacher)
    assert held == {"student": run.model_dir("student_rl"), "teacher": run.model_dir("teacher_rl")}
    before_opd = run.lineage(plan, student, teacher, before=2)
    assert before_opd["student"] == run.model_dir("warmup")
    for stage in plan.stages:
        record = run.read_done(stage.id)
        assert record is not None and record.status == "ok"
        assert (run.root / record.model_path / "config.json").is_file()
        assert record.spent and record.spent["tokens_generated"] > 0
    assert run.read_done("base") is not None
    assert set(KINDS) >= {s.kind for s in plan.stages}


def test_each_eval_keeps_samples_the_watch_screen_shows_and_reports_its_progress(tiny_run):
    from tui.widgets.samples_pane import read_samples

    _, run_dir = tiny_run
    run = RunDir(run_dir)
    log = read_events(run.events)
    evals = [e for e in log if e.kind == "eval"]
    for e in evals:
        rows = [
            r
            for r in read_samples(run.eval_samples(e["stage"]))
            if r["benchmark"] == e["benchmark"]
        ]
        assert 0 < len(rows) <= min(8, e["n"]), e["stage"]
        assert {r["verdict"] for r in rows} <= set(e["verdicts"])
        # the eval's progress came first, ending at every problem, as its own event kind
        done = [
            p
            for p in log
            if p.kind == "progress" and (p["stage"], p["benchmark"]) == (e["stage"], e["benchmark"])
        ]
        assert done and done[-1]["done"] == done[-1]["total"] == e["n"]
    assert _state(run_dir).stages["base"].status == "ok"
