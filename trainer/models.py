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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.contracts import UserError
from planner.contracts.errors import excerpt
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


# config.json values every causal LM of transformers reads as sizes: whole numbers of 1 or
# more where they are given (at the top level, or in text_config for a multimodal config).
WHOLE_CONFIG_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "max_position_embeddings",
)
# Sizes that may be null (derived from the others) but are whole numbers when given.
OPTIONAL_WHOLE_CONFIG_FIELDS = ("num_key_value_heads", "intermediate_size", "head_dim")


@dataclass
class ModelCheck:
    """What the preflight of one model directory found: its problems, or its config and tokenizer.

    Made by :func:`inspect_model` from config and tokenizer files alone (the weights are only
    checked to be whole, by their headers); the tokenizer is the one the checks count prompt
    tokens with, so the preflight loads it once.
    """

    role: str  # "student" or "teacher", for messages
    path: Path
    problems: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None
    context: int | None = None  # positions the model can attend (max_position_embeddings)

    @property
    def ok(self) -> bool:
        return not self.problems

    def refusal(self) -> str:
        """One paragraph: which model, what is wrong with which file, how to fix it."""
        return (
            f"{self.role} model {self.path} cannot be used: {'; '.join(self.problems)}. {self.fix}"
        )

    @property
    def fix(self) -> str:
        parts = self.path.resolve().parts
        repo = next((p for p in parts if p.startswith("models--")), None)
        if repo is not None and "snapshots" in parts:
            name = repo.removeprefix("models--").replace("--", "/")
            return f"Re-download it (`hf download {name}`; nothing is downloaded at run time)."
        if (self.path.parent.parent / "zoo.json").is_file():
            return (
                "It is a toy zoo model: rebuild the toy zoo (`s2d toy build --force`, with the "
                "preset and --cache-dir it was built with)."
            )
        return (
            "Fix the file, or re-save it with save_pretrained (or copy it again from its source)."
        )

    def facts(self) -> TokenizerFacts:
        tok, config = self.tokenizer, self.config
        text = config.get("text_config")
        vocab_size = config.get("vocab_size") or (
            text.get("vocab_size", 0) if isinstance(text, dict) else 0
        )
        special = {
            name: getattr(tok, name, None) for name in ("eos_token", "pad_token", "bos_token")
        }
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


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return excerpt_text(f"{type(e).__name__}: {text[0] if text else ''}", 240)


def excerpt_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _config_problems(config: Any) -> list[str]:
    """What is wrong with config.json's values, before transformers builds a config from them."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if not isinstance(config, dict):
        return [f"config.json holds {type(config).__name__}, not a JSON object"]
    problems: list[str] = []
    model_type = config.get("model_type")
    if model_type is None:
        problems.append(
            'config.json has no model_type (the architecture transformers builds, e.g. "qwen3")'
        )
    elif not isinstance(model_type, str) or model_type not in CONFIG_MAPPING_NAMES:
        import transformers

        problems.append(
            f"config.json: model_type {excerpt(model_type)} is not an architecture this "
            f"transformers ({transformers.__version__}) knows (upgrade transformers, or correct it)"
        )
    scopes = [("", config)]
    if isinstance(config.get("text_config"), dict):
        scopes.append(("text_config.", config["text_config"]))
    for prefix, values in scopes:
        for key in (*WHOLE_CONFIG_FIELDS, *OPTIONAL_WHOLE_CONFIG_FIELDS):
            if key not in values or (key in OPTIONAL_WHOLE_CONFIG_FIELDS and values[key] is None):
                continue
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                shown = excerpt_text(json.dumps(value), 60)
                problems.append(
                    f"config.json: {prefix}{key} must be a whole number of 1 or more (got {shown})"
                )
    if not any("vocab_size" in values for _, values in scopes):
        problems.append("config.json has no vocab_size (the rows of the model's embedding)")
    return problems


def _context(config: Any) -> int | None:
    """Positions the model attends: max_position_embeddings, stretched by a RoPE scaling factor."""
    text = config.get_text_config()
    limit = getattr(text, "max_position_embeddings", None)
    if not isinstance(limit, int) or isinstance(limit, bool):
        return None
    rope = getattr(text, "rope_parameters", None) or getattr(text, "rope_scaling", None)
    if isinstance(rope, dict) and isinstance(factor := rope.get("factor"), int | float):
        base = rope.get("original_max_position_embeddings") or limit
        if factor > 1 and isinstance(base, int):
            limit = max(limit, int(factor * base))
    return limit


def _inspect(model_dir: Path, role: str) -> ModelCheck:
    from trainer.integrity import TOKENIZER_JSON_FILES, model_problems

    check = ModelCheck(role=role, path=model_dir, problems=model_problems(model_dir))
    if any(p.startswith("config.json") for p in check.problems):
        return check
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config_problems = _config_problems(config)
    if not config_problems:
        from transformers import AutoConfig

        try:
            check.context = _context(AutoConfig.from_pretrained(model_dir))
        except Exception as e:  # transformers' own validation of the values
            config_problems.append(f"config.json is refused by transformers ({_first_line(e)})")
    check.problems += config_problems
    if config_problems:
        return check
    check.config = config
    if any(p.startswith(TOKENIZER_JSON_FILES) for p in check.problems):
        return check  # the tokenizer cannot load; what is wrong is said already
    from transformers import AutoTokenizer

    try:
        check.tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except Exception as e:
        files = sorted(p.name for p in model_dir.glob("*token*")) or ["no tokenizer files"]
        check.problems.append(
            f"its tokenizer does not load from {', '.join(files)} ({_first_line(e)})"
        )
        return check
    if not check.tokenizer.chat_template:
        check.problems.append(
            "its tokenizer has no chat template (every prompt is formatted with it): use a "
            "chat model, or add the model family's chat_template.jinja"
        )
    return check


_INSPECTED: dict[tuple[Any, ...], ModelCheck] = {}


def inspect_model(model_dir: Path, role: str = "model") -> ModelCheck:
    """The preflight of one model directory: cheap, no weights loaded; remembered while its files
    stay as they are, so a run's checks load each tokenizer once."""
    model_dir = Path(model_dir)
    try:
        files = tuple(
            sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in model_dir.iterdir())
        )
    except OSError:
        files = ()
    key = (str(model_dir.resolve()), role, files)
    if key not in _INSPECTED:
        while len(_INSPECTED) >= 4:
            _INSPECTED.pop(next(iter(_INSPECTED)))
        _INSPECTED[key] = _inspect(model_dir, role)
    return _INSPECTED[key]


def check_models(models: dict[str, Path]) -> dict[str, ModelCheck]:
    """Inspect each model (role -> directory); refuse with every problem of every model at once."""
    checks = {role: inspect_model(path, role) for role, path in models.items()}
    broken = [c.refusal() for c in checks.values() if not c.ok]
    if broken:
        raise UserError("\n".join(broken))
    return checks


def tokenizer_facts(model_dir: Path) -> TokenizerFacts:
    return check_models({"model": model_dir})["model"].facts()


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
    """Refuse a teacher/student pair that does not share one vocabulary and template (and
    either model when its files are broken: every problem of both at once)."""
    checks = check_models({"teacher": teacher_dir, "student": student_dir})
    problems = compatibility_problems(checks["teacher"].facts(), checks["student"].facts())
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
