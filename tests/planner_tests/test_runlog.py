"""The run-log contract: writer, reader, and following a growing file."""

from __future__ import annotations

import json

import pytest

from planner.contracts.runlog import EventTail, EventWriter, Spend, read_events


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        w.emit("run_start", plan="toy")
        w.emit("stage_start", stage="a", stage_kind="grpo", planned=Spend(labels=200))
        w.emit(
            "metrics",
            stage="a",
            step=1,
            total_steps=2,
            values={"loss": 0.5, "kl": float("nan")},
            spent=Spend(tokens_generated=64),
        )
        w.emit("eval", stage="a", benchmark="toy-eval", accuracy=0.25, n=100, k=4)
        w.emit("stage_end", stage="a", status="ok", spent=Spend(wall_seconds=1.5))
        w.emit("run_end", status="ok")
    events = read_events(path)
    assert [e.kind for e in events] == [
        "run_start",
        "stage_start",
        "metrics",
        "eval",
        "stage_end",
        "run_end",
    ]
    assert [e.seq for e in events] == list(range(6))
    assert events[1]["planned"]["labels"] == 200
    assert events[2]["values"] == {"loss": 0.5, "kl": None}  # NaN is not JSON: written as null
    assert Spend.from_dict(events[4]["spent"]).wall_seconds == 1.5
    for line in path.read_text().splitlines():
        assert json.loads(line)["v"] == 1


def test_writer_refuses_malformed_events(tmp_path):
    with EventWriter(tmp_path / "e.jsonl") as w:
        with pytest.raises(ValueError, match="unknown event kind"):
            w.emit("party")
        with pytest.raises(ValueError, match="lacks step, values"):
            w.emit("metrics", stage="a")


def test_half_written_last_line_is_held_back_then_read(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        w.emit("run_start", plan="toy")
    tail = EventTail(path)
    assert [e.kind for e in tail.poll()] == ["run_start"]
    line = json.dumps({"v": 1, "seq": 1, "t": 0.0, "kind": "warning", "message": "hot"}) + "\n"
    with open(path, "a") as f:
        f.write(line[:10])
    assert tail.poll() == [] and tail.has_partial_line
    with open(path, "a") as f:
        f.write(line[10:])
    assert [e["message"] for e in tail.poll()] == ["hot"]
    assert tail.skipped == 0


def test_resume_after_crash_mid_line_continues_sequence(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        w.emit("run_start", plan="toy")
        w.emit("stage_start", stage="a", stage_kind="opd")
    with open(path, "a") as f:
        f.write('{"v":1,"seq":2,"t":1,"kind":"metr')  # killed mid-write
    with EventWriter(path) as w:
        assert w.emit("run_start", plan="toy", resumed=True).seq == 2
    events = read_events(path)
    assert [e.seq for e in events] == [0, 1, 2]
    tail = EventTail(path)
    tail.poll()
    assert tail.skipped == 1  # the torn line, now terminated, is skipped, not fatal


def test_bad_lines_are_skipped_and_described(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        'not json\n{"v":1,"seq":0,"t":0,"kind":"nope"}\n{"v":99,"seq":1,"t":0,"kind":"run_end","status":"ok"}\n{"v":1,"seq":2,"t":0,"kind":"run_end","status":"ok"}\n'
    )
    tail = EventTail(path)
    assert [e.seq for e in tail.poll()] == [2]
    assert tail.skipped == 3
    assert any("newer than this reader" in p for p in tail.problems)


def test_tail_of_missing_file_then_growing_file(tmp_path):
    path = tmp_path / "later" / "events.jsonl"
    tail = EventTail(path)
    assert tail.poll() == []
    with EventWriter(path) as w:
        w.emit("run_start", plan="toy")
        assert len(tail.poll()) == 1
        for step in range(5):
            w.emit("metrics", stage="a", step=step, values={"loss": 1.0 / (step + 1)})
        assert [e["step"] for e in tail.poll()] == [0, 1, 2, 3, 4]
        assert tail.poll() == []


def test_spend_adds_field_by_field():
    total = Spend(tokens_generated=10, cpu_seconds=1.5, labels=3) + Spend(
        tokens_generated=5, cpu_seconds=0.5
    )
    assert total == Spend(tokens_generated=15, cpu_seconds=2.0, labels=3)
    assert Spend.from_dict({"labels": 4, "future_field": 1}) == Spend(labels=4)
