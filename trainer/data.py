"""Problems in, label splits out: what each stage of a plan may read.

Loads math problems from JSON lines, parquet, a ``datasets`` directory or a hub
dataset in the local cache, read by a built-in map of the public sets (MATH,
AIME, GSM8K, DAPO-Math-17k) or the plan's own field map (trainer.formats), then splits the labeled pool the way the plan
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
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from planner.contracts import UserError
from planner.contracts.data import DataRef, as_ref, looks_like_hub_id
from planner.contracts.errors import excerpt
from planner.contracts.files import NESTED_TOO_DEEPLY
from trainer.formats import parse_record

_SPLIT_SEP = "::"
_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


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


# ---- problems ------------------------------------------------------------


def normalize_text(text: str) -> str:
    """What makes two problems "the same": whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()[:16]


# ---- loading --------------------------------------------------------------


def load_problems(
    ref: str | Path | DataRef, require_answers: bool = True, zoo: str | Path | None = None
) -> list[MathProblem]:
    """Problems from a data reference (planner.contracts.data): a .jsonl/.json or .parquet
    file, a ``save_to_disk`` directory, a hub dataset id in the local cache, or ``toy:``.

    A dataset holding several splits takes ``"train"`` (or its only split); choose
    another with ``path::split`` or ``split:``.
    """
    ref = as_ref(str(ref) if isinstance(ref, Path) else ref)
    spec, rows = read_records(ref, zoo)
    labels, problems = [], []
    for label, record in rows:  # label: "line 3", "record 3" or "row 3"
        where = f"{spec}, {label}"
        parsed = parse_record(record, where, ref.format, ref.fields, require_answers)
        pid = parsed.id if parsed.id is not None else text_hash(parsed.problem)
        labels.append(label)
        problems.append(MathProblem(pid, parsed.problem, parsed.answer, str(ref)))
    if not problems:
        raise UserError(f"{spec} holds no problems. Point the plan at a file with at least one.")
    if require_answers:
        _refuse_conflicting_answers(problems, labels, spec)
    return problems


def is_hub_id(path: str) -> bool:
    """``org/name`` that is not a local path: a Hugging Face dataset id."""
    return looks_like_hub_id(path) and not Path(path).expanduser().exists()


def locate(ref: str | DataRef, zoo: str | Path | None = None) -> Path | None:
    """Where a data reference lives on this machine (a hub id: its cached copy), or None."""
    ref = as_ref(ref)
    if ref.path.startswith("toy:"):
        from trainer.models import resolve_data_path

        try:
            path = resolve_data_path(ref.path, zoo)
        except UserError:  # the toy zoo is not built (or not where the plan says)
            return None
        return path if path.exists() else None
    path = Path(ref.path).expanduser()
    if path.exists():
        return path
    return hub_snapshot(ref.path) if looks_like_hub_id(ref.path) else None


def read_records(
    ref: DataRef, zoo: str | Path | None = None
) -> tuple[str, Iterable[tuple[str, Any]]]:
    """Where the records come from (as messages name it) and the records, labelled."""
    if ref.path.startswith("toy:"):
        from trainer.models import resolve_data_path

        ref = replace(ref, path=str(resolve_data_path(ref.path, zoo)))
    file_path = Path(ref.path).expanduser()
    spec = str(ref)
    if not file_path.exists() and is_hub_id(ref.path):
        return spec, _read_hub(ref)
    if not file_path.exists():
        raise UserError(
            f"Problem file {file_path} does not exist. Check the path in the plan's "
            "datasets section (relative paths are resolved from the current directory)."
        )
    if ref.split and not file_path.is_dir():
        raise UserError(
            f"{spec}: '{_SPLIT_SEP}{ref.split}' chooses a split, which only a datasets "
            f"directory has; {file_path} is a file. Drop '{_SPLIT_SEP}{ref.split}'."
        )
    if file_path.is_dir():
        return spec, _read_hf_dir(file_path, ref.split or "", spec)
    if file_path.suffix.lower() in _JSON_SUFFIXES:
        return str(file_path), _read_json_lines(file_path)
    if file_path.suffix.lower() == ".parquet":
        return str(file_path), _read_parquet(file_path)
    raise UserError(
        f"{file_path}: unknown file type '{file_path.suffix}'. Problems can be read "
        "from JSON lines (.jsonl, .json), parquet (.parquet), a directory written "
        "by datasets' save_to_disk or a hub dataset id; convert the file to one of these."
    )


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
    dataset = _pick_split(loaded, split, spec, str(path))
    return _dataset_rows(dataset, lambda why: _not_a_dataset(path, why))


def _pick_split(loaded: Any, split: str, spec: str, shown: str) -> Any:
    """One split of a DatasetDict: the one asked for, else train, else the only one."""
    import datasets

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
                f"{shown} holds splits {', '.join(names)} and none is 'train'. Choose "
                f"one with {shown}{_SPLIT_SEP}<split>, e.g. {shown}{_SPLIT_SEP}{names[0]}."
            )
        if chosen not in names:
            raise UserError(f"{spec}: no split '{chosen}' in {shown}; it has {', '.join(names)}.")
        return loaded[chosen]
    if split:
        raise UserError(
            f"{spec}: {shown} holds a single dataset, not splits. Drop '{_SPLIT_SEP}{split}'."
        )
    return loaded


def _dataset_rows(dataset: Any, damaged: Any) -> Iterator[tuple[str, Any]]:
    rows = iter(dataset)
    for number in itertools.count(1):
        try:
            record = next(rows)
        except StopIteration:
            return
        except Exception as e:  # a damaged .arrow file shows only when read
            raise UserError(
                damaged(f"row {number}: {type(e).__name__}: {excerpt(str(e))}")
            ) from None
        yield f"row {number}", record


def hub_snapshot(repo_id: str) -> Path | None:
    """The newest copy of hub dataset ``repo_id`` in the local Hugging Face cache, or None.

    ``hf download --repo-type dataset ID`` puts one there, and so does loading it once
    with ``datasets.load_dataset`` on a machine with network; nothing is downloaded here.
    """
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, repo_type="dataset", local_files_only=True))
    except Exception:
        return None


def _read_hub(ref: DataRef) -> Iterator[tuple[str, Any]]:
    import datasets

    snapshot = hub_snapshot(ref.path)
    if snapshot is None:
        raise UserError(
            f"dataset {ref.path!r} is neither a local path nor in the local Hugging Face cache "
            "(nothing is downloaded at run time). Fetch it first with "
            f"`hf download --repo-type dataset {ref.path}`, or give the path of a local file "
            "or save_to_disk directory."
        )
    try:
        loaded = datasets.load_dataset(str(snapshot), name=ref.config)
    except Exception as e:  # an unknown config, unreadable files: datasets raises many types
        raise UserError(
            f"{ref.path} (cached at {snapshot}) could not be read by datasets "
            f"({type(e).__name__}: {excerpt(str(e))}). Check `config:` and the files there, "
            "or fetch it again with `hf download --repo-type dataset --force-download`."
        ) from None
    dataset = _pick_split(loaded, ref.split or "", str(ref), ref.path)
    return _dataset_rows(
        dataset, lambda why: f"{ref.path} (cached at {snapshot}) is not readable ({why})."
    )


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
