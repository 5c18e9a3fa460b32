"""The verifier: a regression table of verdicts, hostile answers, dead workers, threads.

One warm pool (timeout 1 s) serves the module; tests that kill or stop workers
get their own pool so the others keep a predictable one.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter

import pytest

from planner.contracts.errors import UserError
from tests.hostile_corpus import HOSTILE_ANSWERS, ONE_AT_A_TIME
from trainer.verifier import Extraction, Verdict, Verifier, answer_tail

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def verifier():
    with Verifier(workers=2, timeout_s=TIMEOUT_S) as v:
        v.wait_ready()
        yield v


# (gold, answer, expected verdict). Gold first: math-verify is asymmetric.
REGRESSION = [
    pytest.param("1/2", "so it is \\boxed{0.5}", Verdict.CORRECT, id="half-as-decimal"),
    pytest.param(
        "0.5", "\\boxed{\\frac{1}{2}}", Verdict.CORRECT, id="decimal-gold-fraction-answer"
    ),
    pytest.param("\\frac{1}{2}", "\\boxed{1/2}", Verdict.CORRECT, id="latex-gold"),
    # math-verify rounds floats to 6 decimals: 0.333333 counts as 1/3, 0.33333 does not.
    # We accept its rule rather than add our own tolerance.
    pytest.param("1/3", "\\boxed{0.333333}", Verdict.CORRECT, id="third-6-decimals"),
    pytest.param("1/3", "\\boxed{0.33333}", Verdict.WRONG, id="third-5-decimals"),
    pytest.param("1,000", "\\boxed{1000}", Verdict.CORRECT, id="thousands-separator"),
    pytest.param("x^2+1", "\\boxed{1 + x^{2}}", Verdict.CORRECT, id="symbolic"),
    # No \\boxed{} at all: not an answer under either rule, whatever the text says.
    pytest.param("18", "The answer is 18.", Verdict.UNPARSEABLE, id="unboxed-number"),
    pytest.param("5", "2+3 = 5", Verdict.UNPARSEABLE, id="unboxed-equation"),
    pytest.param("5", "$5$", Verdict.UNPARSEABLE, id="unboxed-latex"),
    pytest.param("5", "\\boxed{6}", Verdict.WRONG, id="wrong"),
    pytest.param("\\frac{", "\\boxed{1}", Verdict.UNPARSEABLE, id="unparseable-gold"),
    pytest.param("5", "I could not solve it.", Verdict.UNPARSEABLE, id="no-answer"),
    pytest.param("5", "\\boxed{}", Verdict.UNPARSEABLE, id="empty-box"),
    pytest.param("5", "", Verdict.UNPARSEABLE, id="empty-answer"),
]


@pytest.mark.parametrize("gold, answer, expected", REGRESSION)
def test_regression_table(verifier, gold, answer, expected):
    assert verifier.verify(gold, answer) == expected


# (gold, answer, verdict under all_boxed, verdict under last_boxed).
SEVERAL_BOXED = [
    pytest.param(
        "2",
        "first \\boxed{1}, on reflection \\boxed{2}",
        Verdict.WRONG,
        Verdict.CORRECT,
        id="last-of-two",
    ),
    pytest.param(
        "1",
        "first \\boxed{1}, on reflection \\boxed{2}",
        Verdict.WRONG,
        Verdict.WRONG,
        id="first-of-two",
    ),
    pytest.param(
        "{1,2,3}",
        "\\boxed{1} and \\boxed{2} and \\boxed{3}",
        Verdict.CORRECT,
        Verdict.WRONG,
        id="set-in-three-boxes",
    ),
    pytest.param(
        "(2,1),(1,2)",
        "\\boxed{(1, 2)}, \\boxed{(2, 1)}",
        Verdict.CORRECT,
        Verdict.WRONG,
        id="pairs-in-two-boxes",
    ),
    # A gold that holds \boxed{} is not wrapped in another one.
    pytest.param(
        "\\boxed{1}\\boxed{2}", "\\boxed{1,2}", Verdict.CORRECT, Verdict.WRONG, id="boxed-gold"
    ),
    # The tail starts at the line of the first box, so \( ... \) stays balanced.
    pytest.param(
        "y=1, z=2",
        "\\( y = \\boxed{1} \\) and \\( z = \\boxed{2} \\)",
        Verdict.CORRECT,
        Verdict.WRONG,
        id="boxes-inside-delimiters",
    ),
]


@pytest.fixture(scope="module")
def all_boxed_verifier():
    with Verifier(workers=1, timeout_s=TIMEOUT_S, extraction="all_boxed") as v:
        v.wait_ready()
        yield v


@pytest.mark.parametrize("gold, answer, all_boxed, last_boxed", SEVERAL_BOXED)
def test_several_boxed_values_under_each_rule(
    verifier, all_boxed_verifier, gold, answer, all_boxed, last_boxed
):
    assert verifier.extraction == Extraction.LAST_BOXED  # the default: the paper's protocol
    assert all_boxed_verifier.verify(gold, answer) == all_boxed
    assert verifier.verify(gold, answer) == last_boxed


@pytest.mark.parametrize(
    "answer", ["2+3 = 5", "The answer is 5.", "$5$", "5", "\\(5\\)", "so x = 5, i.e. 5"]
)
def test_an_answer_without_a_box_is_unparseable_under_both_rules(
    verifier, all_boxed_verifier, answer
):
    assert verifier.verify("5", answer) == Verdict.UNPARSEABLE
    assert all_boxed_verifier.verify("5", answer) == Verdict.UNPARSEABLE
    # The same result boxed is correct under both.
    boxed = f"{answer} so \\boxed{{5}}"
    assert verifier.verify("5", boxed) == all_boxed_verifier.verify("5", boxed) == Verdict.CORRECT


def test_unknown_extraction_rule_is_refused():
    with pytest.raises(ValueError, match="last_boxed, all_boxed"):
        Verifier(workers=1, extraction="first_boxed")


def test_batch_keeps_order(verifier):
    golds = [p.values[0] for p in REGRESSION]
    answers = [p.values[1] for p in REGRESSION]
    assert verifier.verify_batch(golds, answers) == [p.values[2] for p in REGRESSION]


@pytest.mark.parametrize("answer", [HOSTILE_ANSWERS[n] for n in ONE_AT_A_TIME], ids=ONE_AT_A_TIME)
def test_hostile_answer_returns_within_timeout(verifier, answer):
    start = time.monotonic()
    verdict = verifier.verify("7", answer)
    elapsed_s = time.monotonic() - start
    assert elapsed_s < TIMEOUT_S + 1.0
    assert verdict in (Verdict.WRONG, Verdict.UNPARSEABLE)


def test_lone_surrogates_do_not_hide_the_answer(verifier):
    assert verifier.verify("5", "\\boxed{5\ud800}") == Verdict.CORRECT


def test_many_hostile_answers_complete_in_bounded_time(verifier):
    two_kinds = [HOSTILE_ANSWERS["power-tower"], HOSTILE_ANSWERS["nested-900-braces"]]
    answers = two_kinds * 8 + ["\\boxed{5}"]
    start = time.monotonic()
    verdicts = verifier.verify_batch(["5"] * len(answers), answers)
    elapsed_s = time.monotonic() - start
    # 16 answers of at most TIMEOUT_S each over 2 workers, plus one worker restart.
    assert elapsed_s < 16 * TIMEOUT_S / 2 + 4.0
    assert verdicts[:16] == [Verdict.UNPARSEABLE] * 16
    assert verdicts[16] == Verdict.CORRECT


def test_worker_killed_mid_batch_is_replaced():
    with Verifier(workers=2, timeout_s=2.0) as v:
        v.wait_ready()
        pids = v.worker_pids

        def kill_workers():
            time.sleep(0.5)  # both are busy on a power tower by now (it runs 1.5 s)
            for pid in pids:
                os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_workers)
        killer.start()
        answers = [HOSTILE_ANSWERS["power-tower"]] * 2 + ["\\boxed{5}", "\\boxed{4}"]
        verdicts = v.verify_batch(["5"] * 4, answers)
        killer.join()
        assert verdicts == [Verdict.UNPARSEABLE] * 2 + [Verdict.CORRECT, Verdict.WRONG]
        assert v.crashes == 2
        assert v.timeouts == 0
        assert not set(v.worker_pids) & set(pids)


def test_unresponsive_worker_is_killed_at_the_deadline():
    # A stopped process cannot run its own timer: only the parent's deadline ends it.
    with Verifier(workers=1, timeout_s=TIMEOUT_S) as v:
        v.wait_ready()
        (pid,) = v.worker_pids
        os.kill(pid, signal.SIGSTOP)
        start = time.monotonic()
        verdicts = v.verify_batch(["5", "5"], ["\\boxed{5}", "\\boxed{5}"])
        assert time.monotonic() - start < TIMEOUT_S + 10.0  # deadline, then a fresh worker
        assert verdicts == [Verdict.UNPARSEABLE, Verdict.CORRECT]
        assert v.timeouts == 1
        assert v.worker_pids != [pid]


def test_interrupted_batch_leaves_the_pool_usable():
    with Verifier(workers=2, timeout_s=2.0) as v:
        v.wait_ready()
        pump = v._pump

        def pump_then_interrupt(verdicts):
            pump(verdicts)
            raise KeyboardInterrupt

        v._pump = pump_then_interrupt  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            v.verify_batch(["5"] * 4, [HOSTILE_ANSWERS["power-tower"]] * 4)
        del v._pump
        # The power towers still running must not answer for this batch.
        assert v.verify_batch(["1", "2"], ["\\boxed{1}", "\\boxed{3}"]) == [
            Verdict.CORRECT,
            Verdict.WRONG,
        ]


def test_callable_from_a_thread(verifier):
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            verifier.verify_batch(["3", "3"], ["\\boxed{3}", "\\boxed{4}"])
        )
    )
    thread.start()
    thread.join(timeout=30)
    assert results == [[Verdict.CORRECT, Verdict.WRONG]]


def test_throughput_of_simple_answers(verifier):
    golds = [str(i % 32) for i in range(256)]
    answers = [f"we get \\boxed{{{i % 32 + (i % 4 == 0)}}}" for i in range(256)]
    start = time.monotonic()
    verdicts = verifier.verify_batch(golds, answers)
    answers_per_s = 256 / (time.monotonic() - start)
    print(f"\nverifier throughput: {answers_per_s:.0f} answers/s (2 workers)")
    assert Counter(verdicts) == {Verdict.CORRECT: 192, Verdict.WRONG: 64}
    assert answers_per_s > 20  # about 350/s on an idle 2-core machine


def test_closed_verifier_refuses_work():
    v = Verifier(workers=1, timeout_s=TIMEOUT_S)
    pids = v.worker_pids
    v.close()
    with pytest.raises(RuntimeError, match="closed"):
        v.verify("1", "\\boxed{1}")
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_worker_that_cannot_start_raises_instead_of_hanging(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once, says nothing
    v = Verifier(workers=1, timeout_s=TIMEOUT_S)
    with pytest.raises(UserError, match="failed to start 3 times"):
        v.verify("1", "\\boxed{1}")
    v.close()


def test_batch_length_mismatch_is_refused(verifier):
    with pytest.raises(ValueError, match="2 gold answers but 1 answers"):
        verifier.verify_batch(["1", "2"], ["\\boxed{1}"])


def test_answer_tail_keeps_every_boxed_value_of_the_final_answer():
    def tail(answer: str, max_chars: int) -> str:
        return answer_tail(answer, max_chars, "all_boxed")

    assert tail("a \\boxed{1} b \\boxed{2} c", 100) == "a \\boxed{1} b \\boxed{2} c"
    assert tail("working\nso \\boxed{1} b \\boxed{2}", 100) == "so \\boxed{1} b \\boxed{2}"
    # Only boxes within max_chars before the end of the final answer count.
    assert tail("\\boxed{1}" + "y" * 30 + "\\boxed{2}", 12) == "\\boxed{2}"
    assert tail("\\boxed{1}" + "y" * 30 + "\\boxed{2}" + "z" * 50, 20) == "\\boxed{2}" + "z" * 11
    assert tail("we get \\boxed{5}.", 100) == "\\boxed{5}."  # one box: as last_boxed
    assert tail("no box, answer 42", 9) == "answer 42"
    assert tail("\\boxed{4\ud800}", 100) == "\\boxed{4}"


def test_answer_tail_starts_at_last_boxed():
    assert answer_tail("a \\boxed{1} b \\boxed{2} c", 100, "last_boxed") == "\\boxed{2} c"
    assert answer_tail("x" * 50 + "\\boxed{3}", 5, "last_boxed") == "\\boxe"
    assert answer_tail("no box, answer 42", 9, "last_boxed") == "answer 42"
    assert answer_tail("a \\boxed{1} b \\boxed{2} c", 100) == "\\boxed{2} c"  # the default
