"""Problems in, label splits out: what each stage of a plan may read.

Loads math problems from JSON lines, parquet or a ``datasets`` directory in the
shapes public sets use (MATH: ``problem`` + ``answer`` or a ``solution``
whose last ``\\boxed{}`` is the answer; GSM8K: ``question`` + ``answer`` after
``####``; DAPO-Math-17k: a chat-format ``prompt`` with
``reward_model.ground_truth``), then splits the labeled pool the way the plan
says: stage 1 (teacher RL) and stage 3 (student RL) get disjoint labeled
draws, and the bridge (stages 2a/2b) gets :class:`Prompt` objects, which have no answer attribute at
all, so a distillation stage cannot leak labels even by accident. Every eval
problem is removed from every pool first, matched on normalised text, because
public math sets share problems under different ids. The paper does not say
how its stage-3 labels were chosen; here the draw is a seeded hash order of
the problem texts, so it does not depend on file order or on Python's hash
randomisation, and adding problems to a pool keeps earlier draws stable.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from planner.contracts import UserError
from planner.contracts.errors import excerpt
from planner.contracts.files import NESTED_TOO_DEEPLY

_SPLIT_SEP = "::"
_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
_PROBLEM_FIELDS = ("problem", "question")
_ID_FIELDS = ("id", "unique_id")


@dataclass(frozen=True, slots=True)
class MathProblem:
    id: str
    problem: str
    answer: str | None  # None only when loaded with require_answers=False
    source: str

    def prompt(self) -> Prompt:
        return Prompt(id=self.id, problem=self.problem)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A problem without its answer: all that stages 2a and 2b ever see."""

    id: str
    problem: str


@dataclass(frozen=True)
class Split:
    stage1: list[MathProblem]
    stage3: list[MathProblem]
    prompts: list[Prompt]


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


def normalize_text(text: str) -> str:
    """What makes two problems "the same": whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()[:16]


# ---- loading --------------------------------------------------------------


def load_problems(path: str | Path, require_answers: bool = True) -> list[MathProblem]:
    """Problems from a .jsonl/.json, a .parquet file or a ``save_to_disk`` directory.

    A directory holding several splits takes ``"train"`` (or its only split);
    choose another with ``path::split``.
    """
    spec = str(path)
    file_part, _, split = spec.partition(_SPLIT_SEP)
    file_path = Path(file_part)
    if not file_path.exists():
        raise UserError(
            f"Problem file {file_path} does not exist. Check the path in the plan's "
            "datasets section (relative paths are resolved from the current directory)."
        )
    if split and not file_path.is_dir():
        raise UserError(
            f"{spec}: '{_SPLIT_SEP}{split}' chooses a split, which only a datasets "
            f"directory has; {file_path} is a file. Drop '{_SPLIT_SEP}{split}'."
        )
    prefix = str(file_path)
    if file_path.is_dir():
        rows: Iterable[tuple[str, Any]] = _read_hf_dir(file_path, split, spec)
        prefix = spec
    elif file_path.suffix.lower() in _JSON_SUFFIXES:
        rows = _read_json_lines(file_path)
    elif file_path.suffix.lower() == ".parquet":
        rows = _read_parquet(file_path)
    else:
        raise UserError(
            f"{file_path}: unknown file type '{file_path.suffix}'. Problems can be read "
            "from JSON lines (.jsonl, .json), parquet (.parquet) or a directory written "
            "by datasets' save_to_disk; convert the file to one of these."
        )
    labels, problems = [], []
    for label, record in rows:  # label: "line 3", "record 3" or "row 3"
        labels.append(label)
        problems.append(_to_problem(record, f"{prefix}, {label}", spec, require_answers))
    if not problems:
        raise UserError(f"{spec} holds no problems. Point the plan at a file with at least one.")
    if require_answers:
        _refuse_conflicting_answers(problems, labels, prefix)
    return problems


_ANSWER_NOISE = re.compile(r"\\left|\\right|\\[,;!: ]|\$|\\%|%|\^\\circ|\s+")
_FRACTION = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}$|^(-?)(\d+)/(\d+)$")


def _canonical_answer(text: str) -> str | Fraction:
    """A gold answer as a number where it is one (1/2, \\frac{1}{2}, 0.5, 1,000), else as text
    without the notation that does not change it (``$``, ``\\left``, spacing, ``\\dfrac``)."""
    t = _ANSWER_NOISE.sub("", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    t = re.sub(r"^\\text\{(.*)\}$", r"\1", t).casefold()
    m = _FRACTION.match(t)
    if m:
        sign, num, den = (m.group(1), m.group(2), m.group(3)) if m.group(2) else m.group(4, 5, 6)
        if int(den):
            return Fraction(int(num), int(den)) * (-1 if sign else 1)
    with contextlib.suppress(ValueError, ZeroDivisionError):
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?|-?\d*\.?\d+", t):
            return Fraction(t.replace(",", ""))
    return t


def same_answer(a: str, b: str) -> bool:
    """Two gold answers written differently for the same value (``\\frac{1}{2}`` and ``0.5``)."""
    return a == b or _canonical_answer(a) == _canonical_answer(b)


def _refuse_conflicting_answers(
    problems: Sequence[MathProblem], labels: Sequence[str], prefix: str
) -> None:
    """The same problem (normalised text) twice with different answers: one of them is wrong.

    Identical copies are left for the split to drop; two gold answers for one problem would
    reward one right answer and punish it on the other copy, so they are refused.
    """
    first: dict[str, int] = {}
    for i, p in enumerate(problems):
        j = first.setdefault(normalize_text(p.problem), i)
        a, b = problems[j].answer, p.answer
        if j != i and not same_answer(a or "", b or ""):
            kind, n1 = labels[j].split(" ", 1)
            n2 = labels[i].split(" ", 1)[1]
            raise UserError(
                f"{prefix}: {kind}s {n1} and {n2} hold the same problem with different answers "
                f"({excerpt(a)} and {excerpt(b)}); a problem has one gold answer. Keep the "
                "right one and delete the other (identical copies are dropped on their own)."
            )


def _read_json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    if not data.strip():
        raise UserError(f"{path} is empty. Point the plan at a file with at least one problem.")
    if data.lstrip()[:1] == b"[":  # a .json file holding one array of records
        text = _decode(data, path, 1)
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}).") from None
        except (RecursionError, ValueError) as e:
            raise UserError(f"{path}: {_unreadable(e)}") from None
        for number, record in enumerate(records, start=1):
            yield f"record {number}", record
        return
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = _decode(raw, path, number).strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(
                f"{path}, line {number}: not a JSON object ({e.msg}). Each line of a "
                "JSON lines file must be one complete JSON object, e.g. "
                '{"problem": "...", "answer": "..."}.'
            ) from None
        except (RecursionError, ValueError) as e:
            raise UserError(f"{path}, line {number}: {_unreadable(e)}") from None
        yield f"line {number}", record


def _unreadable(e: BaseException) -> str:
    """Why valid-looking JSON could not be read: too deep, or a number Python will not hold."""
    if isinstance(e, RecursionError):
        return NESTED_TOO_DEEPLY
    digits = str(e).rsplit("value has ", 1)[-1].split(" ", 1)[0]
    return (
        f"a number of {digits} digits, beyond any answer or count (Python reads at most 4300); "
        "write such a value as text, in quotes."
        if digits.isdigit()
        else f"not readable ({excerpt(str(e))})."
    )


def _decode(raw: bytes, path: Path, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path}, line {line}: not UTF-8 (byte {raw[e.start]:#04x} at column "
            f"{e.start + 1}). Re-encode the file as UTF-8, e.g. "
            f"iconv -f latin1 -t utf-8 {path.name} > fixed.jsonl"
        ) from None


def _read_parquet(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise UserError(f"{path} is not a readable parquet file ({e}).") from None
    for number, record in enumerate(table.to_pylist(), start=1):
        yield f"row {number}", record


def _read_hf_dir(path: Path, split: str, spec: str) -> Iterator[tuple[str, Any]]:
    import datasets

    for name in ("dataset_dict.json", "dataset_info.json", "state.json"):
        _check_json_file(path, name)
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise UserError(
            f"{path} is a directory but not a saved dataset (no dataset_info.json or "
            "dataset_dict.json). Save it with Dataset.save_to_disk or point at a file."
        ) from None
    except Exception as e:  # datasets and pyarrow raise many types for a damaged directory
        raise UserError(_not_a_dataset(path, f"{type(e).__name__}: {excerpt(str(e))}")) from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded.keys())
        if split:
            chosen = split
        elif "train" in names:
            chosen = "train"
        elif len(names) == 1:
            chosen = names[0]
        else:
            raise UserError(
                f"{path} holds splits {', '.join(names)} and none is 'train'. Choose "
                f"one with {path}{_SPLIT_SEP}<split>, e.g. {path}{_SPLIT_SEP}{names[0]}."
            )
        if chosen not in names:
            raise UserError(f"{spec}: no split '{chosen}' in {path}; it has {', '.join(names)}.")
        loaded = loaded[chosen]
    elif split:
        raise UserError(
            f"{spec}: {path} holds a single dataset, not splits. Drop '{_SPLIT_SEP}{split}'."
        )
    rows = iter(loaded)
    for number in itertools.count(1):
        try:
            record = next(rows)
        except StopIteration:
            return
        except Exception as e:  # a damaged .arrow file shows only when read
            raise UserError(
                _not_a_dataset(path, f"row {number}: {type(e).__name__}: {excerpt(str(e))}")
            ) from None
        yield f"row {number}", record


def _not_a_dataset(path: Path, why: str) -> str:
    return (
        f"{path} is not a readable saved dataset ({why}). Save it again with "
        "Dataset.save_to_disk, or point at a JSON lines or parquet file."
    )


def _check_json_file(path: Path, name: str) -> None:
    """The metadata files of a saved dataset must be JSON objects (datasets trusts them)."""
    file = path / name
    if not file.is_file():
        return
    try:
        data = json.loads(file.read_bytes())
    except (ValueError, RecursionError) as e:
        why = (
            f"not valid JSON ({e.msg} at line {e.lineno})"
            if isinstance(e, json.JSONDecodeError)
            else "not readable JSON"
        )
        raise UserError(_not_a_dataset(path, f"{name}: {why}")) from None
    if not isinstance(data, dict):
        raise UserError(
            _not_a_dataset(path, f"{name}: a JSON {type(data).__name__}, not an object")
        )


def _to_problem(record: Any, where: str, source: str, require_answers: bool) -> MathProblem:
    if not isinstance(record, dict):
        raise UserError(
            f"{where}: expected a JSON object with a 'problem' field, got {type(record).__name__}."
        )
    if isinstance(record.get("prompt"), list) and not any(k in record for k in _PROBLEM_FIELDS):
        return _chat_record(record, where, source, require_answers)
    key = next((k for k in _PROBLEM_FIELDS if k in record), None)
    if key is None:
        found = ", ".join(sorted(map(str, record))) or "none"
        raise UserError(
            f"{where}: no 'problem' or 'question' field (fields found: {found}). Rename "
            "the field holding the problem text to 'problem'."
        )
    text = record[key]
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: '{key}' must be non-empty text, got {text!r:.80}.")
    _check_text(text, where, key)
    answer = _answer(record, key, where, require_answers)
    if answer is None and require_answers:
        raise UserError(
            f"{where}: no answer. Labeled problems need an 'answer' field, or a "
            "'solution' whose last \\boxed{...} holds the answer. Add answers, or use "
            "this file as an unlabeled prompt pool (datasets.prompts in the plan)."
        )
    id_key = next((k for k in _ID_FIELDS if record.get(k) not in (None, "")), None)
    problem_id = str(record[id_key]) if id_key else text_hash(text)
    if id_key:
        _check_text(problem_id, where, id_key)
    return MathProblem(id=problem_id, problem=text, answer=answer, source=source)


def _check_text(text: str, where: str, key: str) -> None:
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


def _answer_text(value: Any, where: str, key: str, require_answers: bool) -> str | None:
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
        _check_text(text, where, key)
    return text if text.strip() else None


def _chat_record(
    record: dict[str, Any], where: str, source: str, require_answers: bool
) -> MathProblem:
    """DAPO-Math-17k's schema (verl's RL format): a chat-format ``prompt`` and
    ``reward_model.ground_truth``. The problem is the last user message, as written."""
    messages = record["prompt"]
    users = [
        m.get("content")
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict) and m.get("role") == "user"
    ]
    text = users[-1] if users else None
    if not isinstance(text, str) or not text.strip():
        raise UserError(
            f"{where}: 'prompt' must be a list of chat messages with a non-empty user message "
            '(e.g. [{"role": "user", "content": "..."}]), got '
            f"{str(messages)[:80]!r}."
        )
    _check_text(text, where, "prompt")
    reward = record.get("reward_model")
    truth = reward.get("ground_truth") if isinstance(reward, dict) else None
    truth = _answer_text(truth, where, "reward_model.ground_truth", require_answers)
    answer = truth.strip() if truth is not None else None
    if answer is None and require_answers:
        raise UserError(
            f"{where}: no answer. A chat-format record needs reward_model.ground_truth "
            "(the DAPO-Math-17k schema); add it, or use this file as an unlabeled prompt pool."
        )
    extra = record.get("extra_info")
    index = extra.get("index") if isinstance(extra, dict) else None
    problem_id = str(index) if index not in (None, "") else text_hash(text)
    return MathProblem(id=problem_id, problem=text, answer=answer, source=source)


def _answer(
    record: dict[str, Any], problem_key: str, where: str, require_answers: bool
) -> str | None:
    text = _answer_text(record.get("answer"), where, "answer", require_answers)
    if text is not None:
        return gsm8k_answer(text) if problem_key == "question" else text.strip()
    solution = record.get("solution")
    if isinstance(solution, str):
        if require_answers:
            _check_text(solution, where, "solution")
        return last_boxed(solution) or None
    return None


# ---- splitting ---------------------------------------------------------------


def _draw_order(problems: Iterable[MathProblem], seed: int, salt: str) -> list[MathProblem]:
    """Unique problems in a seeded order that depends on their texts alone."""
    unique: dict[str, MathProblem] = {}
    for p in problems:
        unique.setdefault(normalize_text(p.problem), p)

    def rank(text: str) -> str:
        return hashlib.sha256(f"{salt}:{seed}:{text}".encode()).hexdigest()

    return [unique[text] for text in sorted(unique, key=rank)]


def _texts(problems: Iterable[MathProblem | Prompt]) -> set[str]:
    return {normalize_text(p.problem) for p in problems}


def split_pool(
    labeled: list[MathProblem],
    stage1: int,
    stage3: int,
    prompts: int,
    seed: int,
    eval_sets: Sequence[Sequence[MathProblem]] = (),
    prompt_pool: list[MathProblem] | None = None,
) -> Split:
    """Draw the stage-1 labels, the stage-3 labels and the bridge prompts, all disjoint.

    Eval problems and duplicates (same normalised text) leave every pool first.
    Prompts come from ``prompt_pool`` when given, else from the labeled problems
    neither stage was allocated, and never carry answers.
    """
    for name, count in (("stage1", stage1), ("stage3", stage3), ("prompts", prompts)):
        if count < 0:
            raise UserError(f"labels.{name} is {count}; it must be 0 or more.")
    held_out = set().union(*(_texts(s) for s in eval_sets)) if eval_sets else set()

    usable = [p for p in labeled if normalize_text(p.problem) not in held_out]
    order = _draw_order(usable, seed, "labels")
    asked = stage1 + stage3
    if asked > len(order):
        raise UserError(
            f"The labeled pool has {len(order)} usable problems ({len(labeled)} loaded, "
            f"{len(labeled) - len(usable)} also in an eval set, "
            f"{len(usable) - len(order)} duplicates) but the plan asks for "
            f"stage1 + stage3 = {stage1} + {stage3} = {asked}. Lower labels.stage1 "
            "or labels.stage3, or use a larger labeled pool."
        )
    first, third = order[:stage1], order[stage1:asked]

    if prompt_pool is None:
        source, candidates = "the unallocated rest of the labeled pool", order[asked:]
    else:
        taken = held_out | _texts(first) | _texts(third)
        fresh = [p for p in prompt_pool if normalize_text(p.problem) not in taken]
        source, candidates = "the prompt pool", _draw_order(fresh, seed, "prompts")
    if prompts > len(candidates):
        raise UserError(
            f"The plan asks for {prompts} prompts but {source} has {len(candidates)} "
            "problems left after removing eval problems, duplicates and the stage-1 and "
            "stage-3 labels. Lower labels.prompts, or give a larger unlabeled "
            "pool in datasets.prompts."
        )
    return Split(
        stage1=first,
        stage3=third,
        prompts=[p.prompt() for p in candidates[:prompts]],
    )


def find_overlap(a: Iterable[MathProblem | Prompt], b: Iterable[MathProblem | Prompt]) -> list[str]:
    """Ids of the problems in ``a`` whose normalised text also appears in ``b``."""
    in_b = _texts(b)
    return [p.id for p in a if normalize_text(p.problem) in in_b]
