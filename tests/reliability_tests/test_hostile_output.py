"""Hostile model output arriving all at once: the verifier stays bounded and keeps every verdict.

tests/trainer_tests/test_verifier.py checks hostile answers alone, a batch of two kinds, and
workers killed or stopped mid-batch. Here the corpus of tests/hostile_corpus.py (with invalid and
odd unicode, and hostile gold answers from a data file) arrives in one interleaved batch, as a
GRPO step would send it: every honest answer keeps its verdict and its place, every hostile one
is wrong or unparseable, and the batch takes no longer than its timeout plus one second per
hostile case.
"""

from __future__ import annotations

import time

import pytest

from tests.hostile_corpus import ALL_AT_ONCE, CANARY, HOSTILE_ANSWERS, HOSTILE_GOLDS
from trainer.verifier import Verdict, Verifier

TIMEOUT_S = 1.0
WORKERS = 2


@pytest.fixture(scope="module")
def verifier():
    with Verifier(workers=WORKERS, timeout_s=TIMEOUT_S) as v:
        v.wait_ready()
        yield v


def test_the_whole_hostile_corpus_at_once_keeps_honest_verdicts_and_time(verifier):
    golds, answers, expected = [], [], []
    hostile = 0
    for i, answer in enumerate([HOSTILE_ANSWERS[name] for name in ALL_AT_ONCE] * 2):
        golds += ["8", str(i)]  # "8": the bidi answer would be right if control marks counted
        answers += [answer, f"so the answer is \\boxed{{{i}}}"]
        expected += [None, Verdict.CORRECT]
        hostile += 1
    for gold in HOSTILE_GOLDS.values():
        for _ in range(4):
            golds.append(gold)
            answers.append("\\boxed{1}")
            expected.append(None)
            hostile += 1

    start = time.monotonic()
    verdicts = verifier.verify_batch(golds, answers)
    elapsed_s = time.monotonic() - start

    assert len(verdicts) == len(answers)
    for got, want, answer in zip(verdicts, expected, answers, strict=True):
        if want is None:
            assert got in (Verdict.WRONG, Verdict.UNPARSEABLE), answer[:80]
        else:
            assert got == want, answer[:80]
    assert elapsed_s < hostile * (TIMEOUT_S + 1.0) / WORKERS
    assert not CANARY.exists()  # the injected code was parsed as mathematics, never run
    print(
        f"\n{len(answers)} answers ({hostile} hostile) in {elapsed_s:.1f} s; timeouts {verifier.timeouts}, crashes {verifier.crashes}"
    )


def test_invalid_unicode_many_at_once(verifier):
    # A broken detokenizer emits lone surrogates everywhere; the answers inside must survive.
    answers = [f"\ud83d step \udca9 \\boxed{{{i % 10}\ud800}} \udfff" for i in range(200)]
    answers += ["\udc00" * (i + 1) for i in range(50)]
    golds = [str(i % 10) for i in range(200)] + ["1"] * 50
    start = time.monotonic()
    verdicts = verifier.verify_batch(golds, answers)
    assert time.monotonic() - start < 30.0
    assert verdicts == [Verdict.CORRECT] * 200 + [Verdict.UNPARSEABLE] * 50


def test_answers_of_the_wrong_type_are_unparseable_not_fatal(verifier):
    golds = ["1", "1", "1", None, "2"]
    answers = [None, b"\\boxed{1}", 1, "\\boxed{1}", "\\boxed{2}"]
    assert verifier.verify_batch(golds, answers) == [Verdict.UNPARSEABLE] * 4 + [Verdict.CORRECT]
