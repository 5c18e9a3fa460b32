"""Pretrain one toy model: a Qwen3-shaped causal LM trained on noisy worked solutions, then graded.

A plain torch loop (AdamW, linear warmup then cosine decay to a tenth of the peak, gradient
clipping at 1) with next-token cross-entropy on the assistant tokens of chat-formatted problems
only, so the model learns to answer in the chat format every later stage prompts it with. Each
step draws a fresh batch of (problem, noisy solution) pairs from the pretraining pool (every
problem except the eval set, see zoo.py), so the model sees the noise as a distribution, not as
fixed wrong labels. Everything is seeded per model (python, numpy, torch) and runs on one
thread, so the same seed gives the same weights. The result is an ordinary ``save_pretrained``
directory (model and tokenizer side by side), written under a temporary name and renamed once
complete.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.toy.presets import ToyModelShape, ZooConfig
from trainer.toy.problems import record, sample_pretraining, split_problems
from trainer.toy.tokenizer import render_chat

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, Qwen3Config

MAX_POSITIONS = 256


def lr_at(step: int, steps: int, peak_lr: float, warmup_steps: int) -> float:
    """Learning rate for 0-based `step`: linear warmup to `peak_lr`, cosine down to peak/10."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return peak_lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def model_seed(seed: int, name: str) -> int:
    """A per-model seed, stable across processes (no Python hash randomisation)."""
    return (seed * 1_000_003 + sum((i + 1) * ord(c) for i, c in enumerate(name))) % (2**31)


def qwen3_config(spec: ToyModelShape, tokenizer: PreTrainedTokenizerBase) -> Qwen3Config:
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )


def encode_batch(
    tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids_B_T, attention_mask_B_T, labels_B_T); labels are -100 off the assistant tokens."""
    import torch

    rows: list[tuple[list[int], int]] = []
    for problem, solution in pairs:
        prompt, completion = render_chat(problem, solution)
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
        completion_ids = tokenizer.encode(completion, add_special_tokens=False)
        # The template's newline after <|im_end|> is not assistant content: no loss on it.
        rows.append((prompt_ids + completion_ids[:-1], len(prompt_ids)))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
        labels[i, n_prompt : len(ids)] = input_ids[i, n_prompt : len(ids)]
    return input_ids, mask, labels


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def count_params(model: torch.nn.Module) -> int:
    """Unique parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def train_and_save(
    spec: ToyModelShape,
    config: ZooConfig,
    seed: int,
    tokenizer_dir: Path,
    out_dir: Path,
    report: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Pretrain `spec`, grade it on the eval split, save it to `out_dir`; return its zoo.json entry.

    `report(phase, done, total)` is called as training and grading progress.
    """
    import torch
    from transformers import AutoTokenizer, Qwen3ForCausalLM
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()  # the build shows its own progress
    report = report or (lambda phase, done, total: None)
    mseed = model_seed(seed, spec.name)
    seed_everything(mseed)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = Qwen3ForCausalLM(qwen3_config(spec, tokenizer))

    sets = split_problems(config.split, seed)
    data_rng = random.Random(f"pretrain:{seed}:{spec.name}")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=spec.lr, betas=(0.9, 0.95), weight_decay=0.01
    )
    warmup = max(1, int(config.warmup_fraction * spec.steps))
    started = time.perf_counter()
    report("pretrain", 0, spec.steps)
    model.train()
    for step in range(spec.steps):
        pairs = sample_pretraining(
            sets["rest"], config.level_weights, config.noise, data_rng, config.batch_size
        )
        input_ids, mask, labels = encode_batch(tokenizer, pairs)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, spec.steps, spec.lr, warmup)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 10 == 9 or step == spec.steps - 1:
            report("pretrain", step + 1, spec.steps)
    pretrain_seconds = time.perf_counter() - started

    from trainer.toy.evaluate import greedy_and_sampled_accuracy

    report("eval", 0, 1)
    eval_records = [record(p) for p in sets["eval"]]
    greedy, sampled = greedy_and_sampled_accuracy(
        model, tokenizer, eval_records, config.eval_samples, mseed
    )
    report("eval", 1, 1)

    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return {
        "params": count_params(model),
        "vocab_size": model.config.vocab_size,
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_hidden_layers": spec.num_hidden_layers,
        "num_attention_heads": spec.num_attention_heads,
        "num_key_value_heads": spec.num_key_value_heads,
        "greedy_accuracy": greedy,
        "sampled_accuracy": sampled,
        "pretrain_steps": spec.steps,
        "pretrain_seconds": round(pretrain_seconds, 2),
    }
