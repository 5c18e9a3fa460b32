"""A run directory damaged after a crash never gets stuck: resume sets aside what it cannot use.

One finished run of the tiny plan (every stage kind, a checkpoint each step) is made once; each
case copies it, undoes part of it as a crash would (a stage that had not finished), damages one
file as a full disk, a cut copy or a hand edit would, and resumes. Resume must finish the run,
name the damaged file in a ``warning`` event, move it under ``damaged/`` (never delete it), and
redo exactly what the damaged file claimed: the stage, its eval, its rollouts, or the steps
since an older checkpoint.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.contracts import RunDir, load_plan
from planner.contracts.runlog import read_events
from tests.reliability_tests.test_bad_run_logs import BAD_LINES
from trainer.executor import Executor, RunOptions
from trainer.integrity import model_damage

PLAN = load_plan(Path(__file__).parents[1] / "trainer_tests" / "tiny_plan.yaml")
LATER = ["opd", "opd_s", "student_rl"]  # the stages after the warmup


@pytest.fixture(scope="module")
def finished(tiny_zoo, tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("damaged") / "run"
    status = Executor(PLAN, run, _options(tiny_zoo)).run()
    assert status == "ok"
    return run


def _options(zoo) -> RunOptions:
    return RunOptions(verifier_workers=1, toy_zoo=zoo.root, save_every=1)


def _copy(finished: Path, tmp_path: Path) -> RunDir:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    return RunDir(run)


def _unfinish(run: RunDir, *stages: str, checkpoints: bool = False) -> None:
    """As if the run had crashed before these stages finished."""
    for stage in stages:
        run.done_marker(stage).unlink()
        shutil.rmtree(run.model_dir(stage))
        if checkpoints:
            shutil.rmtree(run.checkpoints_dir(stage))


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _resume(run: RunDir, zoo) -> list:
    before = len(read_events(run.events))
    assert Executor(PLAN, run.root, _options(zoo)).run() == "ok"
    return read_events(run.events)[before:]


def _warnings(new: list) -> list[str]:
    return [e["message"] for e in new if e.kind == "warning"]


def _set_aside(run: RunDir) -> list[str]:
    root = run.root / RunDir.DAMAGED
    return sorted(
        str(Path(*p.relative_to(root).parts[1:])) for p in root.glob("*/**/*") if p.is_file()
    )


def _stage_start(new: list, stage: str):
    return next(e for e in new if e.kind == "stage_start" and e["stage"] == stage)


def _assert_finished(run: RunDir) -> None:
    for stage in ["base", "teacher_rl", "warmup", *LATER]:
        assert run.read_done(stage) is not None, stage
    assert not list((run.root / "stages").glob("*/*.staging"))


# -- the newest checkpoint --------------------------------------------------------------

CHECKPOINT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "weights-truncated": lambda c: _truncate(c / "model.safetensors"),
    "weights-missing": lambda c: (c / "model.safetensors").unlink(),
    "optimizer-truncated": lambda c: _truncate(c / "optimizer.pt"),
    "scheduler-empty": lambda c: _truncate(c / "scheduler.pt", keep=0),
    "trainer-state-truncated": lambda c: _truncate(c / "trainer_state.json"),
    "rng-state-truncated": lambda c: _truncate(c / "rng_state.pth", keep=0.9),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_stage_starts_over(
    damage, finished, tiny_zoo, tmp_path
):
    run = _copy(finished, tmp_path)
    _unfinish(run, "student_rl")
    ckpt = run.checkpoints_dir("student_rl") / "checkpoint-2"
    CHECKPOINT_DAMAGE[damage](ckpt)

    new = _resume(run, tiny_zoo)

    assert any("stages/student_rl/checkpoints/checkpoint-2" in w for w in _warnings(new))
    assert _stage_start(new, "student_rl")["resumed_from"] is None
    assert any(p.startswith("stages/student_rl/checkpoints/checkpoint-2/") for p in _set_aside(run))
    steps = [e["step"] for e in new if e.kind == "metrics" and e["stage"] == "student_rl"]
    assert steps and min(steps) == 1 and max(steps) == 2  # both steps trained again
    _assert_finished(run)


def test_resume_falls_back_to_the_newest_whole_checkpoint(finished, tiny_zoo, tmp_path):
    run = _copy(finished, tmp_path)
    _unfinish(run, "student_rl")
    ckpts = run.checkpoints_dir("student_rl")
    older = ckpts / "checkpoint-1"
    shutil.copytree(ckpts / "checkpoint-2", older)
    state = json.loads((older / "trainer_state.json").read_text())
    state["global_step"] = 1
    state["log_history"] = state["log_history"][:1]
    (older / "trainer_state.json").write_text(json.dumps(state))
    _truncate(ckpts / "checkpoint-2" / "model.safetensors")

    new = _resume(run, tiny_zoo)

    assert _stage_start(new, "student_rl")["resumed_from"] == (
        "stages/student_rl/checkpoints/checkpoint-1"
    )
    steps = [e["step"] for e in new if e.kind == "metrics" and e["stage"] == "student_rl"]
    assert steps and min(steps) == 2  # only the step after checkpoint-1 is trained again
    assert "stages/student_rl/checkpoints/checkpoint-2/model.safetensors" in _set_aside(run)
    _assert_finished(run)


# -- a finished stage's model -----------------------------------------------------------

MODEL_DAMAGE: dict[str, Callable[[RunDir], None]] = {
    "model-dir-missing": lambda r: shutil.rmtree(r.model_dir("warmup")),
    "weights-truncated": lambda r: _truncate(r.model_dir("warmup") / "model.safetensors"),
    "config-truncated": lambda r: _truncate(r.model_dir("warmup") / "config.json"),
    "no-weights": lambda r: (r.model_dir("warmup") / "model.safetensors").unlink(),
}


@pytest.mark.parametrize("damage", list(MODEL_DAMAGE))
def test_a_finished_stage_whose_model_is_damaged_is_finished_again(
    damage, finished, tiny_zoo, tmp_path
):
    run = _copy(finished, tmp_path)
    _unfinish(run, *LATER)  # the crash came during OPD, which starts from the warmup's model
    MODEL_DAMAGE[damage](run)

    new = _resume(run, tiny_zoo)

    assert any("warmup" in w and "not whole" in w for w in _warnings(new))
    assert "stages/warmup/DONE.json" in _set_aside(run)
    # The warmup resumed from its last checkpoint (its final step), so only the save is redone.
    assert _stage_start(new, "warmup")["resumed_from"] == "stages/warmup/checkpoints/checkpoint-2"
    assert [e["stage"] for e in new if e.kind == "stage_end"] == ["warmup", *LATER]
    assert model_damage(run.model_dir("warmup")) is None
    _assert_finished(run)


# -- DONE markers -----------------------------------------------------------------------

DONE_DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "empty": lambda p: p.write_text(""),
    "a-list": lambda p: p.write_text("[]"),
    "spent-is-text": lambda p: p.write_text(
        json.dumps({**json.loads(p.read_text()), "spent": "lots"})
    ),
    "spent-holds-text": lambda p: p.write_text(
        json.dumps({**json.loads(p.read_text()), "spent": {"gpu_hours": "lots"}})
    ),
    "not-utf8": lambda p: p.write_bytes(b'{"stage": "caf\xe9"}'),
}


@pytest.mark.parametrize("damage", list(DONE_DAMAGE))
def test_a_damaged_done_marker_is_set_aside_and_only_what_it_claimed_is_redone(
    damage, finished, tiny_zoo, tmp_path
):
    run = _copy(finished, tmp_path)
    model = (run.model_dir("warmup") / "model.safetensors").read_bytes()
    DONE_DAMAGE[damage](run.done_marker("warmup"))

    new = _resume(run, tiny_zoo)

    assert any("stages/warmup/DONE.json is damaged" in w for w in _warnings(new))
    assert "stages/warmup/DONE.json" in _set_aside(run)
    # The model is whole: the stage is not trained again, only evaluated and marked done.
    assert not [e for e in new if e.kind == "metrics" and e["stage"] == "warmup"]
    assert [e["stage"] for e in new if e.kind == "stage_end"] == ["warmup"]
    assert any(e.kind == "eval" and e["stage"] == "warmup" for e in new)
    assert (run.model_dir("warmup") / "model.safetensors").read_bytes() == model
    _assert_finished(run)


def test_a_damaged_base_eval_marker_redoes_the_base_eval(finished, tiny_zoo, tmp_path):
    run = _copy(finished, tmp_path)
    _truncate(run.done_marker("base"))

    new = _resume(run, tiny_zoo)

    assert "stages/base/DONE.json" in _set_aside(run)
    assert {e["stage"] for e in new if e.kind == "eval"} == {"base"}
    _assert_finished(run)


# -- the warmup's teacher rollouts ------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


ROLLOUT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "half-a-last-line": lambda p: p.write_text("".join(_lines(p))[:-40]),
    "a-garbage-line-inside": lambda p: p.write_text(
        _lines(p)[0] + "{not json\n" + "".join(_lines(p)[2:])
    ),
    "rows-missing": lambda p: p.write_text("".join(_lines(p)[:-2])),
    "a-row-without-token-ids": lambda p: p.write_text(
        json.dumps({"prompt_id": "x", "completion": "1"}) + "\n" + "".join(_lines(p)[1:])
    ),
    "not-utf8": lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()),
    "rows-for-other-prompts": lambda p: p.write_text(
        "".join(
            json.dumps({**json.loads(line), "prompt_id": f"other-{i}"}) + "\n"
            for i, line in enumerate(_lines(p))
        )
    ),
}


@pytest.mark.parametrize("damage", list(ROLLOUT_DAMAGE))
def test_damaged_teacher_rollouts_are_set_aside_and_sampled_again(
    damage, finished, tiny_zoo, tmp_path
):
    run = _copy(finished, tmp_path)
    _unfinish(run, "warmup", *LATER, checkpoints=True)
    rollouts = run.teacher_rollouts("warmup")
    whole = len(_lines(rollouts))
    ROLLOUT_DAMAGE[damage](rollouts)

    new = _resume(run, tiny_zoo)

    assert any("teacher_rollouts.jsonl is damaged" in w for w in _warnings(new))
    assert "artifacts/warmup/teacher_rollouts.jsonl" in _set_aside(run)
    assert len(_lines(rollouts)) == whole  # sampled again, whole
    assert _stage_start(new, "warmup")["resumed_from"] is None
    _assert_finished(run)


# -- the run log ------------------------------------------------------------------------


def test_wrong_typed_lines_in_the_run_log_do_not_stop_a_resume(finished, tiny_zoo, tmp_path):
    run = _copy(finished, tmp_path)
    _unfinish(run, "student_rl")
    shutil.rmtree(run.checkpoints_dir("student_rl"))
    last = read_events(run.events)[-1].seq
    with open(run.events, "a") as f:
        for fields in BAD_LINES.values():
            fields = {**fields, "stage": "student_rl"} if "stage" in fields else fields
            f.write(json.dumps({"v": 1, "seq": last + 1, "t": 1.0, **fields}) + "\n")

    new = _resume(run, tiny_zoo)

    assert new[0].kind == "run_start"
    seqs = [e.seq for e in new]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] > last
    assert new[-1].kind == "run_end" and new[-1]["status"] == "ok"
    end = next(e for e in new if e.kind == "stage_end" and e["stage"] == "student_rl")
    assert all(isinstance(v, (int, float)) for v in end["spent"].values())
    _assert_finished(run)


def test_a_diverged_stage_writes_a_done_marker_its_reader_accepts(tmp_path):
    from planner.contracts import StageRecord

    run = RunDir(tmp_path)
    run.write_done(StageRecord(stage="warmup", metrics={"final_loss": float("nan")}))
    assert run.read_done("warmup").metrics == {"final_loss": None}  # not "damaged"
