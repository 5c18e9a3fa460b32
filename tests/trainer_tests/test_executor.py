"""The executor end to end on the tiny toy zoo: every stage kind, resume, refusals, crash safety."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from planner.contracts import RunDir, StageRecord
from planner.contracts.errors import UserError
from planner.contracts.plan import dump_plan, load_plan, save_plan
from planner.contracts.runlog import read_events
from tests.trainer_tests.long_run import s2d_run, start_long_warmup
from tests.trainer_tests.tiny_plan import TINY_PLAN, tiny_plan
from trainer.executor import Executor, RunOptions
from trainer.run_guard import RunLock


@pytest.fixture(autouse=True)
def _zoo_env(tiny_zoo, monkeypatch):
    monkeypatch.setenv("S2D_TOY_ZOO", str(tiny_zoo.root))
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def finished_run(tiny_run):
    return tiny_run


def test_the_tiny_plan_file_is_the_builders_plan():
    assert TINY_PLAN.read_text() == dump_plan(tiny_plan()), (
        "tests/trainer_tests/tiny_plan.yaml is stale: run python -m tests.trainer_tests.tiny_plan"
    )


def test_every_stage_kind_runs_and_is_logged(finished_run):
    status, run_dir = finished_run
    assert status == "ok"
    events = read_events(run_dir / "events.jsonl")
    kinds = Counter(e.kind for e in events)
    assert kinds["run_start"] == 1 and kinds["run_end"] == 1
    ends = [e for e in events if e.kind == "stage_end"]
    assert [e["stage"] for e in ends] == ["teacher_rl", "warmup", "opd", "opd_s", "student_rl"]
    evals = [(e["stage"], e["model"]) for e in events if e.kind == "eval"]
    assert evals[0] == ("base", "student") and evals[1] == ("teacher_rl", "teacher")
    assert len(evals) == 6  # base + after each training stage
    by_stage = {e["stage"]: e["spent"] for e in ends}
    assert by_stage["teacher_rl"]["labels"] == 16 and by_stage["warmup"]["labels"] == 0
    assert (
        by_stage["warmup"]["teacher_tokens_scored"] > 0
        and by_stage["teacher_rl"]["teacher_tokens_scored"] == 0
    )
    assert all(s["tokens_generated"] > 0 and s["wall_seconds"] > 0 for s in by_stage.values())
    assert (run_dir / "artifacts" / "warmup" / "teacher_rollouts.jsonl").exists()


STARTS_FROM = {"warmup": "base", "opd": "warmup", "opd_s": "opd"}  # the distillation stages


def test_each_eval_is_the_verifiers_verdicts_on_the_model_that_stage_saved(finished_run, tiny_zoo):
    from trainer.data import load_problems
    from trainer.stages.evaluate import evaluate_model
    from trainer.verifier import Verifier

    _, run_dir = finished_run
    plan = load_plan(TINY_PLAN)
    options = plan.evaluation
    eval_set = load_problems(tiny_zoo.data["eval"])
    assert len(eval_set) > options.max_problems  # so the plan's cap decides n
    evals = {e["stage"]: e for e in read_events(run_dir / "events.jsonl") if e.kind == "eval"}
    models = {"base": tiny_zoo.model_dir("xs")}
    models |= {s.id: run_dir / "stages" / s.id / "model" for s in plan.stages}
    with Verifier(workers=1) as verifier:
        for stage, e in evals.items():
            n, k = e["n"], e["k"]
            assert (e["benchmark"], n, k) == ("toy", options.max_problems, options.k)
            assert sum(e["verdicts"].values()) == n * k
            assert e["accuracy"] == pytest.approx(e["verdicts"]["correct"] / (n * k))
            assert e["greedy_accuracy"] * n == pytest.approx(round(e["greedy_accuracy"] * n))
            (again,) = evaluate_model(
                models[stage], {"toy": eval_set}, options, verifier, seed=plan.seed
            )
            logged = (e["accuracy"], e["greedy_accuracy"], e["verdicts"], e["tokens_generated"])
            assert logged == (
                pytest.approx(again.accuracy),
                pytest.approx(again.greedy_accuracy),
                again.verdicts,
                again.tokens_generated,
            ), stage
    # each distillation stage changed what its student answers, so an eval of the model it
    # started from would have shown up above
    for stage, start in STARTS_FROM.items():
        before, after = evals[start], evals[stage]
        assert (after["verdicts"], after["tokens_generated"]) != (
            before["verdicts"],
            before["tokens_generated"],
        ), stage


def test_distillation_moves_the_weights_it_started_from(finished_run, tiny_zoo):
    from safetensors.torch import load_file

    _, run_dir = finished_run

    def weights(model_dir: Path) -> dict[str, torch.Tensor]:
        return load_file(str(model_dir / "model.safetensors"))

    models = {"base": tiny_zoo.model_dir("xs")}
    models |= {s: run_dir / "stages" / s / "model" for s in STARTS_FROM}
    for stage, start in STARTS_FROM.items():
        a, b = weights(models[stage]), weights(models[start])
        assert a.keys() == b.keys()
        moved = max(float((a[k] - b[k]).abs().max()) for k in a)
        assert moved > 1e-3, stage  # Adam moves each weight about lr per step


def test_checkpoints_are_complete_save_pretrained_dirs(finished_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, run_dir = finished_run
    for stage in ["teacher_rl", "warmup", "opd", "opd_s", "student_rl"]:
        done = json.loads((run_dir / "stages" / stage / "DONE.json").read_text())
        model_dir = run_dir / done["model_path"]
        AutoModelForCausalLM.from_pretrained(model_dir)
        assert AutoTokenizer.from_pretrained(model_dir).chat_template
        assert not list((run_dir / "stages" / stage).glob("*.staging"))
    assert not list(run_dir.rglob("*.tmp"))


def test_rerun_resumes_and_skips_finished_stages(finished_run, tmp_path):
    # A copy: the session's tiny run stays a run of one attempt, for the tests that read it.
    run_dir = tmp_path / "tiny"
    shutil.copytree(finished_run[1], run_dir, ignore=shutil.ignore_patterns(".lock"))
    before = read_events(run_dir / "events.jsonl")
    assert Executor(load_plan(TINY_PLAN), run_dir, RunOptions(verifier_workers=1)).run() == "ok"
    new = read_events(run_dir / "events.jsonl")[len(before) :]
    assert [e.kind for e in new] == ["run_start", "run_end"]
    assert new[0]["resumed"] is True and new[0].seq == before[-1].seq + 1


def test_a_different_plan_in_the_same_run_dir_is_refused(finished_run):
    _, run_dir = finished_run
    plan = load_plan(TINY_PLAN)
    plan.stages[1].budget.steps = 3
    with pytest.raises(
        UserError,
        match=r"already holds a different plan \(stages\[1\]\.budget\.steps: 2 in the run, 3 given\)",
    ):
        Executor(plan, run_dir).run()


def test_a_live_writer_holds_the_lock(tmp_path):
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        with pytest.raises(UserError, match=rf"another live `s2d run` \(pid {os.getpid()}\)"):
            Executor(load_plan(TINY_PLAN), tmp_path).run()
    finally:
        lock.release()


def test_teacher_with_other_tokens_is_refused_before_loading(tiny_zoo, tmp_path):
    from trainer.models import check_compatible

    other = tmp_path / "teacher"
    shutil.copytree(tiny_zoo.model_dir("s"), other)
    tok = json.loads((other / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = "7", "8"
    vocab[a], vocab[b] = vocab[b], vocab[a]  # same size, two tokens swapped
    (other / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(UserError, match=r"token tables differ at 2 id\(s\)"):
        check_compatible(other, tiny_zoo.model_dir("xs"))
    config = json.loads((other / "config.json").read_text())
    config["vocab_size"] += 5
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="vocabulary sizes differ"):
        check_compatible(other, tiny_zoo.model_dir("xs"))


def test_missing_model_directory_is_a_clear_error(tmp_path):
    from trainer.models import resolve_model_path

    with pytest.raises(UserError, match="does not exist"):
        resolve_model_path(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        resolve_model_path("Qwen/Qwen3-NotThere")


@pytest.mark.extended  # about 40 s: the second tier, beside the SIGKILL-at-four-points test
def test_sigkill_mid_stage_then_resume_finishes_without_rerunning_stages(tiny_zoo, tmp_path):
    plan = load_plan(TINY_PLAN)
    # the warmup: long enough to be killed in the middle, polled often enough to catch it (12
    # steps took 0.5 s on a fast CPU: the stage had ended before a 0.2 s poll saw step 4)
    plan.stages[1].budget.steps = 200
    plan_path = save_plan(plan, tmp_path / "plan.yaml")
    run_dir = tmp_path / "run"
    env = {**os.environ, "S2D_TOY_ZOO": str(tiny_zoo.root), "OMP_NUM_THREADS": "1"}
    proc = s2d_run(str(plan_path), "--run-dir", str(run_dir), "--save-every", "2", env=env)
    events_path = run_dir / "events.jsonl"
    deadline = time.monotonic() + 240
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        if events_path.exists() and any(
            e.kind == "checkpoint" and e["stage"] == "warmup" and e["step"] >= 4
            for e in read_events(events_path)
        ):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert killed, proc.stdout.read() if proc.stdout else ""
    out = subprocess.run(
        [sys.executable, "-m", "s2d", "run", str(plan_path), "--run-dir", str(run_dir), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    events = read_events(events_path)
    ends = Counter(e["stage"] for e in events if e.kind == "stage_end")
    assert all(n == 1 for n in ends.values()) and len(ends) == 5
    restarts = [e for e in events if e.kind == "stage_start" and e["stage"] == "warmup"]
    second = next(i for i, e in enumerate(events) if e.kind == "run_start" and e["resumed"])
    before = [e for e in events[:second] if e.kind == "stage_end" and e["stage"] == "warmup"]
    assert len(restarts) == 2 and not before  # killed mid-stage
    assert restarts[1]["resumed_from"].startswith("stages/warmup/checkpoints/checkpoint-")
    assert events[-1].kind == "run_end" and events[-1]["status"] == "ok"
    assert "teacher_rl" not in [e["stage"] for e in events if e.kind == "stage_start"][1:]


@pytest.mark.extended  # about 40 s: the second tier
def test_sigint_stops_at_a_step_boundary_with_a_checkpoint_then_resumes(tiny_zoo, tmp_path):
    proc, plan_path, run_dir, env = start_long_warmup(tiny_zoo, tmp_path)
    events_path = run_dir / "events.jsonl"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, proc.stdout.read() if proc.stdout else ""
    events = read_events(events_path)
    assert events[-1].kind == "run_end" and events[-1]["status"] == "interrupted"
    saved = [e for e in events if e.kind == "checkpoint" and e["stage"] == "warmup"]
    assert saved and saved[-1]["step"] < 40  # written at the boundary, not on the 50-step schedule
    assert not (run_dir / "stages" / "warmup" / "DONE.json").exists()
    out = subprocess.run(
        [sys.executable, "-m", "s2d", "run", str(plan_path), "--run-dir", str(run_dir), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    resumed = [e for e in read_events(events_path) if e.kind == "stage_start"][-1]
    assert resumed["stage"] == "warmup" and resumed["resumed_from"] == saved[-1]["path"]


@pytest.mark.slow
def test_accelerate_launcher_runs_a_stage_in_worker_processes(tiny_zoo, tmp_path):
    plan = load_plan(TINY_PLAN)
    plan.stages = plan.stages[:1]
    plan.eval_after_each_stage = False
    plan_path = save_plan(plan, tmp_path / "plan.yaml")
    run_dir = tmp_path / "run"
    config = Path(__file__).parents[2] / "examples" / "accelerate" / "cpu_single.yaml"
    # The zoo is given only as --toy-zoo: each rank must get it from the parent, as no
    # environment variable or built default zoo would lead it there.
    env = {k: v for k, v in os.environ.items() if k != "S2D_TOY_ZOO"}
    env.update(OMP_NUM_THREADS="1", S2D_HOME=str(tmp_path / "empty-home"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "s2d",
            "run",
            str(plan_path),
            "--run-dir",
            str(run_dir),
            "--quiet",
            "--launcher",
            "accelerate",
            "--accelerate-config",
            str(config),
            "--toy-zoo",
            str(tiny_zoo.root),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    events = read_events(run_dir / "events.jsonl")
    metrics = [e for e in events if e.kind == "metrics" and e["stage"] == "teacher_rl"]
    assert [m["step"] for m in metrics] == [1, 2]  # relayed from the worker, in order
    end = next(e for e in events if e.kind == "stage_end")
    assert end["spent"]["tokens_generated"] > 0 and end["spent"]["labels"] == 16
    assert (run_dir / "stages" / "teacher_rl" / "model" / "config.json").exists()


def test_dry_run_checks_without_weights(tiny_zoo, tmp_path, capsys):
    from s2d.cli import main

    assert main(["run", "--dry-run", str(TINY_PLAN), "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "share vocabulary, special tokens and chat template" in out
    assert "stage-1 labels 16, stage-3 labels 16, prompts 32" in out
    assert not (tmp_path / "r").exists()
    real = Path(__file__).parents[2] / "examples" / "qwen3_math_plan.yaml"
    assert main(["run", "--dry-run", str(real)]) == 2  # listed, all of it, then refused
    captured = capsys.readouterr()
    assert "student: not on this machine" in captured.out
    assert "data: not on this machine" in captured.out
    assert "cannot start on this machine: it lacks the student model" in captured.err
    assert "the teacher model" in captured.err and "data (" in captured.err


def test_vllm_without_the_extra_is_a_clear_error(tmp_path, capsys):
    from s2d.cli import main

    plan = load_plan(TINY_PLAN)
    plan.rollout.engine = "vllm"
    path = save_plan(plan, tmp_path / "plan.yaml")
    assert main(["run", str(path), "--run-dir", str(tmp_path / "r")]) == 2
    assert "vllm is not installed" in capsys.readouterr().err


def test_planned_spend_counts_token_ceilings_per_stage_kind():
    from planner.contracts import kind_of

    plan = load_plan(Path(__file__).parents[2] / "examples" / "toy_plan.yaml")
    rl = kind_of(plan.stage("teacher_rl")).planned_spend(plan, plan.stage("teacher_rl"), 200)
    assert (
        rl.tokens_generated == rl.tokens_trained == 60 * 16 * 8 * 40
        and rl.teacher_tokens_scored == 0
        and rl.labels == 200
    )
    warmup = kind_of(plan.stage("warmup")).planned_spend(plan, plan.stage("warmup"), 0)
    assert warmup.tokens_generated == 2000 * 1 * 40  # the prompt pool bounds the rollouts
    assert warmup.tokens_trained == warmup.teacher_tokens_scored == 150 * 64 * 40
    opd = kind_of(plan.stage("opd")).planned_spend(plan, plan.stage("opd"), 0)
    assert opd.tokens_generated == opd.teacher_tokens_scored == 60 * 32 * 40


def test_the_extraction_rule_is_the_plans_and_part_of_its_identity(tmp_path):
    from tests import builders
    from trainer.run_guard import check_same_plan, freeze_plan

    paper = builders.plan()
    all_boxed = builders.plan(verifier={"extraction": "all_boxed"})
    with Executor(paper, tmp_path).verifier() as verifier:
        assert verifier.extraction == "last_boxed"
    with Executor(all_boxed, tmp_path).verifier() as verifier:
        assert verifier.extraction == "all_boxed"
    freeze_plan(tmp_path, paper)
    RunDir(tmp_path).write_done(StageRecord(stage="teacher_rl"))  # work done under that plan
    with pytest.raises(
        UserError, match="verifier.extraction: 'last_boxed' in the run, 'all_boxed' given"
    ):
        check_same_plan(tmp_path, all_boxed)


class _StopAt:
    """A reporter that asks the executor to stop (as Ctrl-C does) once ``stage`` reaches ``step``."""

    def __init__(self, stage: str, step: int):
        from trainer.executor import Reporter

        self.stage, self.at = stage, step
        self.executor: Executor | None = None
        self.base = Reporter()

    def __getattr__(self, name):
        return getattr(self.base, name)

    def step(self, stage_id: str, step: int, total: int) -> None:
        if stage_id == self.stage and step >= self.at and self.executor is not None:
            self.executor.stop.set()


def test_an_interrupted_then_resumed_stage_spends_its_labels_once(tiny_zoo, tmp_path):
    """Labels belong to the stage; each logged step's tokens count once over all attempts."""
    from planner.contracts import RunDir, Spend
    from tests import builders

    plan = builders.plan(
        stages=[
            builders.teacher_rl(steps=2, prompts=2, samples=2),
            builders.student_rl(steps=4, prompts=2, samples=2),
        ],
        eval_after_each_stage=False,
    )
    run_dir = tmp_path / "run"
    stopper = _StopAt("student_rl", 2)
    first = Executor(plan, run_dir, RunOptions(verifier_workers=1, reporter=stopper))  # type: ignore[arg-type]
    stopper.executor = first
    assert first.run() == "interrupted"
    assert Executor(plan, run_dir, RunOptions(verifier_workers=1)).run() == "ok"

    events = read_events(run_dir / "events.jsonl")
    labels = {"teacher_rl": plan.labels.stage1, "student_rl": plan.labels.stage3}
    for stage, planned in labels.items():
        ends = [e for e in events if e.kind == "stage_end" and e["stage"] == stage]
        assert [Spend.from_dict(e["spent"]).labels for e in ends] == [planned]
        record = RunDir(run_dir).read_done(stage)
        assert record is not None and Spend.from_dict(record.spent).labels == planned
    # Each step of the resumed stage is logged once, and its tokens counted once: the
    # stage's spend is the sum of its steps' token counts.
    steps = [e for e in events if e.kind == "metrics" and e["stage"] == "student_rl"]
    assert sorted(e["step"] for e in steps) == [1, 2, 3, 4]
    lengths = [e["values"]["completions/mean_length"] for e in steps]
    generated = sum(int(round(n * 4)) for n in lengths)
    end = next(e for e in events if e.kind == "stage_end" and e["stage"] == "student_rl")
    assert Spend.from_dict(end["spent"]).tokens_generated == generated
    # The run's total, after the resume, holds the stage finished before it too.
    run_ends = [e for e in events if e.kind == "run_end"]
    assert run_ends[-1]["status"] == "ok"
    assert Spend.from_dict(run_ends[-1]["spent"]).labels == sum(labels.values())


def test_a_resumed_stage_under_accelerate_logs_its_spend_with_the_earlier_attempts(tmp_path):
    """The worker's meter starts at zero; the parent adds what earlier attempts spent."""
    from types import SimpleNamespace

    from planner.contracts import EventTail, EventWriter, Spend
    from trainer.context import SpendMeter
    from trainer.launch import AccelerateExecutor

    side = tmp_path / "worker_events.jsonl"
    with EventWriter(side) as worker_events:
        worker_events.emit(
            "metrics",
            stage="s",
            step=3,
            total_steps=4,
            values={},
            spent=Spend(tokens_generated=10, labels=16).to_dict(),
        )
    relayed: list[tuple[str, dict]] = []
    meter = SpendMeter(labels=16)
    meter.offset = Spend(tokens_generated=90)  # the attempt before the resume
    ctx = SimpleNamespace(
        meter=meter,
        on_step=None,
        events=SimpleNamespace(emit=lambda kind, **data: relayed.append((kind, data))),
    )
    AccelerateExecutor._relay(None, EventTail(side), ctx)  # type: ignore[arg-type]
    [(kind, data)] = relayed
    assert kind == "metrics"
    assert Spend.from_dict(data["spent"]) == Spend(tokens_generated=100, labels=16)
