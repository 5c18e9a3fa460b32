"""Before a run resumes: set aside what a crash or a damaged disk left unusable, so it is redone.

Resume trusts three kinds of record, and each can exist without being whole
(a disk that filled, a copy cut short, a file edited by hand):

- a stage's DONE.json, which says the stage finished and names its model;
- a stage's model directory, which later stages start from;
- a stage's newest checkpoint, which its trainer resumes from.

Each is checked here (structure only: no weights are loaded; see
trainer.integrity). What fails is moved to ``damaged/<when>/`` (never
deleted), a ``warning`` event names it, and the run then does what it would
have done without it: a stage without a usable DONE marker is run again (only
its eval, when its model is whole), a stage without a whole checkpoint resumes
from the newest whole one, or from its start. The warmup's teacher rollouts
are checked where they are read (trainer.stages.forward_kl), where their
expected length is known.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from planner.contracts import BASE_STAGE, DamagedFile, Plan, RunDir, kind_of
from trainer.integrity import first_damage, model_damage

Warn = Callable[[str, str], None]  # (stage id, message)


def checkpoint_damage(path: Path) -> str | None:
    """Why a published ``checkpoint-N`` cannot be resumed from; None when it can."""
    state = path / "trainer_state.json"
    if not state.is_file():
        return f"{state} is missing"
    # The model's files, then everything else the trainer reloads (optimizer, scheduler, RNG).
    return model_damage(path) or first_damage(path)


def recover(run: RunDir, plan: Plan, warn: Warn) -> list[Path]:
    """Set aside every damaged record of ``run``; returns where each went."""
    from trainer.hf import checkpoints  # torch and transformers: only when a run resumes

    moved: list[Path] = []

    def set_aside(stage_id: str, path: Path, why: str, then: str) -> None:
        target = run.set_aside(path)
        moved.append(target)
        warn(stage_id, f"{why}; set aside as {run.relative(target)}; {then}")

    for stage_id, trains in [(BASE_STAGE, False)] + [
        (s.id, kind_of(s).trains) for s in plan.stages
    ]:
        marker = run.done_marker(stage_id)
        try:
            record = run.read_done(stage_id)
        except DamagedFile as e:
            set_aside(stage_id, marker, str(e), "the stage will be finished again")
            record = None
        if record is not None and trains:
            model = run.root / record.model_path if record.model_path else run.model_dir(stage_id)
            why = model_damage(model)
            if why:
                set_aside(
                    stage_id,
                    marker,
                    f"the stage's DONE marker names a model that is not whole ({why})",
                    "the stage will be finished again",
                )
                record = None
        if record is not None or not trains:
            continue
        model = run.model_dir(stage_id)
        if model.exists() and (why := model_damage(model)):
            set_aside(
                stage_id, model, f"the trained model is not whole ({why})", "the stage resumes"
            )
        for ckpt in checkpoints(run.checkpoints_dir(stage_id)):
            why = checkpoint_damage(ckpt)
            if why is None:
                break  # the newest whole checkpoint: the stage resumes from it
            set_aside(
                stage_id,
                ckpt,
                f"checkpoint {run.relative(ckpt)} is not whole ({why})",
                "resuming from the newest whole checkpoint before it, or from the stage's start",
            )
    return moved
