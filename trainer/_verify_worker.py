"""One math-verify worker process: reads (gold, answer) lines, writes verdict lines.

Started by :class:`trainer.verifier.Verifier` as a fresh interpreter with
stdin/stdout pipes. It is the only place math-verify runs, because math-verify
can hang or eat memory on hostile answers and its own SIGALRM timeouts only
work in a main thread: here we are always the main thread of our own process.
Three layers keep a bad answer from costing more than its budget: a soft timer
(SIGALRM raising an exception math-verify cannot swallow) ends most slow
checks without losing the process; the parent kills us at the hard deadline
when the soft timer cannot fire (C code holding the GIL); and a per-task CPU
rlimit kills us even if the parent is gone. An address-space rlimit turns a
memory blow-up into a MemoryError or a dead worker instead of a swapping host.

Protocol (one JSON object per line, one task in flight at a time):
    worker -> parent  {"ready": true}             once math-verify is loaded and warm
    parent -> worker  {"gold": str, "answer": str}
    worker -> parent  {"verdict": "correct" | "wrong" | "unparseable", "timed_out": bool}
End of stdin means shut down.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import signal
import sys
from typing import Any

# Gold answers repeat across a GRPO group (one gold, many samples): parse each once.
_GOLD_CACHE_MAX = 4096
# CPU seconds a task may use beyond its wall-clock budget before the kernel ends us.
_CPU_GRACE_S = 5


class _SoftTimeout(BaseException):
    """Raised from SIGALRM. BaseException so math-verify's ``except Exception`` lets it through."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _SoftTimeout


def _limit_resources(memory_mb: int) -> None:
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A CPU-limit kill must not leave core files behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _arm_cpu_limit(timeout_s: float) -> None:
    """Let this task use at most its budget plus a grace in CPU time (SIGXCPU ends the process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used_s = usage.ru_utime + usage.ru_stime
    soft = math.ceil(used_s + timeout_s) + _CPU_GRACE_S
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


class _Checker:
    """math-verify with our extraction rules and a cache of parsed gold answers."""

    def __init__(self) -> None:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
        from sympy import Basic, MatrixBase

        self._parse = parse
        self._verify = verify
        self._sympy_types = (Basic, MatrixBase)
        # boxed_match_priority=0: a \boxed{} beats "the answer is ..." phrases, and
        # every \boxed{} in the text is merged into one set. Answers reach us holding a
        # \boxed (the parent calls one without unparseable), golds are boxed below, and
        # the parent's cut of the answer (its extraction rule) decides which boxes the
        # text still holds.
        self._boxed = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
        self._golds: dict[str, list[Any]] = {}

    def _parse_text(self, text: str) -> list[Any]:
        # parsing_timeout=None: math-verify must not touch SIGALRM, which is ours.
        parsed = self._parse(text, extraction_config=self._boxed, parsing_timeout=None)
        # Only a sympy object counts as parsed; a bare string fallback (kept for
        # math-verify's string comparison) does not make an answer parseable.
        return parsed if any(isinstance(p, self._sympy_types) for p in parsed) else []

    def parse_gold(self, gold: str) -> list[Any]:
        cached = self._golds.get(gold)
        if cached is not None:
            return cached
        text = gold.strip().strip("$").strip()
        # A bare gold ("1/2", "\frac{1}{2}", "x^2+1") parses reliably once boxed.
        parsed = self._parse_text(text if "\\boxed" in text else "\\boxed{" + text + "}")
        if len(self._golds) >= _GOLD_CACHE_MAX:
            self._golds.clear()
        self._golds[gold] = parsed
        return parsed

    def give_up_on_gold(self, gold: str) -> None:
        """After a timeout: if the gold itself was what hung, its group must not pay again."""
        self._golds.setdefault(gold, [])

    def check(self, gold: str, answer: str) -> str:
        gold_parsed = self.parse_gold(gold)
        if not gold_parsed:
            return "unparseable"
        answer_parsed = self._parse_text(answer)
        if not answer_parsed:
            return "unparseable"
        # Gold first: math-verify's comparison is asymmetric.
        ok = self._verify(gold_parsed, answer_parsed, timeout_seconds=None)
        return "correct" if ok else "wrong"


def _run_task(checker: _Checker, gold: str, answer: str, soft_timeout_s: float) -> dict[str, Any]:
    signal.setitimer(signal.ITIMER_REAL, soft_timeout_s)
    try:
        return {"verdict": checker.check(gold, answer), "timed_out": False}
    except _SoftTimeout:
        checker.give_up_on_gold(gold)
        return {"verdict": "unparseable", "timed_out": True}
    except Exception:  # MemoryError, RecursionError, anything math-verify lets out
        return {"verdict": "unparseable", "timed_out": False}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout-s", type=float, required=True)
    parser.add_argument("--soft-timeout-s", type=float, required=True)
    parser.add_argument("--memory-mb", type=int, default=0)
    args = parser.parse_args(argv)

    # Keep stdout for the protocol alone: anything a library prints goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _limit_resources(args.memory_mb)
    # Timeout warnings would print whole answers (up to megabytes) to stderr.
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGALRM, _on_alarm)
    # Ctrl-C in a terminal reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    checker = _Checker()
    checker.check("1/2", "\\boxed{0.5}")  # first parse builds the grammar: pay it now

    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        task = json.loads(line)
        _arm_cpu_limit(args.timeout_s)
        result = _run_task(checker, task["gold"], task["answer"], args.soft_timeout_s)
        out.write(json.dumps(result) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
