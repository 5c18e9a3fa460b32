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


@pytest.fixture(scope="session")
def tiny_run(tiny_zoo, tmp_path_factory):
    """tests/trainer_tests/tiny_plan.yaml (every stage kind, two steps each) run once: (status, dir).

    The zoo is handed to the executor explicitly, as `s2d run --toy-zoo` does.
    """
    from pathlib import Path

    import torch

    from planner.contracts import load_plan
    from trainer.executor import Executor, RunOptions

    torch.set_num_threads(1)
    plan = load_plan(Path(__file__).parent / "trainer_tests" / "tiny_plan.yaml")
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    options = RunOptions(verifier_workers=1, toy_zoo=tiny_zoo.root)
    return Executor(plan, run_dir, options).run(), run_dir
