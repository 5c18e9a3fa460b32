"""`s2d demo` end to end on the tiny toy zoo: plan, four runs in two lanes, the table."""

from __future__ import annotations

import pytest
import yaml

from s2d.cli import main


@pytest.mark.extended
def test_demo_plans_runs_every_arm_and_prints_the_table(tiny_zoo, tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--preset",
            "tiny",
            "--cache-dir",
            str(tiny_zoo.root.parent),
            "--no-tui",
            "--budget",
            "8",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    for setting in ("direct GRPO", "raw-teacher bridge", "RL-teacher bridge", "replay control"):
        assert setting in printed
    assert "demo wall time" in printed
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    rows = {r["key"]: r for r in summary["rows"]}
    assert set(rows) == {"direct", "raw_bridge", "rl_bridge", "full", "replay"}
    assert all(r["measured"] is not None for r in rows.values())
    assert (
        rows["raw_bridge"]["labels"] == 0 and rows["direct"]["labels"] == rows["full"]["labels"] > 0
    )
    for run in ("workflow", "direct", "raw_bridge", "replay"):
        assert (out / run / "events.jsonl").exists()
