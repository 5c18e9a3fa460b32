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

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.contracts import UserError

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
    if file_path.is_dir():
        rows: Iterable[tuple[str, Any]] = _read_hf_dir(file_path, split, spec)
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
    problems = [_to_problem(record, where, spec, require_answers) for where, record in rows]
    if not problems:
        raise UserError(f"{spec} holds no problems. Point the plan at a file with at least one.")
    return problems


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
        for number, record in enumerate(records, start=1):
            yield f"{path}, record {number}", record
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
        yield f"{path}, line {number}", record


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
        yield f"{path}, row {number}", record


def _read_hf_dir(path: Path, split: str, spec: str) -> Iterator[tuple[str, Any]]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise UserError(
            f"{path} is a directory but not a saved dataset (no dataset_info.json or "
            "dataset_dict.json). Save it with Dataset.save_to_disk or point at a file."
        ) from None
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
    for number, record in enumerate(loaded, start=1):
        yield f"{spec}, row {number}", record


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
    answer = _answer(record, key)
    if answer is None and require_answers:
        raise UserError(
            f"{where}: no answer. Labeled problems need an 'answer' field, or a "
            "'solution' whose last \\boxed{...} holds the answer. Add answers, or use "
            "this file as an unlabeled prompt pool (datasets.prompts in the plan)."
        )
    id_key = next((k for k in _ID_FIELDS if record.get(k) not in (None, "")), None)
    problem_id = str(record[id_key]) if id_key else text_hash(text)
    return MathProblem(id=problem_id, problem=text, answer=answer, source=source)


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
    reward = record.get("reward_model")
    truth = reward.get("ground_truth") if isinstance(reward, dict) else None
    answer = str(truth).strip() if truth is not None and str(truth).strip() else None
    if answer is None and require_answers:
        raise UserError(
            f"{where}: no answer. A chat-format record needs reward_model.ground_truth "
            "(the DAPO-Math-17k schema); add it, or use this file as an unlabeled prompt pool."
        )
    extra = record.get("extra_info")
    index = extra.get("index") if isinstance(extra, dict) else None
    problem_id = str(index) if index not in (None, "") else text_hash(text)
    return MathProblem(id=problem_id, problem=text, answer=answer, source=source)


def _answer(record: dict[str, Any], problem_key: str) -> str | None:
    answer = record.get("answer")
    if answer is not None and str(answer).strip():
        text = str(answer)
        return gsm8k_answer(text) if problem_key == "question" else text.strip()
    solution = record.get("solution")
    if isinstance(solution, str):
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
