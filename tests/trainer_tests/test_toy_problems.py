import random
import re

import pytest

from trainer.toy.presets import PRESETS
from trainer.toy.problems import (
    LEVELS,
    ToyProblem,
    corrupt,
    record,
    sample_pretraining,
    split_problems,
    worked_solution,
)

STEP = re.compile(r"^(\d+)([+*])(\d+)=(\d+)$")


def step_values(solution: str) -> list[tuple[int, str, int, int]]:
    lines = solution.split("\n")
    assert re.fullmatch(r"\\boxed\{\d+\}", lines[-1])
    out = []
    for line in lines[:-1]:
        m = STEP.match(line)
        assert m, line
        out.append((int(m[1]), m[2], int(m[3]), int(m[4])))
    return out


def true_result(x: int, op: str, y: int) -> int:
    return x + y if op == "+" else x * y


def boxed(solution: str) -> int:
    return int(re.search(r"\\boxed\{(\d+)\}", solution)[1])


def test_level_sizes():
    assert {n: len(lv.problems()) for n, lv in LEVELS.items()} == {
        1: 100,
        2: 810,
        3: 64,
        4: 1000,
        5: 8100,
    }


def test_worked_solutions_by_hand():
    assert worked_solution(ToyProblem(1, (3, 4))) == ("3+4=7\n\\boxed{7}", 7)
    assert worked_solution(ToyProblem(2, (37, 5))) == ("7+5=12\n30+12=42\n\\boxed{42}", 42)
    assert worked_solution(ToyProblem(3, (7, 8))) == ("7*8=56\n\\boxed{56}", 56)
    assert worked_solution(ToyProblem(4, (3, 4, 5))) == ("4*5=20\n3+20=23\n\\boxed{23}", 23)
    assert worked_solution(ToyProblem(5, (37, 45))) == (
        "7+5=12\n30+40=70\n70+12=82\n\\boxed{82}",
        82,
    )
    assert ToyProblem(4, (3, 4, 5)).text == "What is 3+4*5?"
    assert ToyProblem(4, (3, 4, 5)).id == "addmul:3+4*5"


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_clean_solutions_are_correct_everywhere(level):
    for p in LEVELS[level].problems():
        solution, answer = worked_solution(p)
        assert answer == eval(p.expression)  # the expressions are plain + and * of ints
        assert boxed(solution) == answer
        for x, op, y, z in step_values(solution):
            assert true_result(x, op, y) == z
        assert len(solution) <= 40


def test_record_fields():
    r = record(ToyProblem(5, (37, 45)), noise=1.0, rng=random.Random(0))
    assert set(r) == {"problem", "solution", "answer", "level", "id"}
    assert r["answer"] == "82" and r["level"] == 5
    assert boxed(r["solution"]) != 82  # noisy solution, correct answer field


def test_corrupt_always_changes_and_stays_non_negative():
    rng = random.Random(1)
    for value in list(range(0, 200)) + [1000, 1980]:
        for _ in range(20):
            bad = corrupt(value, rng)
            assert bad != value and bad >= 0
            assert len(str(bad)) <= len(str(value)) + 1


@pytest.mark.parametrize("noise", [0.2, 0.5])
def test_noise_corrupts_boxed_answer_at_requested_rate(noise):
    rng = random.Random(7)
    problems = [p for lv in LEVELS.values() for p in lv.problems()[:400]]
    wrong = 0
    n = 4000
    for _ in range(n):
        p = rng.choice(problems)
        solution, answer = worked_solution(p, noise, rng)
        steps = step_values(solution)
        bad_steps = [s for s in steps if true_result(s[0], s[1], s[2]) != s[3]]
        assert len(bad_steps) <= 1
        assert answer == boxed(solution) == steps[-1][3]
        if answer != p.answer:
            wrong += 1
            assert len(bad_steps) == 1  # one corrupted step, carried into the answer
        else:
            assert not bad_steps
    assert abs(wrong / n - noise) < 0.03


def test_noise_needs_rng():
    with pytest.raises(ValueError):
        worked_solution(ToyProblem(1, (1, 2)), noise=0.5)


def test_generation_is_deterministic_given_seed():
    split = PRESETS["default"].split
    a, b, c = split_problems(split, 0), split_problems(split, 0), split_problems(split, 1)
    assert a == b and a["eval"] != c["eval"]
    pool = a["rest"][:500]
    weights = {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}
    x = sample_pretraining(pool, weights, 0.5, random.Random("s"), 50)
    y = sample_pretraining(pool, weights, 0.5, random.Random("s"), 50)
    assert x == y and len(x) == 50


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_splits_are_disjoint_and_sized(preset):
    split = PRESETS[preset].split
    sets = split_problems(split, 0)
    texts = {k: {p.text for p in v} for k, v in sets.items()}
    assert not texts["eval"] & texts["train"]
    assert not texts["eval"] & texts["prompts"]
    assert not texts["train"] & texts["prompts"]
    assert not texts["eval"] & texts["rest"]
    assert texts["train"] | texts["prompts"] <= texts["rest"]
    for k, i in (("eval", 0), ("train", 1), ("prompts", 2)):
        assert len(texts[k]) == len(sets[k]) == sum(c[i] for c in split.values())
    assert {p.level for p in sets["eval"]} == set(split)


def test_split_refuses_more_than_a_level_holds():
    with pytest.raises(ValueError, match="level 1"):
        split_problems({1: (50, 40, 20)}, 0)


def test_pretraining_respects_level_weights():
    pool = split_problems(PRESETS["default"].split, 0)["rest"]
    pairs = sample_pretraining(pool, {1: 1.0, 5: 3.0}, 0.0, random.Random(0), 2000)
    add22 = sum(text.count("+") == 1 and len(text) == len("What is 37+45?") for text, _ in pairs)
    assert 0.70 < add22 / len(pairs) < 0.80
