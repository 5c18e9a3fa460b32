"""Loading problems in every supported shape, every user error, and the label split."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.contracts.errors import UserError
from trainer.data import (
    MathProblem,
    Prompt,
    Split,
    find_overlap,
    load_problems,
    normalize_text,
    split_pool,
    text_hash,
)
from trainer.formats import gsm8k_answer, last_boxed


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def problems(n: int, prefix: str = "p") -> list[MathProblem]:
    return [MathProblem(f"{prefix}{i}", f"Problem {prefix} {i}?", str(i), "test") for i in range(n)]


# ---- answers --------------------------------------------------------------


@pytest.mark.parametrize(
    "solution, expected",
    [
        ("so $x = \\boxed{5}$.", "5"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{a^{b^{c}}} done", "a^{b^{c}}"),
        ("\\boxed{3} and then \\boxed{broken", "3"),
        ("no box at all", None),
    ],
)
def test_last_boxed(solution, expected):
    assert last_boxed(solution) == expected


def test_gsm8k_answer_takes_the_number_after_hashes():
    assert gsm8k_answer("She pays 5 * 200 = 1,000 dollars.\n#### 1,000") == "1000"
    assert gsm8k_answer("42") == "42"


def test_normalized_text_ignores_case_and_spacing():
    assert normalize_text("  What is\n2+2?  ") == normalize_text("what IS 2+2?")
    assert text_hash("What is  2+2?") == text_hash("what is 2+2?")
    assert text_hash("What is 2+2?") != text_hash("What is 2+3?")


# ---- formats -------------------------------------------------------------------


def test_jsonl_math_with_answer(tmp_path):
    path = write_jsonl(
        tmp_path / "math.jsonl",
        [
            {"problem": "What is 1+1?", "answer": "2", "unique_id": "algebra/1.json"},
            {"problem": "Half of 1?", "answer": "\\frac{1}{2}"},
        ],
    )
    loaded = load_problems(path)
    assert loaded[0] == MathProblem("algebra/1.json", "What is 1+1?", "2", str(path))
    assert loaded[1].answer == "\\frac{1}{2}"
    assert loaded[1].id == text_hash("Half of 1?")


def test_jsonl_math_with_solution_only(tmp_path):
    path = write_jsonl(
        tmp_path / "math.json",
        [{"problem": "Solve.", "solution": "First \\boxed{1}, finally \\boxed{\\sqrt{2}}."}],
    )
    assert load_problems(path)[0].answer == "\\sqrt{2}"


def test_json_array_file(tmp_path):
    path = tmp_path / "math.json"
    path.write_text(json.dumps([{"problem": "P?", "answer": 3}]), encoding="utf-8")
    assert load_problems(path)[0].answer == "3"


def test_jsonl_gsm8k(tmp_path):
    path = write_jsonl(
        tmp_path / "gsm8k.jsonl",
        [{"question": "How much?", "answer": "2 * 600 = 1,200\n#### 1,200", "id": 7}],
    )
    assert load_problems(path) == [MathProblem("7", "How much?", "1200", str(path))]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "math.parquet"
    pq.write_table(pa.table({"problem": ["A?", "B?"], "answer": ["1", "2"]}), path)
    assert [(p.problem, p.answer) for p in load_problems(path)] == [("A?", "1"), ("B?", "2")]


def test_hf_dataset_directory(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"problem": ["A?"], "answer": ["1"]}).save_to_disk(
        str(tmp_path / "single")
    )
    assert load_problems(tmp_path / "single")[0].answer == "1"

    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"problem": ["T?"], "answer": ["1"]}),
            "test": datasets.Dataset.from_dict({"problem": ["E?"], "answer": ["2"]}),
        }
    )
    splits.save_to_disk(str(tmp_path / "dict"))
    assert load_problems(tmp_path / "dict")[0].problem == "T?"
    chosen = load_problems(f"{tmp_path / 'dict'}::test")
    assert chosen[0].problem == "E?"
    assert chosen[0].source == f"{tmp_path / 'dict'}::test"


def test_without_answers_when_not_required(tmp_path):
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"problem": "Unlabeled?"}])
    assert load_problems(path, require_answers=False)[0].answer is None


# ---- errors ------------------------------------------------------------------


def load_error(path, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load_problems(path, **kwargs)
    return str(info.value)


def test_missing_file(tmp_path):
    message = load_error(tmp_path / "nope.jsonl")
    assert "nope.jsonl does not exist" in message


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"problem": "a", "answer": "1"}\n{"problem": "caf\xe9", "answer": "1"}\n')
    message = load_error(path)
    assert "line 2" in message and "not UTF-8" in message and "iconv" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    assert "is empty" in load_error(path)


def test_line_that_is_not_json(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"problem": "a", "answer": "1"}\n\n{"problem": oops}\n', encoding="utf-8")
    message = load_error(path)
    assert "line 3" in message and "not a JSON object" in message


def test_record_without_problem_lists_fields(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"prompt": "a", "label": "1"}])
    message = load_error(path)
    assert "no 'problem' or 'question' field" in message
    assert "fields found: label, prompt" in message
    assert "line 1" in message


def test_record_that_is_not_an_object(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('["a", "b"]\n', encoding="utf-8")
    assert "expected a JSON object" in load_error(path)


def test_answers_required(tmp_path):
    path = write_jsonl(
        tmp_path / "x.jsonl",
        [{"problem": "a", "answer": "1"}, {"problem": "b", "solution": "no box here"}],
    )
    message = load_error(path)
    assert "line 2: no answer" in message and "datasets.prompts" in message


def test_unknown_extension(tmp_path):
    path = tmp_path / "problems.csv"
    path.write_text("problem,answer\n", encoding="utf-8")
    message = load_error(path)
    assert "unknown file type '.csv'" in message and ".parquet" in message


def test_directory_that_is_not_a_dataset(tmp_path):
    assert "not a saved dataset" in load_error(tmp_path)


def test_ambiguous_dataset_dict_names_splits(tmp_path):
    import datasets

    datasets.DatasetDict(
        {
            "a": datasets.Dataset.from_dict({"problem": ["A?"], "answer": ["1"]}),
            "b": datasets.Dataset.from_dict({"problem": ["B?"], "answer": ["2"]}),
        }
    ).save_to_disk(str(tmp_path / "dict"))
    message = load_error(tmp_path / "dict")
    assert "splits a, b" in message and "::a" in message
    assert "no split 'c'" in load_error(f"{tmp_path / 'dict'}::c")


def test_split_suffix_on_a_file(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"problem": "a", "answer": "1"}])
    assert "only a datasets directory has" in load_error(f"{path}::train")


# ---- splitting ----------------------------------------------------------------


def test_split_is_deterministic_and_seed_dependent():
    pool = problems(50)
    a = split_pool(pool, stage1=10, stage3=5, prompts=20, seed=3)
    b = split_pool(list(reversed(pool)), stage1=10, stage3=5, prompts=20, seed=3)
    c = split_pool(pool, stage1=10, stage3=5, prompts=20, seed=4)
    assert a == b  # file order does not matter
    assert a.stage1 != c.stage1


def test_split_is_independent_of_hash_randomisation():
    code = (
        "from trainer.data import MathProblem, split_pool\n"
        "pool = [MathProblem(f'p{i}', f'Problem {i}?', str(i), 't') for i in range(30)]\n"
        "s = split_pool(pool, stage1=5, stage3=5, prompts=5, seed=11)\n"
        "print([p.id for p in s.stage1 + s.stage3] + [p.id for p in s.prompts])\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2)
    }
    assert len(runs) == 1
    assert runs.pop().startswith("['p")


def test_prompts_carry_no_answers():
    split = split_pool(problems(10), stage1=2, stage3=2, prompts=6, seed=0)
    assert all(type(p) is Prompt for p in split.prompts)
    assert all(not hasattr(p, "answer") for p in split.prompts)
    assert [f.name for f in dataclasses.fields(Prompt)] == ["id", "problem"]
    # Frozen and slotted: no answer can be attached later either. (Python 3.11 raises
    # TypeError here rather than FrozenInstanceError, a known dataclass quirk.)
    with pytest.raises((AttributeError, TypeError)):
        split.prompts[0].answer = "1"  # type: ignore[attr-defined]


def test_eval_problems_removed_by_normalized_text():
    pool = problems(10)
    eval_set = [MathProblem("e", "  PROBLEM p 3? ", "3", "eval")]
    split = split_pool(pool, stage1=4, stage3=3, prompts=2, seed=1, eval_sets=[eval_set])
    drawn = {p.id for p in split.stage1 + split.stage3} | {p.id for p in split.prompts}
    assert "p3" not in drawn and len(drawn) == 9


def test_prompt_pool_is_used_and_cleaned():
    labeled = problems(5)
    extra = problems(5, prefix="u") + [MathProblem("dup", labeled[0].problem, None, "u")]
    split = split_pool(labeled, stage1=5, stage3=0, prompts=5, seed=0, prompt_pool=extra)
    assert sorted(p.id for p in split.prompts) == [f"u{i}" for i in range(5)]
    with pytest.raises(UserError, match="asks for 6 prompts but the prompt pool has 5"):
        split_pool(labeled, stage1=5, stage3=0, prompts=6, seed=0, prompt_pool=extra)


def test_too_small_pool_says_what_is_available():
    pool = problems(10) + [MathProblem("again", "problem P 1?", "1", "test")]
    eval_set = problems(2)[:1]
    with pytest.raises(UserError) as info:
        split_pool(pool, stage1=8, stage3=3, prompts=0, seed=0, eval_sets=[eval_set])
    message = str(info.value)
    assert "9 usable problems" in message and "1 also in an eval set" in message
    assert "1 duplicates" in message and "8 + 3 = 11" in message
    with pytest.raises(UserError, match="asks for 5 prompts but the unallocated rest"):
        split_pool(problems(10), stage1=4, stage3=2, prompts=5, seed=0)


def test_negative_counts_are_refused():
    with pytest.raises(UserError, match="labels.stage3 is -1"):
        split_pool(problems(3), stage1=1, stage3=-1, prompts=0, seed=0)


def test_find_overlap():
    train = problems(5)
    eval_set = [
        MathProblem("e1", "problem P 2?", "2", "eval"),
        MathProblem("e2", "new?", "1", "eval"),
    ]
    assert find_overlap(eval_set, train) == ["e1"]
    assert find_overlap(train, eval_set) == ["p2"]
    assert find_overlap(eval_set, []) == []


def all_texts(split: Split) -> list[str]:
    return [normalize_text(p.problem) for p in [*split.stage1, *split.stage3, *split.prompts]]


@settings(max_examples=60, deadline=None)
@given(
    pool_size=st.integers(0, 40),
    eval_size=st.integers(0, 10),
    use_prompt_pool=st.booleans(),
    fractions=st.tuples(*[st.floats(0, 1)] * 3),
    seed=st.integers(0, 2**32),
)
def test_split_properties(pool_size, eval_size, use_prompt_pool, fractions, seed):
    rng = random.Random(seed)
    # Problems drawn from a small universe, so pools, evals and prompts collide.
    universe = problems(60)
    labeled = rng.sample(universe, pool_size)
    eval_set = rng.sample(universe, eval_size)
    prompt_pool = rng.sample(universe, 30) if use_prompt_pool else None
    eval_texts = {normalize_text(p.problem) for p in eval_set}
    usable = [p for p in labeled if normalize_text(p.problem) not in eval_texts]
    stage1 = int(fractions[0] * len(usable))
    stage3 = int(fractions[1] * (len(usable) - stage1))
    taken = {normalize_text(p.problem) for p in usable} if use_prompt_pool else set()
    candidates = (
        [p for p in prompt_pool if normalize_text(p.problem) not in eval_texts | taken]
        if prompt_pool is not None
        else usable
    )
    # With a prompt pool only the drawn labels are excluded, so this bound is safe.
    room = len(candidates) if prompt_pool is not None else len(usable) - stage1 - stage3
    prompts = int(fractions[2] * room)

    split = split_pool(labeled, stage1, stage3, prompts, seed, [eval_set], prompt_pool)

    assert (len(split.stage1), len(split.stage3), len(split.prompts)) == (stage1, stage3, prompts)
    texts = all_texts(split)
    assert len(set(texts)) == len(texts)  # stage1, stage3 and prompts are disjoint
    assert not set(texts) & eval_texts
    assert find_overlap(eval_set, split.stage1 + split.stage3) == []
    labeled_ids = {p.id for p in usable}
    assert {p.id for p in split.stage1 + split.stage3} <= labeled_ids
    source_ids = {p.id for p in prompt_pool} if prompt_pool is not None else labeled_ids
    assert {p.id for p in split.prompts} <= source_ids
    if prompt_pool is None and stage1 + stage3 + prompts == len(usable):
        assert {p.id for p in split.stage1 + split.stage3 + split.prompts} == labeled_ids
    assert split == split_pool(labeled, stage1, stage3, prompts, seed, [eval_set], prompt_pool)


def test_one_problem_twice_with_its_answer_written_two_ways_is_not_a_conflict(tmp_path):
    """Datasets with a row per solution repeat problems, their gold answers written differently."""
    import json

    from trainer.data import load_problems

    rows = [
        {"problem": "Half of one?", "answer": "\\frac{1}{2}"},
        {"problem": "Half of one?", "answer": "0.5"},
        {"problem": "Cost?", "answer": "$1,000"},
        {"problem": "Cost?", "answer": "1000"},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert len(load_problems(path)) == 4
