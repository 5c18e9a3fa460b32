"""The toy zoo's configurations: world data, pretraining recipe and model shapes, in one place.

A zoo is fully described by a :class:`ZooConfig`; its hash (with the seed and the world version)
names the cache directory, so any change here builds a new zoo instead of reusing a stale one.
"default" is the zoo the demo and the examples run on: four Qwen3-shaped sizes spanning 40x in
parameters (31k to 1.24M), all pretrained on the same noisy solutions (seed 0: greedy
10 / 25 / 62 / 86 %, sampled 3 / 8 / 26 / 45 %). xs, s and m get 400 steps of 32: per-size
step counts among them break the ladder (s trained 600 steps matches m at 400). l, the teacher
of the larger pair, gets 800: at 400 it was barely ahead of m (68 % greedy against 62), too close
a teacher for the bridge to beat direct GRPO on m; at 800 it holds much latent skill (86 %
greedy) behind poor sampling (45 %), which is the teacher the paper's RL unlocks. The longest
worker (l) costs about 7 CPU-minutes, so the build takes about 7.5 minutes of wall time on two
otherwise idle cores. "tiny" is a two-model zoo for tests that builds in seconds. Bump WORLD_VERSION when
the problem format, tokenizer or training code changes what a given config produces.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

WORLD_VERSION = 1


@dataclass(frozen=True)
class ToyModelShape:
    name: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    steps: int
    lr: float

    def __post_init__(self) -> None:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"model {self.name}: num_attention_heads ({self.num_attention_heads}) must be a "
                f"multiple of num_key_value_heads ({self.num_key_value_heads})"
            )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"model {self.name}: hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )


@dataclass(frozen=True)
class ZooConfig:
    # (eval, train, prompts) problems per level; disjoint by construction (problems.split_problems).
    split: dict[int, tuple[int, int, int]]
    models: tuple[ToyModelShape, ...]
    noise: float = 0.5
    batch_size: int = 32
    warmup_fraction: float = 0.05
    # Pretraining draws a level by weight: the harder levels get more of the data.
    level_weights: dict[int, float] = field(default_factory=lambda: {1: 1, 2: 2, 3: 1, 4: 2, 5: 3})
    eval_samples: int = 4

    def key(self, seed: int) -> str:
        """Hex digest of everything that determines the built zoo."""
        payload = {"world_version": WORLD_VERSION, "seed": seed, "config": dataclasses.asdict(self)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


PRESETS: dict[str, ZooConfig] = {
    "default": ZooConfig(
        split={
            1: (20, 40, 40),
            2: (100, 350, 350),
            3: (16, 24, 24),
            4: (100, 450, 450),
            5: (100, 2000, 1200),
        },
        models=(
            ToyModelShape("xs", 32, 64, 3, 2, 1, steps=400, lr=5e-3),
            ToyModelShape("s", 64, 192, 3, 4, 2, steps=400, lr=3e-3),
            ToyModelShape("m", 96, 288, 4, 4, 2, steps=400, lr=2e-3),
            ToyModelShape("l", 128, 512, 5, 4, 2, steps=800, lr=2e-3),
        ),
        batch_size=32,
    ),
    "tiny": ZooConfig(
        split={1: (8, 16, 16), 2: (8, 40, 40), 3: (8, 16, 16), 4: (8, 40, 40), 5: (8, 40, 40)},
        models=(
            ToyModelShape("xs", 16, 32, 1, 2, 1, steps=20, lr=3e-3),
            ToyModelShape("s", 32, 64, 2, 2, 1, steps=30, lr=3e-3),
        ),
        batch_size=16,
        eval_samples=2,
    ),
}
