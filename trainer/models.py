"""Find models and check that a teacher can supervise a student, before any weights load.

A model reference is a local ``save_pretrained`` directory, a hub id already in
the local Hugging Face cache (nothing is downloaded), or ``toy:<size>`` from the
built toy zoo. Logit distillation is only meaningful when teacher and student
share one vocabulary: equal ``vocab_size`` is not enough (the teacher would score
garbage silently), so :func:`check_compatible` compares the token tables, the
special tokens and the chat templates, reading only config and tokenizer files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.contracts import UserError
from planner.scenario import resolve_zoo

if TYPE_CHECKING:
    import torch


def toy_zoo(zoo_dir: str | Path | None = None) -> Any:
    """The toy zoo ``toy:`` references resolve in, by the planner's rule (planner.scenario.zoo)."""
    from trainer.toy.zoo import Zoo

    return Zoo.read(
        resolve_zoo(zoo_dir, where="toy zoo (the plan's toy_zoo, or s2d run --toy-zoo)")
    )


def resolve_data_path(ref: str, zoo_dir: str | Path | None = None) -> Path:
    """A plan's data reference as a local path (``toy:train`` and the like inside the toy zoo)."""
    if ref.startswith("toy:"):
        from trainer.toy.zoo import resolve_toy_path

        return resolve_toy_path(ref, toy_zoo(zoo_dir))
    return Path(ref).expanduser()


def resolve_model_path(ref: str, zoo_dir: str | Path | None = None) -> Path:
    """Turn a plan's model path into a local directory, or explain why it cannot."""
    if ref.startswith("toy:"):
        from trainer.toy.zoo import resolve_toy_path

        return resolve_toy_path(ref, toy_zoo(zoo_dir))
    path = Path(ref).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise UserError(
                f"model directory {path} has no config.json; give a directory written by save_pretrained."
            )
        return path
    if ref.count("/") == 1 and not ref.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(ref, local_files_only=True))
        except Exception:
            raise UserError(
                f"model {ref!r} is not in the local Hugging Face cache and nothing is downloaded at run time; "
                f"fetch it first (`hf download {ref}`) or give the path of a local save_pretrained directory."
            ) from None
    raise UserError(
        f"model directory {ref} does not exist; check the path (or use toy:<size> for the toy world)."
    )


@dataclass(frozen=True)
class TokenizerFacts:
    vocab_size: int  # the model's embedding rows (config.json)
    vocab: dict[str, int]
    special: dict[str, str | None]
    chat_template: str | None


def tokenizer_facts(model_dir: Path) -> TokenizerFacts:
    from transformers import AutoTokenizer

    config = json.loads((model_dir / "config.json").read_text())
    vocab_size = config.get("vocab_size") or config.get("text_config", {}).get("vocab_size", 0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    special = {name: getattr(tok, name, None) for name in ("eos_token", "pad_token", "bos_token")}
    template = (
        tok.chat_template
        if isinstance(tok.chat_template, str)
        else json.dumps(tok.chat_template, sort_keys=True)
    )
    return TokenizerFacts(
        vocab_size=int(vocab_size),
        vocab=dict(tok.get_vocab()),
        special=special,
        chat_template=template,
    )


def compatibility_problems(teacher: TokenizerFacts, student: TokenizerFacts) -> list[str]:
    """Every difference that makes the teacher's per-token scores meaningless for the student."""
    problems: list[str] = []
    if teacher.vocab_size != student.vocab_size:
        problems.append(
            f"vocabulary sizes differ: teacher {teacher.vocab_size}, student {student.vocab_size}"
        )
    if teacher.vocab != student.vocab:
        t_by_id = {i: tok for tok, i in teacher.vocab.items()}
        s_by_id = {i: tok for tok, i in student.vocab.items()}
        differing = sorted(
            i for i in set(t_by_id) | set(s_by_id) if t_by_id.get(i) != s_by_id.get(i)
        )
        i = differing[0]
        problems.append(
            f"token tables differ at {len(differing)} id(s), first at id {i}: teacher {t_by_id.get(i)!r}, student {s_by_id.get(i)!r}"
        )
    for name in teacher.special:
        if teacher.special[name] != student.special.get(name):
            problems.append(
                f"{name} differs: teacher {teacher.special[name]!r}, student {student.special.get(name)!r}"
            )
    if teacher.chat_template != student.chat_template:
        problems.append(
            "chat templates differ (the teacher would score prompts formatted for another model)"
        )
    return problems


def check_compatible(teacher_dir: Path, student_dir: Path) -> None:
    """Refuse a teacher/student pair that does not share one vocabulary and template."""
    problems = compatibility_problems(tokenizer_facts(teacher_dir), tokenizer_facts(student_dir))
    if problems:
        raise UserError(
            f"teacher {teacher_dir} cannot supervise student {student_dir} token by token: "
            + "; ".join(problems)
            + ". Choose a teacher from the student's model family (same tokenizer and chat template)."
        )


def weights_dtype(precision: str, device: str) -> torch.dtype:
    """The plan's declared dtype (``precision``) on ``device``: auto is bf16 on a GPU that has it."""
    import torch

    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp32":
        return torch.float32
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32


def load_model(
    model_dir: Path,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    trainable: bool = True,
) -> Any:
    """Load a causal LM for training (fp32 master weights) or for frozen use (in ``dtype``).

    Trainable models load in fp32 whatever the checkpoint's dtype: the trainer's
    bf16 mixed precision then computes in bf16 while AdamW updates fp32 weights,
    because RL-scale updates (lr ~1e-6) round away on bf16 weights. Frozen models
    (the teacher during distillation, evaluation) load in the dtype they are
    given, the plan's declared one (:func:`weights_dtype`), whatever the
    checkpoint holds, so that every frozen model of a run computes alike. On a
    GPU weights load straight to the device.
    """
    import torch
    from transformers import AutoModelForCausalLM

    cuda = device.startswith("cuda")
    if trainable or dtype is None:
        dtype = torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if cuda:
        kwargs["device_map"] = device
    # Held as a Module: transformers' PreTrainedModel.to is a functools.wraps copy
    # of Module.to, which type checkers do not bind to the instance.
    model: torch.nn.Module = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if not cuda:
        model = model.to(device)
    if not trainable:
        model.eval().requires_grad_(False)
    return model


def cast_saved_weights(model_dir: Path, dtype: torch.dtype) -> None:
    """Rewrite a save_pretrained directory's floating-point weights in ``dtype`` (fp32 stays as is).

    Done on the files, after the trainer saved them, so that it works the same
    whatever wrapped the model (DDP, FSDP, DeepSpeed) while it trained.
    """
    import torch
    from safetensors.torch import load_file, save_file

    if dtype == torch.float32:
        return
    for path in sorted(model_dir.glob("*.safetensors")):
        tensors = {
            k: (v.to(dtype) if v.is_floating_point() else v) for k, v in load_file(path).items()
        }
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        os.replace(tmp, path)
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = str(dtype).removeprefix("torch.")
    tmp = config_path.with_name("config.json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(tmp, config_path)


def load_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok
