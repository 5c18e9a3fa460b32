"""Suite-wide settings and the shared tiny toy zoo.

Tests never reach a model hub and never fork tokenizer threads. `tiny_zoo` builds the "tiny"
preset (two small models, seconds on one core) once per session into a temporary cache; any test
folder can ask for it and resolve "toy:xs", "toy:s", "toy:train", "toy:prompts", "toy:eval".
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory):
    import torch

    from trainer.toy.zoo import build_zoo

    torch.set_num_threads(1)
    return build_zoo(cache_dir=tmp_path_factory.mktemp("toy-cache"), preset="tiny", workers=1)
