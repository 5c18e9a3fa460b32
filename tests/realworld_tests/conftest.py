"""The realistic world, built once per session: Qwen's vocabulary and template, tiny Qwen3s, real schemas."""

import pytest


@pytest.fixture(scope="session")
def qwen_world(tmp_path_factory):
    import torch

    from trainer.qwen_world import build

    torch.set_num_threads(1)
    return build(tmp_path_factory.mktemp("qwen-world"))
