"""``s2d watch`` from the command line: clear messages for bad paths, and --screenshot."""

from __future__ import annotations

from s2d.cli import main
from tests.tui_tests.fixtures.toy_run import TOY_RUN


def test_missing_run_dir_without_follow_is_a_clear_error(tmp_path, capsys):
    assert main(["watch", str(tmp_path / "nope"), "--no-follow"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_a_directory_that_is_not_a_run_shows_the_runs_inside(tmp_path, capsys):
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "events.jsonl").write_text("")
    (tmp_path / "runs" / "README").write_text("x")
    shot = tmp_path / "runs.svg"
    assert main(["watch", str(tmp_path / "runs"), "--screenshot", str(shot)]) == 0
    assert "1&#160;runs" in shot.read_text()  # one run, side by side with none
    (tmp_path / "runs" / "a" / "events.jsonl").unlink()
    assert main(["watch", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "is not a run directory and holds none" in err


def test_screenshot_writes_the_screen_as_svg(tmp_path, capsys):
    shot = tmp_path / "run.svg"
    assert (
        main(
            ["watch", str(TOY_RUN / "events.jsonl"), "--screenshot", str(shot), "--size", "120x40"]
        )
        == 0
    )
    svg = shot.read_text()
    assert svg.startswith("<svg") and "teacher_rl" in svg and "finished" in svg


def test_bad_screenshot_name_and_size_are_refused(tmp_path, capsys):
    assert main(["watch", str(TOY_RUN), "--screenshot", str(tmp_path / "x.png")]) == 2
    assert (
        main(["watch", str(TOY_RUN), "--screenshot", str(tmp_path / "x.svg"), "--size", "big"]) == 2
    )
    err = capsys.readouterr().err
    assert ".svg" in err and "WIDTHxHEIGHT" in err
