"""The forward-KL stage's own Trainer on a tiny student and teacher: loss scale and where the head runs.

Each test runs ``run_forward_kl`` with the teacher's rollouts given (no
sampling) and catches the trainer the stage built, so what runs is the stage's
Trainer class with its real SFTConfig.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import TrainerCallback

from planner.contracts import (
    Budget,
    EventWriter,
    ForwardKLOptions,
    Optim,
    RunDir,
    Stage,
    load_plan,
)
from tests.trainer_tests.tiny_models import save_tiny_pair
from trainer import hf
from trainer.context import SpendMeter, StageContext, StageData
from trainer.stages import forward_kl

TOY_PLAN = Path(__file__).parents[2] / "examples" / "toy_plan.yaml"
# Completions of different lengths: the micro-batches of an accumulated step
# then hold different numbers of trained tokens.
TEXTS = [(f"What is {i}+1?", "1+2=3\n" * (i + 1)) for i in range(4)]


def rollout_rows(model_dir: Path) -> list[dict[str, Any]]:
    """TEXTS as the warmup stores teacher rollouts: the token ids the teacher saw and sampled."""
    from trainer.models import load_tokenizer
    from trainer.rollouts import chat_prompts

    tok = load_tokenizer(model_dir)
    rows = []
    for i, (problem, completion) in enumerate(TEXTS):
        (prompt,) = chat_prompts(tok, [problem])
        rows.append(
            {
                "prompt_id": str(i),
                "prompt_ids": tok(prompt, add_special_tokens=False)["input_ids"],
                "completion_ids": tok(completion, add_special_tokens=False)["input_ids"]
                + [tok.eos_token_id],
                "stopped": True,
                "completion": completion,
            }
        )
    return rows


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    return save_tiny_pair(tmp_path_factory.mktemp("models"))


class GradsBeforeStep(TrainerCallback):
    """Copies every parameter's gradient just before the optimizer steps."""

    def __init__(self) -> None:
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for name, p in kwargs["model"].named_parameters():
            if p.grad is not None:
                self.grads[name] = p.grad.detach().clone()


def run_stage(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    models: tuple[Path, Path],
    *,
    batch: int,
    accumulation: int,
    before_train: Any = None,
) -> tuple[Any, GradsBeforeStep]:
    """One optimizer step of ``batch`` rollouts (in ``accumulation`` micro-batches); returns
    (trainer, gradients)."""
    student, teacher = models
    grads = GradsBeforeStep()
    caught: list[Any] = []

    def train_stage(trainer: Any, *args: Any) -> Any:
        caught.append(trainer)
        trainer.add_callback(grads)
        if before_train is not None:
            before_train(trainer)
        return hf.train_stage(trainer, *args)

    rows = rollout_rows(teacher)
    monkeypatch.setattr(forward_kl, "teacher_rollouts", lambda ctx: rows)
    monkeypatch.setattr(forward_kl, "train_stage", train_stage)
    run_dir = tmp_path / f"run-{batch}x{accumulation}"
    stage = Stage(
        id="warmup",
        kind="forward_kl",
        model="student",
        data="prompts",
        budget=Budget(steps=1, prompts_per_step=batch, samples_per_prompt=1, max_new_tokens=64),
        # no clipping: the gradients are compared as computed
        optim=Optim(
            learning_rate=1e-3, max_grad_norm=0.0, gradient_accumulation_steps=accumulation
        ),
        options=ForwardKLOptions(mode="soft", chunk_tokens=7),
    )
    with EventWriter(RunDir(run_dir).events) as events:
        ctx = StageContext(
            plan=load_plan(TOY_PLAN),
            stage=stage,
            index=1,
            run_dir=run_dir,
            model_path=student,
            teacher_path=teacher,
            data=StageData(prompts=[]),
            verifier=None,
            events=events,
            meter=SpendMeter(),
            save_every=1000,
        )
        forward_kl.run_forward_kl(ctx)
    return caught[0], grads


def logged_loss(trainer: Any) -> float:
    return next(h["loss"] for h in trainer.state.log_history if "loss" in h)


def test_accumulated_half_batches_give_the_full_batch_gradient_and_loss(
    monkeypatch, tmp_path, models
):
    full, full_grads = run_stage(monkeypatch, tmp_path, models, batch=4, accumulation=1)
    halves, half_grads = run_stage(monkeypatch, tmp_path, models, batch=4, accumulation=2)
    assert full_grads.grads.keys() == half_grads.grads.keys() and full_grads.grads
    for name, g in full_grads.grads.items():
        torch.testing.assert_close(half_grads.grads[name], g, rtol=1e-4, atol=1e-7)
    assert logged_loss(halves) == pytest.approx(logged_loss(full), rel=1e-4)


@pytest.fixture
def one_process_group(tmp_path):
    """A one-process gloo group, so the student can be wrapped in a real DistributedDataParallel."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_soft_loss_runs_the_output_layer_inside_the_wrapped_forward(
    monkeypatch, tmp_path, models, one_process_group
):
    from torch.nn.parallel import DistributedDataParallel

    from trainer.losses import kl_from_logits, masked_mean
    from trainer.models import load_model

    trainer, _ = run_stage(monkeypatch, tmp_path, models, batch=4, accumulation=1)
    student, teacher = trainer.model, load_model(models[1], trainable=False)
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    ids, attn, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]

    # the reference: KL(teacher || student) on whole logits, on the plain student
    student.zero_grad()
    with torch.no_grad():
        teacher_logits = teacher(input_ids=ids, attention_mask=attn).logits[:, :-1]
    student_logits = student(input_ids=ids, attention_mask=attn).logits[:, :-1]
    expected = masked_mean(kl_from_logits(teacher_logits, student_logits), labels[:, 1:] != -100)
    expected.backward()
    expected_grads = {n: p.grad.clone() for n, p in student.named_parameters()}
    student.zero_grad()

    wrapped = DistributedDataParallel(student)
    open_forwards: list[bool] = []
    head_calls: list[
        bool
    ] = []  # per call of the student's output layer: inside the wrapper's forward?
    # (hooks return None: a forward hook's return value would replace the output)
    wrapped.register_forward_pre_hook(lambda m, a: open_forwards.append(True))
    wrapped.register_forward_hook(lambda m, a, o: open_forwards.clear())
    hook = student.get_output_embeddings().register_forward_hook(
        lambda m, a, o: head_calls.append(bool(open_forwards))
    )
    loss = trainer.compute_loss(wrapped, dict(inputs))
    hook.remove()  # the backward pass recomputes chunks outside any forward, by design
    assert head_calls and all(head_calls)
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    for name, p in student.named_parameters():
        torch.testing.assert_close(p.grad, expected_grads[name], rtol=1e-4, atol=1e-7)
