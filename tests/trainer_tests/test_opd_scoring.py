"""Sampled OPD's scoring: log-probs of the sampled tokens from final hidden states, in chunks, in float32."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from tests.trainer_tests.tiny_models import save_tiny_pair
from trainer.stages.opd import completion_logprobs


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> torch.nn.Module:
    from trainer.models import load_model

    torch.set_num_threads(1)
    student_dir, _ = save_tiny_pair(tmp_path_factory.mktemp("models"))
    return load_model(student_dir, trainable=False)


def grpo_batch(vocab: int, rows: int = 3, prompt: int = 4, completion: int = 6) -> dict:
    """Left-padded prompts and right-padded completions, as GRPO hands them."""
    g = torch.Generator().manual_seed(0)
    prompt_mask = torch.ones(rows, prompt, dtype=torch.long)
    prompt_mask[0, :2] = 0
    completion_mask = torch.ones(rows, completion, dtype=torch.long)
    completion_mask[1, 3:] = 0
    completion_mask[2, 1:] = 0
    return {
        "prompt_ids": torch.randint(vocab, (rows, prompt), generator=g),
        "prompt_mask": prompt_mask,
        "completion_ids": torch.randint(vocab, (rows, completion), generator=g),
        "completion_mask": completion_mask,
    }


def full_logits_reference(model, b: dict, temperature: float) -> torch.Tensor:
    """log p(completion token) from the whole (B, T, V) logits, in float32."""
    ids = torch.cat([b["prompt_ids"], b["completion_ids"]], dim=1)
    mask = torch.cat([b["prompt_mask"], b["completion_mask"]], dim=1)
    n = b["completion_ids"].shape[1]
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -n - 1 : -1].float()
    logp = F.log_softmax(logits / temperature, dim=-1)
    return logp.gather(-1, b["completion_ids"].unsqueeze(-1)).squeeze(-1)


def score(model, b: dict, temperature: float = 1.0, **kw) -> torch.Tensor:
    args = (b["prompt_ids"], b["prompt_mask"], b["completion_ids"], b["completion_mask"])
    return completion_logprobs(model, *args, temperature, **kw)


@pytest.mark.parametrize("chunk_tokens", [1, 4, 1024])
def test_chunked_logprobs_equal_the_full_logits_ones(student, chunk_tokens):
    b = grpo_batch(student.config.vocab_size)
    got = score(student, b, temperature=0.7, chunk_tokens=chunk_tokens, rows_per_chunk=2)
    expected = full_logits_reference(student, b, temperature=0.7)
    keep = b["completion_mask"].bool()
    torch.testing.assert_close(got[keep], expected[keep], rtol=1e-5, atol=1e-5)
    assert (got[~keep] == 0).all()  # off the mask nothing is scored


def test_the_output_layer_never_sees_more_than_chunk_tokens_tokens(student):
    b = grpo_batch(student.config.vocab_size, rows=4, completion=10)
    seen: list[tuple[int, ...]] = []
    hook = student.get_output_embeddings().register_forward_pre_hook(
        lambda m, args: seen.append(tuple(args[0].shape))
    )
    try:
        score(student, b, chunk_tokens=3)
    finally:
        hook.remove()
    assert seen, "the output layer was never called"
    # one chunk of tokens x hidden at a time, never rows x tokens x hidden
    assert all(len(s) == 2 and s[0] <= 3 for s in seen), seen


class Embedding(torch.nn.Module):
    def __init__(self, embed: torch.nn.Embedding):
        super().__init__()
        self.embed = embed

    def forward(self, input_ids, attention_mask=None, **_):
        return SimpleNamespace(last_hidden_state=self.embed(input_ids))


class EmbeddingLM(torch.nn.Module):
    """A causal LM without layers (hidden state = embedding): under autocast only its output layer changes."""

    def __init__(self, vocab: int, hidden: int):
        super().__init__()
        self.base_model = Embedding(torch.nn.Embedding(vocab, hidden))
        self.lm_head = torch.nn.Linear(hidden, vocab, bias=False)

    def forward(self, input_ids, attention_mask=None, logits_to_keep=0, **_):
        hidden = self.base_model(input_ids).last_hidden_state
        return SimpleNamespace(logits=self.lm_head(hidden[:, -logits_to_keep:]))

    def get_output_embeddings(self):
        return self.lm_head


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["student", "teacher"])
def test_logprobs_are_float32_under_bf16_autocast(dtype):
    # the student trains from float32 weights, a frozen teacher keeps bf16 ones;
    # both are projected in float32, so their difference (the advantage) is too
    torch.manual_seed(0)
    model = EmbeddingLM(vocab=4096, hidden=32).to(dtype)
    b = grpo_batch(4096)
    expected = full_logits_reference(model.float(), b, temperature=1.0)
    model.to(dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = score(model, b, chunk_tokens=5)
    keep = b["completion_mask"].bool()
    assert got.dtype == torch.float32
    torch.testing.assert_close(got[keep], expected[keep], rtol=1e-5, atol=1e-5)


def test_the_option_has_forward_kls_default():
    from planner.contracts import ForwardKLOptions, OPDOptions

    assert OPDOptions().chunk_tokens == ForwardKLOptions().chunk_tokens
