"""A disk that fills up costs one clear message and exit 2, a whole run log, and a clean resume.

The run directory lives on a real tmpfs mounted with a size limit (root and mount are needed;
the test is skipped, saying so, where they are not), so every write meets a real ENOSPC: the
event writer's own lines, transformers' checkpoint files, safetensors' weights.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from planner.contracts.runlog import EventWriter, read_events
from tests import builders
from tests.reliability_tests.fs_snapshot import mount_tmpfs


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 256 KiB; ``grow(size)`` remounts it larger (as freeing space would)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    unmount = mount_tmpfs(mount, "size=256k")

    def grow(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        unmount()


def _fill(folder: Path, leave: int) -> None:
    """Fill the filesystem of ``folder`` until ``leave`` bytes are free."""
    st = os.statvfs(folder)
    (folder / "ballast").write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


def test_the_event_writer_never_leaves_half_an_event_on_a_full_disk(small_disk):
    disk, grow = small_disk
    path = disk / "events.jsonl"
    _fill(disk, leave=8192)
    writer = EventWriter(path)
    written = 0
    with pytest.raises(OSError) as raised:
        for i in range(10_000):
            writer.emit("warning", message=f"event {i} " + "x" * 300)
            written += 1
    assert raised.value.errno == errno.ENOSPC
    text = path.read_text()
    assert text.endswith("\n") and len(read_events(path)) == written == text.count("\n")
    writer.close()
    grow("4m")
    with EventWriter(path) as again:
        assert again.emit("warning", message="after").seq == written


def test_a_run_that_fills_its_disk_stops_with_one_message_and_resumes(small_disk, cli, zoo_env):
    disk, grow = small_disk
    plan = builders.write_plan(disk.parent / "plan.yaml", name="full")
    run = disk / "run"

    result = cli("run", str(plan), "--run-dir", str(run), "--save-every", "1", "--quiet")

    assert result.code == 2, result.err
    assert result.err.startswith("s2d run: error: the disk holding") and "is full" in result.err
    assert "Traceback" not in result.err + result.out
    text = run.joinpath("events.jsonl").read_text()
    assert text.endswith("\n") and len(read_events(run / "events.jsonl")) == text.count("\n")
    ends = [e for e in read_events(run / "events.jsonl") if e.kind == "run_end"]
    assert all(e["status"] == "error" for e in ends)  # when it fits: never "interrupted"

    grow("16m")
    result = cli("run", str(plan), "--run-dir", str(run), "--save-every", "1", "--quiet")

    assert result.code == 0, result.err
    events = read_events(run / "events.jsonl")
    assert events[-1].kind == "run_end" and events[-1]["status"] == "ok"
