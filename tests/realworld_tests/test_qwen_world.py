"""The realistic world is what it claims to be: Qwen's vocabulary, Qwen3's template, real schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.qwen_world import VOCAB_SIZE


@pytest.fixture(scope="module")
def tokenizer(qwen_world):
    from trainer.models import load_tokenizer

    return load_tokenizer(qwen_world.student)


def test_the_tokenizer_is_qwens_byte_level_bpe_with_its_special_ids(tokenizer):
    assert len(tokenizer) == 151_669  # 151,643 BPE ranks + 26 added tokens
    ids = tokenizer.convert_tokens_to_ids(
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    )
    assert ids == [151643, 151644, 151645, 151667, 151668]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    # digits are single tokens, LaTeX becomes several, text round-trips byte for byte
    text = "Compute $\\frac{3}{4} + 12$. Café!"
    encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(encoded) == text
    assert [
        tokenizer.decode([i]) for i in tokenizer("12", add_special_tokens=False)["input_ids"]
    ] == [
        "1",
        "2",
    ]


def test_the_chat_template_is_qwen3s_with_thinking(tokenizer):
    user = [{"role": "user", "content": "What is 2+3?"}]
    thinking = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    assert thinking == "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    plain = tokenizer.apply_chat_template(
        user, add_generation_prompt=True, tokenize=False, enable_thinking=False
    )
    assert plain.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    # a final assistant turn without reasoning is rendered with an empty think block
    turn = user + [{"role": "assistant", "content": "5"}]
    assert tokenizer.apply_chat_template(turn, tokenize=False).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n5<|im_end|>\n"
    )


def test_models_are_qwen3_with_the_real_vocabulary(qwen_world):
    for path, layers in ((qwen_world.student, 2), (qwen_world.teacher, 3)):
        config = json.loads((path / "config.json").read_text())
        assert config["model_type"] == "qwen3" and config["vocab_size"] == VOCAB_SIZE
        assert config["head_dim"] >= 32 and config["num_hidden_layers"] == layers


def test_data_files_in_each_public_schema_load(qwen_world):
    from trainer.data import load_problems

    loaded = {name: load_problems(path) for name, path in qwen_world.data.items()}
    dapo = json.loads(qwen_world.data["dapo"].read_text().splitlines()[0])
    assert set(dapo) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert loaded["dapo"][0].answer == dapo["reward_model"]["ground_truth"]
    # DAPO's instruction (end with "Answer: $Answer") is taken off: the problem is the problem
    content = dapo["prompt"][0]["content"]
    assert content.startswith("Solve the following") and "Answer:" in content
    assert loaded["dapo"][0].problem in content and "Answer" not in loaded["dapo"][0].problem
    gsm8k = json.loads(qwen_world.data["gsm8k"].read_text().splitlines()[0])
    assert "####" in gsm8k["answer"] and "####" not in loaded["gsm8k"][0].answer
    assert loaded["math500"][0].id.startswith("test/") and loaded["aime"][0].id.startswith("2024")


def test_a_step_that_does_not_split_over_the_processes_is_refused_before_the_run(
    qwen_world, tmp_path, capsys
):
    from planner.contracts.plan import save_plan
    from s2d.cli import main
    from tests.realworld_tests.world_plan import world_plan

    plan = world_plan(qwen_world)
    plan.stages[1].budget.prompts_per_step = 3  # type: ignore[union-attr]  # 3 x 2 rows, GA 2
    plan_path = save_plan(plan, tmp_path / "plan.yaml")
    config = Path(__file__).parents[2] / "examples" / "accelerate" / "cpu_2proc.yaml"
    run_dir = tmp_path / "run"
    argv = ["run", str(plan_path), "--run-dir", str(run_dir), "--launcher", "accelerate"]
    assert main(argv + ["--accelerate-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "stage warmup" in err and "6 rows cannot be split over 2 processes x 2" in err
    assert not run_dir.exists()
