"""Qwen3-shaped models with random weights that sample readable text through the toy tokenizer.

The shapes are those of the Qwen3 model cards with the real 151,936-row
vocabulary; the tokenizer is the toy character tokenizer (trainer.toy.tokenizer),
so the embedding rows exceed the tokenizer as Qwen's 151,936 rows exceed its
151,669 tokens. Departure from a real checkpoint: the rows the tokenizer cannot
produce (and its special tokens) are zeroed, and the final norm's weights are
random signs scaled so that character logits spread with a standard deviation
of LOGIT_STD against 0 for every other row. Samples then decode to text (which a
verifier grades and the forward-KL warmup re-tokenises) and never stop early, so
every completion has the full token budget; the compute per token is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VOCAB = 151_936  # Qwen3's embedding rows (its tokenizer has 151,669 entries)
LOGIT_STD = 8.0  # the best of ~96 characters (about 2.5 std) outweighs 151,840 zero logits


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
    "tiny": Shape(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, intermediate=128),
    "0.6b": Shape(hidden=1024, layers=28, heads=16, kv_heads=8, head_dim=128, intermediate=3072),
    "1.7b": Shape(hidden=2048, layers=28, heads=16, kv_heads=8, head_dim=128, intermediate=6144),
    "4b": Shape(hidden=2560, layers=36, heads=32, kv_heads=8, head_dim=128, intermediate=9728),
}


def save_random_model(out: Path, shape: Shape, device: str, seed: int, dtype: str = "auto") -> int:
    """save_pretrained a random Qwen3-shaped model with the toy tokenizer; returns its parameters.

    ``dtype`` "auto" stores bf16 on a GPU that has it (as Qwen3 checkpoints are stored) and
    fp32 elsewhere; the stages load a model in the dtype it is stored in.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    from trainer.toy.tokenizer import CHARS, save_tokenizer

    save_tokenizer(out)
    tok = AutoTokenizer.from_pretrained(out)
    cuda = device.startswith("cuda")
    cfg = Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=40_960,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    if dtype == "auto":
        dtype = "bfloat16" if cuda and torch.cuda.is_bf16_supported() else "float32"
    with torch.device(device):  # initialised on the card: a 4B model takes minutes on a CPU
        model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
    char_ids = torch.tensor(tok.convert_tokens_to_ids(list(CHARS)), device=device)
    with torch.no_grad():
        emb_V_H = model.get_input_embeddings().weight
        chars_C_H = emb_V_H[char_ids].clone()
        emb_V_H.zero_()
        emb_V_H[char_ids] = chars_C_H
        # logit_i = sum_k x_k w_k e_ik, x the normalised final state: random signs in w spread the
        # character logits without the pull towards repeating the input token that tied
        # embeddings give a random model (its residual stream still carries that token).
        norm_w_H = model.model.norm.weight
        scale = LOGIT_STD / (chars_C_H.float().std().item() * shape.hidden**0.5)
        signs_H = torch.randint(0, 2, (shape.hidden,), device=device).float() * 2 - 1
        norm_w_H.copy_(signs_H * scale)
    model.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    del model
    if cuda:
        torch.cuda.empty_cache()
    return params
