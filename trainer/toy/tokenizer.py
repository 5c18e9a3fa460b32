"""The one character-level tokenizer every toy model shares, with a Qwen3-style chat template.

Built with the `tokenizers` library (one token per printable ASCII character plus newline, then
Qwen's special tokens ``<|endoftext|>`` as pad, ``<|im_start|>``, ``<|im_end|>`` as eos) and
saved through transformers, so ``AutoTokenizer.from_pretrained(dir)`` reloads it offline like a
real checkpoint's tokenizer. Sharing one tokenizer is what lets logit distillation between toy
models of different sizes compare like with like. The chat template follows Qwen3's layout with
``{% generation %}`` markers around the assistant content and its ``<|im_end|>`` (so
``return_assistant_tokens_mask`` and assistant-only losses work); departures from Qwen3: no
``<think>`` block, no tools, and characters outside printable ASCII become ``?``.
:func:`render_chat` writes the same text without Jinja, for the pretraining loop's speed; a test
keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END)
CHARS = "\n" + "".join(chr(i) for i in range(32, 127))

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message.role == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{% generation %}{{- message.content + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def render_chat(problem: str, solution: str | None = None) -> tuple[str, str]:
    """(prompt, completion) text of a one-turn chat, exactly as CHAT_TEMPLATE renders it.

    The prompt ends with the generation prompt; the completion is empty when `solution` is None
    and otherwise the assistant content with ``<|im_end|>`` plus the template's trailing newline.
    """
    prompt = f"{IM_START}user\n{problem}{IM_END}\n{IM_START}assistant\n"
    return prompt, "" if solution is None else f"{solution}{IM_END}\n"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh PreTrainedTokenizerFast: character vocabulary first, special tokens after (as in Qwen)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
    )
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(CHARS)}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    backend.normalizer = normalizers.Replace(Regex(r"[^\n -~]"), "?")
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]
    )
    # padding_side must be a constructor argument: set afterwards it is not saved.
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=IM_END,
        pad_token=PAD,
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
        model_max_length=512,
    )


def save_tokenizer(directory: Path) -> None:
    build_tokenizer().save_pretrained(str(directory))
