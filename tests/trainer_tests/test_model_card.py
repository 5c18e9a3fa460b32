"""Every trained stage's model directory holds a Hugging Face model card (README.md).

Read from the session's finished tiny run (every stage kind); the resume cases work on copies
of it; one one-stage run watches the card the model is published with, before its eval.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from planner.contracts import RunDir, StageRecord, load_plan
from planner.contracts.plan import Plan, Prediction, StagePrediction
from planner.contracts.runlog import read_events
from tests import builders
from tests.trainer_tests.tiny_plan import TINY_PLAN
from trainer.executor import Executor, RunOptions
from trainer.integrity import model_damage
from trainer.model_card import model_card, write_model_card
from trainer.recovery import recover

PLAN = load_plan(TINY_PLAN)
TRAINED = ["teacher_rl", "warmup", "opd", "opd_s", "student_rl"]
KIND_TAG = {"grpo": "grpo", "forward_kl": "distillation", "opd": "on-policy-distillation"}
DATA = {"labels.stage1": "toy:train", "labels.stage3": "toy:train", "prompts": "toy:prompts"}


@pytest.fixture(autouse=True)
def _zoo_env(tiny_zoo, monkeypatch):
    monkeypatch.setenv("S2D_TOY_ZOO", str(tiny_zoo.root))
    torch.set_num_threads(1)


def _copy(tiny_run, tmp_path: Path) -> RunDir:
    """A copy of the session's finished run, so that it stays a run of one attempt."""
    run_dir = tmp_path / "tiny"
    shutil.copytree(tiny_run[1], run_dir, ignore=shutil.ignore_patterns(".lock"))
    return RunDir(run_dir)


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def _check_card(path: Path, plan: Plan, stage_id: str, record: StageRecord) -> ModelCard:
    """The card names the stage's base model, data and tags, and the accuracy DONE.json holds."""
    stage = plan.stage(stage_id)
    card = ModelCard.load(path)
    data = card.data
    ref = plan.student if stage.model == "student" else plan.teacher
    assert ref is not None
    assert data.base_model == ref.path
    assert data.library_name == "transformers" and data.pipeline_tag == "text-generation"
    assert {"sparse2dense", "trl", KIND_TAG[stage.kind]} <= set(data.tags)
    assert data.datasets == [DATA[str(stage.data)]]
    assert f"# {plan.name}: stage {stage_id}" in card.text
    assert "AutoModelForCausalLM.from_pretrained(path)" in card.text
    assert record.evals, stage_id
    results = {r.dataset_name: r for r in data.eval_results}
    for e in record.evals:
        line = (
            f"- `{e['benchmark']}`: {_percent(e['accuracy'])} ({e['n']} problems x {e['k']} samples"
        )
        assert line in card.text, stage_id
        assert results[e["benchmark"]].metric_value == e["accuracy"]
        assert results[e["benchmark"]].dataset_type == "toy:eval"
    return card


def test_every_trained_stage_has_a_card_with_its_measured_accuracy(tiny_run):
    status, run_dir = tiny_run
    assert status == "ok"
    run = RunDir(run_dir)
    for stage_id in TRAINED:
        record = run.read_done(stage_id)
        assert record is not None and record.model_path
        card = _check_card(run.root / record.model_path / "README.md", PLAN, stage_id, record)
        assert "not yet" not in card.text
        if PLAN.stage(stage_id).distils:
            assert "- Teacher: the model stage `teacher_rl` trained" in card.text
    assert not run.model_card("base").exists()


def test_the_card_starts_from_what_the_stage_started_from():
    text = model_card(PLAN, 2, [])  # opd: after the warmup, taught by the RL'd teacher
    assert "- Started from: the model stage `warmup` trained (`stages/warmup/model`)" in text
    assert "descends from the plan's student `toy-xs` (`toy:xs`)" in text
    assert "- Data: 32 unlabeled prompts" in text
    assert "- Budget: 2 steps x 2 prompts per step x 1 samples per prompt" in text
    first = model_card(PLAN, 0, [])
    assert "- Started from: the plan's teacher `toy-s` (`toy:s`)" in first
    assert "- Data: 16 labeled problems (`labels.stage1`) from `toy:train`" in first
    assert "Measured after this stage: none" in first


def test_the_card_carries_the_plans_prediction_and_band(tiny_run, tmp_path):
    plan = PLAN.with_prediction(
        Prediction(
            compute_unit="cpu_seconds",
            stages={"opd": StagePrediction(accuracy=0.41, low=0.35, high=0.475)},
            benchmark="toy",
            source="toy-profile",
        )
    )
    record = RunDir(tiny_run[1]).read_done("opd")
    assert record is not None
    path = write_model_card(tmp_path, plan, 2, record.evals)
    card = _check_card(path, plan, "opd", record)
    assert (
        "Predicted by the plan on `toy`: 41.00% (band 35.00% to 47.50%, calibration `toy-profile`)"
        in card.text
    )
    pending = ModelCard(model_card(plan, 2, None))
    assert "41.00%" in pending.text and "Measured after this stage: not yet" in pending.text
    assert not pending.data.eval_results
    assert "Predicted by the plan: none" in model_card(plan, 1, record.evals)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_the_card_is_written_with_the_users_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        path = write_model_card(tmp_path, PLAN, 1, [])
    finally:
        os.umask(old)
    assert path == tmp_path / "README.md"
    assert path.stat().st_mode & 0o777 == mode
    assert not list(tmp_path.glob(".README.md.*"))  # no temporary file left behind


ODD_CARDS = {
    "missing": None,
    "empty": b"",
    "not-utf8": b"---\nbase_model: caf\xe9\n---\n",
    "no-front-matter": b"# my notes\n",
    "front-matter-cut": b"---\nbase_model: [toy:xs\n",
    "front-matter-a-list": b"---\n- a\n---\n",
}


@pytest.mark.parametrize("odd", list(ODD_CARDS))
def test_recovery_never_sets_a_model_aside_for_its_card(odd, tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    card = run.model_card("warmup")
    if ODD_CARDS[odd] is None:
        card.unlink()
    else:
        card.write_bytes(ODD_CARDS[odd])
    run.done_marker("warmup").unlink()  # a crash before the marker: the model is checked too
    warnings: list[str] = []
    assert recover(run, PLAN, lambda stage, message: warnings.append(message)) == []
    assert warnings == [] and model_damage(run.model_dir("warmup")) is None
    assert not (run.root / RunDir.DAMAGED).exists()


def test_a_resumed_finished_stage_gets_its_card_back_and_keeps_a_good_one(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    run.model_card("warmup").unlink()  # a run from before cards
    run.model_card("opd").write_bytes(b"\xff\xfe garbage")
    kept = run.model_card("student_rl")
    kept.write_text(kept.read_text() + "\nNotes the user added.\n")
    before = len(read_events(run.events))

    assert Executor(PLAN, run.root, RunOptions(verifier_workers=1)).run() == "ok"

    new = read_events(run.events)[before:]
    assert [e.kind for e in new] == ["run_start", "run_end"]  # nothing redone
    for stage_id in ("warmup", "opd"):
        record = run.read_done(stage_id)
        assert record is not None
        _check_card(run.model_card(stage_id), PLAN, stage_id, record)
    assert kept.read_text().endswith("\nNotes the user added.\n")


def test_a_stage_evaluated_again_after_a_crash_gets_its_measured_accuracy(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    # The crash came after the model was published (its card holding the prediction only)
    # and before the eval finished.
    run.done_marker("student_rl").unlink()
    write_model_card(run.model_dir("student_rl"), PLAN, 4, None)

    assert Executor(PLAN, run.root, RunOptions(verifier_workers=1)).run() == "ok"

    record = run.read_done("student_rl")
    assert record is not None
    card = _check_card(run.model_card("student_rl"), PLAN, "student_rl", record)
    assert "not yet" not in card.text


class _Watching(Executor):
    """Records the model card as it is when the stage's eval starts."""

    seen: dict[str, str | None]

    def _evaluate(self, events, stage_id, role, model_path, *args, **kwargs):  # type: ignore[no-untyped-def]
        card = Path(model_path) / "README.md"
        self.seen[stage_id] = card.read_text() if card.is_file() else None
        return super()._evaluate(events, stage_id, role, model_path, *args, **kwargs)


def test_the_model_is_published_with_its_card_before_the_eval(tiny_zoo, tmp_path):
    plan = builders.plan(
        name="one-stage",
        stages=[builders.student_rl(steps=1, prompts=1, tokens=4)],
        evaluation={"max_problems": 2, "k": 1, "max_new_tokens": 4, "greedy": False},
    ).with_prediction(
        Prediction(stages={"student_rl": StagePrediction(0.3, 0.2, 0.4)}, benchmark="toy")
    )
    executor = _Watching(plan, tmp_path / "run", RunOptions(verifier_workers=1))
    executor.seen = {}
    assert executor.run() == "ok"

    at_eval = executor.seen["student_rl"]
    assert at_eval is not None, "the model was published without its card"
    assert "Measured after this stage: not yet" in at_eval and "30.00%" in at_eval
    assert not ModelCard(at_eval).data.eval_results
    run = RunDir(tmp_path / "run")
    record = run.read_done("student_rl")
    assert record is not None
    card = ModelCard.load(run.model_card("student_rl"))
    assert "30.00%" in card.text and "not yet" not in card.text
    (result,) = card.data.eval_results
    assert result.metric_value == record.evals[0]["accuracy"]
