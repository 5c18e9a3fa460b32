"""One declared dtype: trained models are saved in it and frozen models load in it.

A teacher trained in stage 1 and a teacher straight from the hub must supervise (and be
evaluated) at the same precision, whatever dtype their checkpoints were written in:
on a GPU the trainer saves fp32 master weights, a hub checkpoint holds bf16.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests import builders
from trainer.models import cast_saved_weights, load_model, weights_dtype


def test_the_declared_dtype_follows_the_plan_and_the_device():
    assert weights_dtype("bf16", "cpu") == torch.bfloat16
    assert weights_dtype("fp32", "cuda") == torch.float32
    assert weights_dtype("auto", "cpu") == torch.float32


def test_frozen_models_load_in_the_declared_dtype_whatever_their_checkpoint(tiny_zoo, tmp_path):
    import shutil

    raw = tiny_zoo.model_dir("xs")
    halved = tmp_path / "bf16"
    shutil.copytree(raw, halved)
    cast_saved_weights(halved, torch.bfloat16)
    assert json.loads((halved / "config.json").read_text())["dtype"] == "bfloat16"
    for path in (raw, halved):
        frozen = load_model(path, "cpu", torch.bfloat16, trainable=False)
        assert {p.dtype for p in frozen.parameters()} == {torch.bfloat16}
        # training always starts from fp32 master weights
        assert {p.dtype for p in load_model(path, "cpu").parameters()} == {torch.float32}


@pytest.mark.slow
def test_a_trained_model_is_saved_in_the_plans_precision(tiny_zoo, tmp_path):
    from trainer.executor import Executor, RunOptions

    plan = builders.plan(
        stages=[builders.teacher_rl()], eval_after_each_stage=False, precision="bf16"
    )
    run_dir = tmp_path / "run"
    options = RunOptions(verifier_workers=1, toy_zoo=tiny_zoo.root)
    assert Executor(plan, run_dir, options).run() == "ok"
    saved = run_dir / "stages" / "teacher_rl" / "model"
    assert json.loads((saved / "config.json").read_text())["dtype"] == "bfloat16"
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(saved / "model.safetensors").values()} == {torch.bfloat16}
