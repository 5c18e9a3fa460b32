"""Arithmetic problems in the MATH answer format, with graded difficulty and worked solutions.

Five levels of small-operand arithmetic (single-digit sums, two-digit plus one-digit, the times
table, ``a+b*c``, two-digit plus two-digit). Each problem has a worked solution of one short line
per step (``7+5=12``) ending in ``\\boxed{answer}``, so a character-level model can learn it and a
MATH-style verifier can grade it. An *imperfect* solution corrupts one step (off by one, off by
ten, or one digit replaced) with probability ``noise``; later steps compute from the corrupted
value, so the error always reaches the boxed answer. This is the "imperfect pretraining" of the
toy world: trained on such solutions a model's greedy answer is right far more often than a
sample at temperature 1, which is the latent skill RL can unlock. Departure from MATH: ``level``
is an int 1..5 (not "Level 3") and there is no ``type`` field. Everything is deterministic given
a seed (string-seeded :class:`random.Random`, independent of PYTHONHASHSEED).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# A solver computes the answer through `emit(expression, value) -> value`, one call per step;
# emit writes the line and returns the (possibly corrupted) value for the next steps to use.
Emit = Callable[[str, int], int]


def _solve_add(operands: tuple[int, ...], emit: Emit) -> int:
    a, b = operands
    return emit(f"{a}+{b}", a + b)


def _solve_add21(operands: tuple[int, ...], emit: Emit) -> int:
    a, b = operands
    ones = emit(f"{a % 10}+{b}", a % 10 + b)
    return emit(f"{a - a % 10}+{ones}", a - a % 10 + ones)


def _solve_mul(operands: tuple[int, ...], emit: Emit) -> int:
    a, b = operands
    return emit(f"{a}*{b}", a * b)


def _solve_addmul(operands: tuple[int, ...], emit: Emit) -> int:
    a, b, c = operands
    product = emit(f"{b}*{c}", b * c)
    return emit(f"{a}+{product}", a + product)


def _solve_add22(operands: tuple[int, ...], emit: Emit) -> int:
    a, b = operands
    ones = emit(f"{a % 10}+{b % 10}", a % 10 + b % 10)
    tens = emit(f"{a - a % 10}+{b - b % 10}", a - a % 10 + b - b % 10)
    return emit(f"{tens}+{ones}", tens + ones)


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    description: str
    steps: int
    operand_ranges: tuple[range, ...]
    template: str  # the expression as it appears in the problem text
    solve: Callable[[tuple[int, ...], Emit], int]

    def problems(self) -> list[ToyProblem]:
        """Every problem of this level, in a fixed order."""
        out: list[ToyProblem] = []

        def walk(prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
            if len(prefix) == len(self.operand_ranges):
                yield prefix
                return
            for x in self.operand_ranges[len(prefix)]:
                yield from walk((*prefix, x))

        for operands in walk(()):
            out.append(ToyProblem(self.number, operands))
        return out


LEVELS: dict[int, Level] = {
    lv.number: lv
    for lv in (
        Level(1, "add1", "a+b, single digits", 1, (range(10), range(10)), "{}+{}", _solve_add),
        Level(
            2,
            "add21",
            "two-digit + one-digit",
            2,
            (range(10, 100), range(1, 10)),
            "{}+{}",
            _solve_add21,
        ),
        Level(3, "mul", "times table 2..9", 1, (range(2, 10), range(2, 10)), "{}*{}", _solve_mul),
        Level(4, "addmul", "a+b*c, single digits", 2, (range(10),) * 3, "{}+{}*{}", _solve_addmul),
        Level(5, "add22", "two-digit + two-digit", 3, (range(10, 100),) * 2, "{}+{}", _solve_add22),
    )
}


@dataclass(frozen=True)
class ToyProblem:
    level: int
    operands: tuple[int, ...]

    @property
    def expression(self) -> str:
        return LEVELS[self.level].template.format(*self.operands)

    @property
    def text(self) -> str:
        return f"What is {self.expression}?"

    @property
    def id(self) -> str:
        return f"{LEVELS[self.level].name}:{self.expression}"

    @property
    def answer(self) -> int:
        return worked_solution(self)[1]


def corrupt(value: int, rng: random.Random) -> int:
    """A wrong value near `value`: off by one, off by ten, or one digit replaced (never equal, never negative)."""
    kind = rng.choice(("one", "ten", "digit"))
    if kind == "one":
        return value + 1 if value == 0 or rng.random() < 0.5 else value - 1
    if kind == "ten":
        return value + 10 if value < 10 or rng.random() < 0.5 else value - 10
    digits = list(str(value))
    pos = rng.randrange(len(digits))
    lowest = 1 if pos == 0 and len(digits) > 1 else 0  # no leading zero
    choices = [str(d) for d in range(lowest, 10) if str(d) != digits[pos]]
    digits[pos] = rng.choice(choices)
    return int("".join(digits))


def worked_solution(
    problem: ToyProblem, noise: float = 0.0, rng: random.Random | None = None
) -> tuple[str, int]:
    """(solution text, boxed answer). With probability `noise` one step is corrupted and the error carries."""
    level = LEVELS[problem.level]
    bad_step = -1
    if noise > 0.0:
        if rng is None:
            raise ValueError("a noisy solution needs an rng")
        if rng.random() < noise:
            bad_step = rng.randrange(level.steps)
    lines: list[str] = []

    def emit(expression: str, value: int) -> int:
        if len(lines) == bad_step:
            assert rng is not None
            value = corrupt(value, rng)
        lines.append(f"{expression}={value}")
        return value

    answer = level.solve(problem.operands, emit)
    lines.append(f"\\boxed{{{answer}}}")
    return "\n".join(lines), answer


def record(problem: ToyProblem, noise: float = 0.0, rng: random.Random | None = None) -> dict:
    """A MATH-style record; `answer` is always the correct one, `solution` may be noisy."""
    solution, _ = worked_solution(problem, noise, rng)
    return {
        "problem": problem.text,
        "solution": solution,
        "answer": str(problem.answer),
        "level": problem.level,
        "id": problem.id,
    }


def split_problems(
    counts: dict[int, tuple[int, int, int]], seed: int
) -> dict[str, list[ToyProblem]]:
    """Disjoint eval / train / prompts sets, `counts[level] = (eval, train, prompts)`.

    Each level's whole problem space is shuffled with the seed and cut into consecutive slices,
    so the three sets never share a problem text. "rest" holds every problem that is not in
    eval (train, prompts and the unused remainder): the pretraining pool.
    """
    out: dict[str, list[ToyProblem]] = {"eval": [], "train": [], "prompts": [], "rest": []}
    for number, (n_eval, n_train, n_prompts) in sorted(counts.items()):
        pool = LEVELS[number].problems()
        if n_eval + n_train + n_prompts > len(pool):
            raise ValueError(
                f"level {number} ({LEVELS[number].name}) has {len(pool)} problems, "
                f"fewer than the {n_eval} + {n_train} + {n_prompts} asked for"
            )
        random.Random(f"split:{seed}:{number}").shuffle(pool)
        out["eval"] += pool[:n_eval]
        out["train"] += pool[n_eval : n_eval + n_train]
        out["prompts"] += pool[n_eval + n_train : n_eval + n_train + n_prompts]
        out["rest"] += pool[n_eval:]
    return out


def sample_pretraining(
    pool: list[ToyProblem],
    level_weights: dict[int, float],
    noise: float,
    rng: random.Random,
    n: int,
) -> list[tuple[str, str]]:
    """`n` (problem text, noisy solution) pairs: a level by weight, then a problem of it uniformly."""
    by_level: dict[int, list[ToyProblem]] = {}
    for p in pool:
        by_level.setdefault(p.level, []).append(p)
    levels = sorted(lv for lv in by_level if level_weights.get(lv, 0.0) > 0.0)
    weights = [level_weights[lv] for lv in levels]
    out = []
    for lv in rng.choices(levels, weights, k=n):
        p = rng.choice(by_level[lv])
        out.append((p.text, worked_solution(p, noise, rng)[0]))
    return out
