"""Snapshots of the main screens at 120x40; update with ``pytest --snapshot-update`` after a deliberate change."""

from __future__ import annotations

from pathlib import Path

from tests.tui_tests.fixtures.toy_run import TOY_RUN, TOY_RUN_ERROR
from tests.tui_tests.pilot import SIZE, wait_for_text
from tui.watch_app import make_app


def test_watch_finished_run(snap_compare):
    async def loaded(pilot):
        await wait_for_text(pilot, "✔ finished", "run ended: ok")

    assert snap_compare(make_app(TOY_RUN, follow=False), terminal_size=SIZE, run_before=loaded)


def test_watch_selected_stage_and_kl_chart(snap_compare):
    async def loaded(pilot):
        await wait_for_text(pilot, "✔ finished", "run ended: ok")

    assert snap_compare(
        make_app(TOY_RUN, follow=False), press=["left", "c"], terminal_size=SIZE, run_before=loaded
    )


def test_watch_run_ending_in_error(snap_compare):
    async def loaded(pilot):
        await wait_for_text(pilot, "✖ failed", "run ended: error")

    assert snap_compare(
        make_app(TOY_RUN_ERROR, follow=False), terminal_size=SIZE, run_before=loaded
    )


def test_watch_waiting_for_a_run(snap_compare):
    async def loaded(pilot):
        await wait_for_text(pilot, "Waiting for runs/not-started-yet to be created")

    assert snap_compare(
        make_app("runs/not-started-yet", poll_interval_s=0.05),
        terminal_size=SIZE,
        run_before=loaded,
    )


# A run the real planner chose and the real executor ran (tests/tui_tests/fixtures/real_run.py),
# at the smallest terminal it must stay usable in and at a large one.
REAL_RUN = Path(__file__).parent / "fixtures" / "real_run"


def test_watch_real_run_at_80x24(snap_compare):
    async def loaded(pilot):
        await wait_for_text(pilot, "✔ finished", "run ended: ok", "meas ±95%")

    assert snap_compare(make_app(REAL_RUN, follow=False), terminal_size=(80, 24), run_before=loaded)


def test_watch_real_run_at_160x45(snap_compare):
    async def loaded(pilot):
        await wait_for_text(pilot, "✔ finished", "run ended: ok", "n×k", "g Samples")

    assert snap_compare(
        make_app(REAL_RUN, follow=False), terminal_size=(160, 45), run_before=loaded
    )


def test_watch_real_run_eval_samples_at_160x45(snap_compare):
    async def loaded(pilot):
        await wait_for_text(pilot, "✔ finished", "run ended: ok")

    assert snap_compare(
        make_app(REAL_RUN, follow=False), press=["g"], terminal_size=(160, 45), run_before=loaded
    )
