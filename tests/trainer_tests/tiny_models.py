"""A tiny Qwen3-shaped student and teacher on the toy tokenizer, for the distillation stages' tests.

Random weights (no pretraining): the tests compare one code path with another,
not what a model learned. The teacher is deeper than the student, as in a plan.
"""

from __future__ import annotations

from pathlib import Path


def save_tiny_pair(root: Path) -> tuple[Path, Path]:
    """Write ``root/student`` and ``root/teacher`` (save_pretrained directories); return their paths."""
    import torch
    from transformers import AutoTokenizer, Qwen3ForCausalLM

    from trainer.toy.presets import ToyModelShape
    from trainer.toy.pretrain import qwen3_config
    from trainer.toy.tokenizer import save_tokenizer

    paths = []
    for name, layers in (("student", 1), ("teacher", 2)):
        out = root / name
        save_tokenizer(out)
        shape = ToyModelShape(name, 16, 32, layers, 2, 1, steps=0, lr=0.0)
        torch.manual_seed(layers)
        Qwen3ForCausalLM(qwen3_config(shape, AutoTokenizer.from_pretrained(out))).save_pretrained(
            out
        )
        paths.append(out)
    return paths[0], paths[1]
