"""Where a plan's problems come from, how their records read, and how a problem is asked.

A data reference is a string or a mapping. The string is a local path (a
``.jsonl``/``.json``/``.parquet`` file or a ``save_to_disk`` directory, with
``::split`` to choose a split), a Hugging Face dataset id (read offline from the
local cache), or a ``toy:`` name. The mapping says the same with options::

    labeled: {path: BytedTsinghua-SIA/DAPO-Math-17k, format: dapo}
    eval:
      - {name: gsm8k, path: openai/gsm8k, config: main, split: test, format: gsm8k}
      - {name: mine, path: data/mine.jsonl, fields: {problem: q.text, answer: q.gold}}

``format`` chooses a built-in record map (``auto`` detects it from the first
record's fields); ``fields`` names, as dotted paths, where the problem, its
answer (or a solution whose last ``\\boxed{}`` holds it) and its id sit, over
the format's own. A problem field holding chat messages reads as its last user
message. The maps themselves live with the loader (trainer.formats).

The prompt template (``prompt:`` in a plan) is how every stage and every eval
puts a problem to a model: the user message is ``instruction`` with
``{problem}`` replaced, after an optional system message, and
``enable_thinking`` is passed to the chat template (Qwen3's switch for its
thinking block; None leaves the template's default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from planner.contracts.schema import FieldProblems

DataFormat = Literal["auto", "math", "aime", "gsm8k", "dapo"]
DATA_FORMATS: tuple[str, ...] = ("auto", "math", "aime", "gsm8k", "dapo")

# A Hugging Face dataset id (org/name); a local path of that shape wins where it exists.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")

PROBLEM_SLOT = "{problem}"
# Qwen's own instruction for math (Qwen2.5-Math and Qwen3 evaluation): the verifier reads
# the last \boxed{} of an answer, so a real model has to be asked for one.
BOXED_INSTRUCTION = (
    "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}."
)


@dataclass
class FieldMap:
    """Where a record keeps each part, as a dotted path (``reward_model.ground_truth``)."""

    problem: str | None = None
    answer: str | None = None
    solution: str | None = None  # used when there is no answer: its last \boxed{} is the answer
    id: str | None = None


@dataclass
class DataRef:
    path: str
    split: str | None = None
    config: str | None = None  # a hub dataset's configuration (openai/gsm8k: main)
    format: DataFormat = "auto"
    fields: FieldMap = field(default_factory=FieldMap)

    def __str__(self) -> str:
        return f"{self.path}::{self.split}" if self.split else self.path


@dataclass
class EvalSet:
    name: str
    path: str
    split: str | None = None
    config: str | None = None
    format: DataFormat = "auto"
    fields: FieldMap = field(default_factory=FieldMap)

    @property
    def ref(self) -> DataRef:
        return as_ref(DataRef(self.path, self.split, self.config, self.format, self.fields))


@dataclass
class PromptTemplate:
    instruction: str = PROBLEM_SLOT
    system: str | None = None
    enable_thinking: bool | None = None

    def messages(self, problem: str) -> list[dict[str, str]]:
        user = {"role": "user", "content": self.instruction.replace(PROBLEM_SLOT, problem)}
        return [{"role": "system", "content": self.system}, user] if self.system else [user]

    @property
    def template_kwargs(self) -> dict[str, Any]:
        """Keywords for ``apply_chat_template`` (and TRL's ``chat_template_kwargs``)."""
        return {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}

    @property
    def is_default(self) -> bool:
        return self == PromptTemplate()


def as_ref(ref: str | DataRef) -> DataRef:
    """A data reference in its mapping form, ``path::split`` split off its path (a string's,
    or a mapping's without a ``split`` of its own)."""
    if isinstance(ref, str):
        ref = DataRef(ref)
    if ref.split is None and "::" in ref.path:
        path, _, split = ref.path.partition("::")
        return DataRef(path, split or None, ref.config, ref.format, ref.fields)
    return ref


# A hub id is org/name; a path whose name ends in a data file's suffix is a file, never an id.
_FILE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".parquet", ".csv", ".arrow")


def looks_like_hub_id(path: str) -> bool:
    return bool(HUB_ID.match(path)) and not path.lower().endswith(_FILE_SUFFIXES)


def ref_plain(ref: str | DataRef | EvalSet) -> Any:
    """A reference as a plan writes it: the string when it has no options, else only the
    options that differ from the defaults."""
    if isinstance(ref, str):
        return ref
    out: dict[str, Any] = {"name": ref.name} if isinstance(ref, EvalSet) else {}
    out["path"] = ref.path
    for key in ("split", "config"):
        if getattr(ref, key):
            out[key] = getattr(ref, key)
    if ref.format != "auto":
        out["format"] = ref.format
    fields = {k: v for k, v in vars(ref.fields).items() if v}
    if fields:
        out["fields"] = fields
    return out if len(out) > 1 or isinstance(ref, EvalSet) else ref.path


def check_prompt_template(t: PromptTemplate, at: str, p: FieldProblems) -> None:
    count = t.instruction.count(PROBLEM_SLOT)
    if count != 1:
        p.add(
            f"{at}.instruction",
            f"holds {PROBLEM_SLOT} {count} times",
            f"write {PROBLEM_SLOT} exactly once, where the problem goes, e.g. {BOXED_INSTRUCTION!r}",
        )


def check_field_map(fields: FieldMap, at: str, p: FieldProblems) -> None:
    for key, value in vars(fields).items():
        if value is not None and (not value.strip() or any(not part for part in value.split("."))):
            p.add(
                f"{at}.fields.{key}",
                f"{value!r} is not a field path",
                "name the field, with dots for nesting, e.g. reward_model.ground_truth",
            )
