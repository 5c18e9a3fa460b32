"""Records to problems: the built-in maps of the public math sets, and the plan's own.

A map says where a record keeps its problem, its gold answer (or a solution
whose last ``\\boxed{}`` holds it) and its id, as dotted paths, and how the answer
is written:

======== ============================ ================================ ===============
format   problem                      answer                           id
======== ============================ ================================ ===============
math     ``problem``                  ``answer``, else ``solution``'s  ``unique_id``
                                      last ``\\boxed{}``
aime     ``problem``                  ``answer``                       ``id``
gsm8k    ``question``                 ``answer`` after ``####``        (text hash)
dapo     ``prompt`` (chat: last user  ``reward_model.ground_truth``    ``extra_info.index``
         message, DAPO's instruction
         around it removed)
======== ============================ ================================ ===============

``auto`` reads each record by its fields: a chat ``prompt`` is DAPO's, a
``question`` GSM8K's, a ``problem`` MATH's (AIME's records read the same way).
A plan's ``fields`` replace a map's entries. DAPO-Math-17k wraps every problem
in an instruction to end with ``Answer: $Answer``; the wrapper is removed so that
the problem text is the problem (the eval-overlap check compares texts, and MATH-500
holds the bare problem) and the plan's prompt template asks for the answer the
verifier reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from planner.contracts import UserError
from planner.contracts.data import FieldMap
from planner.contracts.errors import excerpt

AnswerRule = Literal["plain", "gsm8k"]

# DAPO-Math-17k's wrapper around each problem (verl's math_dapo prompt), exactly as written.
DAPO_PREFIX = (
    "Solve the following math problem step by step. The last line of your response should be "
    "of the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


@dataclass(frozen=True)
class RecordMap:
    name: str
    problem: str
    answer: str | None = "answer"
    solution: str | None = None
    ids: tuple[str, ...] = ("id", "unique_id")
    answer_rule: AnswerRule = "plain"
    strip_dapo: bool = False

    def with_fields(self, fields: FieldMap) -> RecordMap:
        return replace(
            self,
            problem=fields.problem or self.problem,
            answer=fields.answer or self.answer,
            solution=fields.solution or self.solution,
            ids=(fields.id,) if fields.id else self.ids,
        )


FORMATS: dict[str, RecordMap] = {
    "math": RecordMap("math", "problem", solution="solution", ids=("unique_id", "id")),
    "aime": RecordMap("aime", "problem", solution="solution"),
    "gsm8k": RecordMap("gsm8k", "question", solution="solution", answer_rule="gsm8k"),
    "dapo": RecordMap(
        "dapo", "prompt", "reward_model.ground_truth", ids=("extra_info.index",), strip_dapo=True
    ),
}


def detect(record: Any) -> RecordMap | None:
    """The built-in map a record's fields call for (``format: auto``), or None."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("prompt"), list) and not {"problem", "question"} & set(record):
        return FORMATS["dapo"]
    if "problem" in record:
        return FORMATS["math"]
    if "question" in record:
        return FORMATS["gsm8k"]
    return None


def record_map(fmt: str, fields: FieldMap, record: Any) -> RecordMap | None:
    """The map for one record: the named format (or the detected one), the plan's fields over it."""
    base = FORMATS.get(fmt) if fmt != "auto" else detect(record)
    if base is None:
        if not fields.problem:
            return None
        base = RecordMap("fields", fields.problem, solution="solution")
    return base.with_fields(fields)


def dig(record: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path in nested mappings."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


# ---- answers ------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` in ``text`` whose braces close, or None.

    One pass over the text (every brace matched with a stack), so an answer full
    of unclosed ``\\boxed{`` costs linear time, not a scan to the end per box.
    """
    marker = "\\boxed{"
    starts = []
    at = text.find(marker)
    while at >= 0:
        starts.append(at)
        at = text.find(marker, at + 1)
    if not starts:
        return None
    closes: dict[int, int] = {}  # position of "{" -> position of its "}"
    open_at: list[int] = []
    for i, ch in enumerate(text):
        if ch == "{":
            open_at.append(i)
        elif ch == "}" and open_at:
            closes[open_at.pop()] = i
    for start in reversed(starts):  # unbalanced: try the one before
        brace = start + len(marker) - 1
        if brace in closes:
            return text[brace + 1 : closes[brace]].strip()
    return None


def gsm8k_answer(answer: str) -> str:
    """GSM8K puts the final number after ``####``, with thousands separators."""
    final = answer.rsplit("####", 1)[-1] if "####" in answer else answer
    return final.replace(",", "").strip()


def strip_dapo(text: str) -> str:
    """The problem inside DAPO-Math-17k's instruction (unchanged when it has none)."""
    if text.startswith(DAPO_PREFIX) and text.endswith(DAPO_SUFFIX):
        return text[len(DAPO_PREFIX) : -len(DAPO_SUFFIX)].strip()
    return text


# ---- one record -------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    problem: str
    answer: str | None
    id: str | None
    format: str


def parse_record(
    record: Any, where: str, fmt: str, fields: FieldMap, require_answers: bool
) -> Parsed:
    """Problem, gold answer and id of one record, or a UserError saying what is wrong."""
    if not isinstance(record, dict):
        raise UserError(
            f"{where}: expected a JSON object with a 'problem' field, got {type(record).__name__}."
        )
    m = record_map(fmt, fields, record)
    if m is None:
        found = ", ".join(sorted(map(str, record))) or "none"
        raise UserError(
            f"{where}: no 'problem' or 'question' field (fields found: {found}). Name the "
            "field that holds the problem in the plan, e.g. fields: {problem: text, answer: "
            "gold}, choose a format (math, aime, gsm8k, dapo), or rename it to 'problem'."
        )
    text = _problem_text(record, m, where)
    answer = _answer(record, m, where, require_answers)
    if answer is None and require_answers:
        raise UserError(
            f"{where}: no answer. "
            + (
                "A chat-format record needs reward_model.ground_truth (the DAPO-Math-17k "
                "schema); add it, or use this file as an unlabeled prompt pool."
                if m.name == "dapo" and m.answer == FORMATS["dapo"].answer
                else f"Labeled problems need an {m.answer!r} field"
                + (
                    f", or a {m.solution!r} whose last \\boxed{{...}} holds the answer"
                    if m.solution
                    else ""
                )
                + ". Add answers, or use this file as an unlabeled prompt pool (datasets.prompts "
                "in the plan)."
            )
        )
    return Parsed(text, answer, _problem_id(record, m, where), m.name)


def _problem_text(record: dict[str, Any], m: RecordMap, where: str) -> str:
    found, value = dig(record, m.problem)
    if not found:
        keys = ", ".join(sorted(map(str, record))) or "none"
        raise UserError(
            f"{where}: no {m.problem!r} field (fields found: {keys}). Point fields.problem at "
            "the field that holds the problem."
        )
    if isinstance(value, list):
        users = [
            msg.get("content")
            for msg in value
            if isinstance(msg, dict) and msg.get("role") == "user"
        ]
        text = users[-1] if users else None
        if not isinstance(text, str) or not text.strip():
            raise UserError(
                f"{where}: {m.problem!r} must be a list of chat messages with a non-empty user "
                'message (e.g. [{"role": "user", "content": "..."}]), got '
                f"{str(value)[:80]!r}."
            )
    else:
        text = value
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{where}: {m.problem!r} must be non-empty text, got {text!r:.80}.")
    check_text(text, where, m.problem)
    return strip_dapo(text) if m.strip_dapo else text


def _problem_id(record: dict[str, Any], m: RecordMap, where: str) -> str | None:
    for key in m.ids:
        found, value = dig(record, key)
        if found and value not in (None, ""):
            text = str(value)
            check_text(text, where, key)
            return text
    return None


def _answer(record: dict[str, Any], m: RecordMap, where: str, require_answers: bool) -> str | None:
    if m.answer is not None:
        text = answer_text(dig(record, m.answer)[1], where, m.answer, require_answers)
        if text is not None:
            return gsm8k_answer(text) if m.answer_rule == "gsm8k" else text.strip()
    if m.solution is not None:
        solution = dig(record, m.solution)[1]
        if isinstance(solution, str):
            if require_answers:
                check_text(solution, where, m.solution)
            return last_boxed(solution) or None
    return None


def check_text(text: str, where: str, key: str) -> None:
    """Refuse a lone UTF-16 surrogate (a JSON "\\ud800" escape without its pair): it is not
    text, and would fail only later, when a tokenizer or a log file encodes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UserError(
            f"{where}: '{key}' holds a lone surrogate (\\u{ord(text[e.start]):04x}) at "
            f"character {e.start + 1}: half of a UTF-16 pair, not a character. Fix that "
            "escape in the file (a character outside the BMP takes two, e.g. \\ud83d\\ude00)."
        ) from None


def answer_text(value: Any, where: str, key: str, require_answers: bool) -> str | None:
    """A gold answer as text: text, or a whole or finite number; None when absent.

    Anything else (a list, a mapping, true/false, NaN) would become a gold answer nobody
    wrote, e.g. "[1, 2]"; it is refused for labeled problems and ignored in a prompt pool.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        or isinstance(value, float)
        and math.isfinite(value)
    ):
        text = str(value)
    elif not require_answers:
        return None
    else:
        got = {list: "a list", dict: "a mapping", bool: "true or false"}.get(type(value))
        shown = f"{got} ({excerpt(value)})" if got else excerpt(value)
        raise UserError(
            f"{where}: '{key}' must be text or a number, got {shown}. Write the one final "
            'answer as text, e.g. "answer": "\\frac{1}{2}"; a problem with several answers '
            'needs them in one string, e.g. "1, 2".'
        )
    if not require_answers:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    else:
        check_text(text, where, key)
    return text if text.strip() else None
