"""Teacher rollouts and evals generate in calls bounded by sequences and KV-cache tokens.

The old rule was a fixed 64 prompts per ``generate`` call, whatever ``k`` and the
completion length: 64 prompts x 16 samples = 1,024 sequences of up to 8,192 new tokens in one
call, about a terabyte of KV cache at Qwen3-1.7B's shape (28 layers x 8 KV heads x 128 x 2 x
2 bytes = 112 KiB a token). The calls are counted here on a fake model (no real one could
hold them), then a tiny real model shows the split calls give the same completions, in the
same order, as one call when the batch does not change the math (greedy decoding).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.rollouts import BatchBudget, plan_calls, prompts_done, sample

KV_BYTES_PER_TOKEN = 28 * 8 * 128 * 2 * 2  # Qwen3-1.7B, bf16


class FakeTokenizer:
    """Just what ``sample`` uses: a chat template, tokenizing, left padding, decoding."""

    eos_token_id, pad_token_id, padding_side = 1, 0, "left"

    def apply_chat_template(self, messages, add_generation_prompt, tokenize, **_):
        return " ".join(m["content"] for m in messages)

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[2 + len(w) for w in t.split()] for t in texts]}

    def pad(self, batch, return_tensors):
        rows = batch["input_ids"]
        width = max(len(r) for r in rows)
        ids = [[self.pad_token_id] * (width - len(r)) + r for r in rows]
        mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
        return _Batch(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))

    def decode(self, ids, skip_special_tokens=True):
        return f"{len(ids)} tokens"


class _Batch(dict):
    def to(self, device):
        return self


class CountingModel(torch.nn.Module):
    """Records each generate call's sequences and KV slots; samples nothing (never an eos)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls: list[tuple[int, int]] = []  # (sequences, KV-cache token slots)

    def generate(self, input_ids, attention_mask, max_new_tokens, num_return_sequences=1, **_):
        rows = input_ids.shape[0] * num_return_sequences
        self.calls.append((rows, rows * (input_ids.shape[1] + max_new_tokens)))
        prompt = input_ids.repeat_interleave(num_return_sequences, dim=0)
        return torch.cat([prompt, torch.full((rows, max_new_tokens), 7)], dim=1)


def old_rule_calls(model, tokenizer, problems, n, max_new_tokens):
    """The rule ``sample`` had: 64 prompts per call, ``num_return_sequences=n``."""
    for start in range(0, len(problems), 64):
        texts = [tokenizer.apply_chat_template([{"content": p}], True, False) for p in problems]
        enc = tokenizer.pad({"input_ids": tokenizer(texts[start : start + 64])["input_ids"]}, "pt")
        model.generate(**enc, max_new_tokens=max_new_tokens, num_return_sequences=n)


def test_k16_by_64_prompts_at_8192_tokens_was_one_terabyte_call_and_is_now_bounded():
    problems = [f"problem {i} " + "word " * (100 + i) for i in range(64)]  # ~100-160 tokens
    tokenizer, budget = FakeTokenizer(), BatchBudget()

    old = CountingModel()
    old_rule_calls(old, tokenizer, problems, n=16, max_new_tokens=8192)
    ((sequences, slots),) = old.calls
    assert sequences == 1024
    assert slots * KV_BYTES_PER_TOKEN > 0.95e12  # about a terabyte of KV cache

    new = CountingModel()
    groups = sample(new, tokenizer, problems, n=16, max_new_tokens=8192, budget=budget)
    assert sum(s for s, _ in new.calls) == 1024 and len(new.calls) > 1
    assert all(s <= budget.max_sequences and t <= budget.max_tokens for s, t in new.calls)
    # 262,144 slots: 28 GiB of KV cache at Qwen3-1.7B's shape, which an 80 GB GPU holds
    assert max(t for _, t in new.calls) * KV_BYTES_PER_TOKEN <= 28 * 2**30
    assert [len(g) for g in groups] == [16] * 64
    assert all(c.n_tokens == 8192 and not c.stopped for g in groups for c in g)
    # each problem's own prompt, whichever call its samples went to
    lengths = [len(tokenizer([p])["input_ids"][0]) for p in problems]
    assert [len(g[0].prompt_ids) for g in groups] == lengths


def test_the_sequence_budget_binds_for_short_completions():
    model = CountingModel()
    sample(
        model,
        FakeTokenizer(),
        ["a b c"] * 100,
        n=8,
        max_new_tokens=16,
        budget=BatchBudget(max_sequences=96, max_tokens=10**9),
    )
    assert [s for s, _ in model.calls] == [96] * 8 + [32]


def test_a_sequence_longer_than_the_token_budget_still_generates_alone():
    model = CountingModel()
    groups = sample(
        model,
        FakeTokenizer(),
        ["a b", "c d"],
        n=3,
        max_new_tokens=100,
        budget=BatchBudget(max_tokens=50),
    )
    assert [s for s, _ in model.calls] == [1] * 6 and [len(g) for g in groups] == [3, 3]


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 300), max_size=40),
    n=st.integers(1, 20),
    new=st.integers(1, 500),
    max_sequences=st.integers(1, 64),
    max_tokens=st.integers(1, 20_000),
)
def test_calls_keep_order_and_budget(lengths, n, new, max_sequences, max_tokens):
    budget = BatchBudget(max_sequences, max_tokens)
    calls = plan_calls(lengths, n, new, budget)
    # every sample of every prompt exactly once, in prompt order
    assert [i for call in calls for i, c in call for _ in range(c)] == [
        i for i in range(len(lengths)) for _ in range(n)
    ]
    for call in calls:
        rows = sum(c for _, c in call)
        slots = rows * (max(lengths[i] for i, _ in call) + new)
        assert rows >= 1 and (rows == 1 or (rows <= max_sequences and slots <= max_tokens))
    assert sum(prompts_done(calls, n)) == len(lengths)


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.trainer_tests.tiny_models import save_tiny_pair

    torch.set_num_threads(1)
    student, _ = save_tiny_pair(tmp_path_factory.mktemp("pair"))
    return AutoModelForCausalLM.from_pretrained(student), AutoTokenizer.from_pretrained(student)


PROBLEMS = ["1+1", "22+3", "7*8=?", "what is 9-4", "2", "13+13+13"]


def test_one_call_gives_what_the_fixed_rule_gave(tiny_student):
    """With a budget that holds all of them, the call is the old rule's call: same ids."""
    from trainer.rollouts import chat_prompts

    model, tokenizer = tiny_student
    torch.manual_seed(5)
    groups = sample(model, tokenizer, PROBLEMS, n=3, max_new_tokens=12)
    torch.manual_seed(5)
    enc = tokenizer(
        chat_prompts(tokenizer, PROBLEMS),
        return_tensors="pt",
        padding=True,
        add_special_tokens=False,
    )
    old = model.generate(
        **enc,
        max_new_tokens=12,
        do_sample=True,
        top_k=0,
        top_p=1.0,
        temperature=1.0,
        num_return_sequences=3,
        pad_token_id=tokenizer.pad_token_id,
    )
    old = old[:, enc["input_ids"].shape[1] :].tolist()
    got = [c.token_ids for g in groups for c in g]
    assert [ids[: len(g)] for ids, g in zip(old, got, strict=True)] == got


def test_split_calls_give_the_same_greedy_completions_in_order(tiny_student):
    model, tokenizer = tiny_student
    whole = sample(model, tokenizer, PROBLEMS, greedy=True, max_new_tokens=12)
    split = sample(
        model,
        tokenizer,
        PROBLEMS,
        greedy=True,
        max_new_tokens=12,
        budget=BatchBudget(max_sequences=4, max_tokens=60),
    )
    assert [[c.token_ids for c in g] for g in split] == [[c.token_ids for c in g] for g in whole]
    assert [g[0].prompt_ids for g in split] == [g[0].prompt_ids for g in whole]
