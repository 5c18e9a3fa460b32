"""The warmup trains on the teacher's own sampled tokens, at Qwen3's template and a cut budget.

What reaches the loss must be exactly what the teacher saw and sampled: the prompt ids the
teacher was given, then its completion ids, loss on the completion only. With Qwen3's
template, decoding a rollout and rendering it again as an assistant turn puts an empty
``<think>`` block in front of it and appends ``<|im_end|>`` to a rollout that was cut at
``max_new_tokens``, which would teach the student to stop where truncation happened.
"""

from __future__ import annotations

import json

import pytest

from planner.contracts import RunDir
from tests.realworld_tests.world_plan import world_plan

IM_END, THINK = 151645, 151667


def run_warmup(world, run_dir, mode, monkeypatch):
    """Run only the warmup stage in this process; return the batches that reached the loss."""
    import trl

    from trainer.executor import Executor, RunOptions

    seen: list[dict] = []
    original = trl.SFTTrainer.compute_loss

    def spy(self, model, inputs, *args, **kwargs):
        seen.append({k: inputs[k].tolist() for k in ("input_ids", "attention_mask", "labels")})
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", spy)
    plan = world_plan(world)
    plan.stages = [s for s in plan.stages if s.kind == "forward_kl"]
    plan.stages[0].options.mode = mode  # type: ignore[union-attr]
    plan.eval_after_each_stage = False
    assert Executor(plan, run_dir, RunOptions(verifier_workers=1)).run() == "ok"
    rows = [
        json.loads(line)
        for line in RunDir(run_dir).teacher_rollouts("warmup").read_text().splitlines()
    ]
    return rows, seen


@pytest.mark.slow
def test_the_warmup_trains_on_exactly_the_sampled_ids(qwen_world, tmp_path, monkeypatch):
    rows, batches = run_warmup(qwen_world, tmp_path / "run", "hard", monkeypatch)
    assert len(rows) == 2 * 2 * 2  # steps x prompts_per_step x samples_per_prompt
    assert all(not r["stopped"] and len(r["completion_ids"]) == 20 for r in rows)  # all cut
    assert all(r["completion_ids"][-1] != IM_END for r in rows)

    trained = []
    for batch in batches:
        for ids, mask, labels in zip(
            batch["input_ids"], batch["attention_mask"], batch["labels"], strict=True
        ):
            kept = [i for i, m in zip(ids, mask, strict=True) if m]
            target = [t for t in labels if t != -100]
            trained.append((kept, target))
    # every row of every optimizer step is one rollout, verbatim: nothing added, nothing re-rendered
    expected = sorted((r["prompt_ids"] + r["completion_ids"], r["completion_ids"]) for r in rows)
    assert sorted(trained) == expected
    assert all(THINK not in kept for kept, _ in trained)

    # the prompt ids are the teacher's own chat rendering; the text path would have trained on
    # the template's empty think block and an end-of-turn token after a rollout that was cut
    from trainer.models import load_tokenizer

    tokenizer = load_tokenizer(qwen_world.teacher)
    prompt = tokenizer.decode(rows[0]["prompt_ids"])
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n")
    turn = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": rows[0]["completion"]},
    ]
    rendered = tokenizer(tokenizer.apply_chat_template(turn, tokenize=False))["input_ids"]
    assert THINK in rendered and rendered[-2] == IM_END
