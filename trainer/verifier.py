"""The math verifier: is a sampled answer's final result equal to the gold answer?

This is the binary reward of stages 1 and 3 and the grader of every eval. It
wraps math-verify (the checker the paper's code base and TRL's math rewards
use) behind a batch API that never hangs its caller: each answer runs in a
pool of worker processes (see ``trainer._verify_worker``) under a wall-clock
deadline the parent enforces, and a worker that overruns or dies is killed and
replaced while the rest of the batch goes on. Workers are fresh interpreters
(fork + exec, like multiprocessing's "spawn") rather than forks, because the
caller holds torch and its threads; unlike multiprocessing's spawn they do not
re-import the caller's ``__main__``, so a training script without a
``__main__`` guard still works. Nothing here uses signals, so any thread may
call it (a Textual worker, a TRL reward callback).

Only a ``\\boxed{}`` value is an answer: an answer with none (``2+3 = 5``, a
bare ``$5$``) is ``unparseable`` however right its last number, as in the
paper's grader. Which boxed values are the answer is one declared choice,
``extraction`` (:class:`Extraction`), a plan field (``verifier.extraction``).
The default, ``last_boxed``, keeps only the last ``\\boxed{}``, the paper's
protocol. ``all_boxed`` judges every ``\\boxed{}`` of the final answer together,
merged into one set, as math-verify itself and TRL's accuracy reward do, so
``\\boxed{1}, \\boxed{2}`` answers a gold of ``{1, 2}`` (see
tests/trainer_tests/test_math_verify_cases.py for how each rule fares on
math-verify's own test cases). A gold is wrapped in ``\\boxed{}`` unless it
already holds one.

Where it departs from plain math-verify: only a bounded tail of the answer is
checked (see :func:`answer_tail`), so a megabyte of text costs nothing; and an
answer with no sympy-parseable result (math-verify would still compare bare
strings), an unparseable gold, a timeout or a crashed worker are all one
verdict, ``unparseable``, kept apart from ``wrong`` so a run can tell a format
problem from a reasoning one.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

from planner.contracts import UserError


class Verdict(StrEnum):
    CORRECT = "correct"
    WRONG = "wrong"
    UNPARSEABLE = "unparseable"


class Extraction(StrEnum):
    """Which ``\\boxed{}`` values of an answer are its final result.

    ``last_boxed`` (the default, the paper's protocol) keeps only the last
    ``\\boxed{}``. ``all_boxed`` judges every ``\\boxed{}`` of the final answer
    together, merged into one set, as math-verify itself and TRL's accuracy
    reward do: ``\\boxed{1}, \\boxed{2}`` answers ``{1, 2}``. Under both, an
    answer without a ``\\boxed{}`` is unparseable. The values are those of the
    plan's ``verifier.extraction`` (planner.contracts.plan.VerifierOptions).
    """

    LAST_BOXED = "last_boxed"
    ALL_BOXED = "all_boxed"


def answer_tail(
    answer: str, max_chars: int, extraction: Extraction | str = Extraction.LAST_BOXED
) -> str:
    """The part of an answer that decides it, at most ``max_chars`` characters.

    With no ``\\boxed`` it is the end of the answer, where a final number sits.
    Otherwise it ends ``max_chars`` past the last ``\\boxed`` (or at the end of
    the answer, if sooner) and starts at the last ``\\boxed`` (``last_boxed``:
    everything before it is ignored) or at the first ``\\boxed`` of the
    ``max_chars`` characters before that end (``all_boxed``: every boxed value
    of the final answer counts; where there are several, backed up to the start
    of the first one's line when that fits, so a ``\\(`` opened before it stays
    balanced). A single box is cut exactly as under ``last_boxed``. Lone
    surrogates (invalid unicode from a broken detokenizer) are dropped: they
    cannot cross a pipe as UTF-8 and carry no mathematics.
    """
    rule = Extraction(extraction)
    last = answer.rfind("\\boxed")
    if last < 0:
        tail = answer[-max_chars:]
    else:
        end = min(len(answer), last + max_chars)
        start = last
        window = max(0, end - max_chars)
        first = answer.find("\\boxed", window)
        if rule is Extraction.ALL_BOXED and first < last:
            # Several boxes: from the start of the first one's line, so that a math
            # delimiter opened before it (``\\( \\boxed{1} \\) and \\( ...``) stays balanced.
            line_start = answer.rfind("\n", 0, first) + 1
            start = line_start if line_start >= window else first
        tail = answer[start:end]
    return tail.encode("utf-8", "ignore").decode("utf-8")


_REPO_ROOT = str(Path(__file__).resolve().parents[1])
# A worker that has not loaded math-verify by then is broken, not slow.
_STARTUP_TIMEOUT_S = 120.0
# Workers that die before they are ready, in a row, before we stop retrying.
_MAX_START_FAILURES = 3


@dataclass(eq=False)  # identity: two workers are never the same worker
class _Worker:
    proc: subprocess.Popen[bytes]
    stderr: IO[bytes]
    started_at: float
    buffer: bytearray = field(default_factory=bytearray)
    ready: bool = False
    task: int | None = None  # index into the batch being checked
    deadline: float = 0.0

    @property
    def stdout_fd(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def kill(self) -> None:
        """End the process (if it still runs) and close its pipes."""
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            # Closing stdin flushes it, which a dead reader may refuse.
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-2000:]


def _stop(workers: list[_Worker]) -> None:
    """Close every worker: end of stdin asks politely, kill makes sure."""
    for w in workers:
        if w.proc.stdin is not None:
            with contextlib.suppress(OSError):
                w.proc.stdin.close()
    for w in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            w.proc.wait(timeout=0.5)
        w.kill()
    workers.clear()


class Verifier:
    """A warm pool of math-verify workers with a per-answer wall-clock timeout.

    >>> with Verifier(workers=2, timeout_s=5.0) as verifier:
    ...     verifier.verify_batch(["1/2", "3"], ["\\\\boxed{0.5}", "\\\\boxed{4}"])
    [<Verdict.CORRECT: 'correct'>, <Verdict.WRONG: 'wrong'>]

    ``extraction`` picks which boxed values are the answer (:class:`Extraction`;
    ``last_boxed`` by default, the paper's protocol; the executor passes the
    plan's ``verifier.extraction``); it is applied here, to the tail sent to
    the workers, which need not know it. An answer with no ``\\boxed`` never
    reaches a worker: it is unparseable under every rule.
    ``timeouts`` and ``crashes`` count answers lost to each since start.
    Calls from several threads are served one batch at a time.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout_s: float = 5.0,
        max_answer_chars: int = 2000,
        memory_mb: int = 2048,
        extraction: Extraction | str = Extraction.LAST_BOXED,
    ):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        try:
            self.extraction = Extraction(extraction)
        except ValueError:
            choices = ", ".join(e.value for e in Extraction)
            raise ValueError(f"extraction must be one of {choices}, got {extraction!r}") from None
        self.timeout_s = timeout_s
        self.max_answer_chars = max_answer_chars
        self.memory_mb = memory_mb
        self.timeouts = 0
        self.crashes = 0
        self._lock = threading.Lock()
        self._closed = False
        self._start_failures = 0
        self._selector = selectors.DefaultSelector()
        self._workers: list[_Worker] = []
        # Kill the workers even if close() is never called.
        self._finalizer = weakref.finalize(self, _stop, self._workers)
        for _ in range(workers):
            self._workers.append(self._spawn())

    # ---- public API ----------------------------------------------------

    def verify(self, gold: str, answer: str) -> Verdict:
        return self.verify_batch([gold], [answer])[0]

    def verify_batch(self, golds: Sequence[str], answers: Sequence[str]) -> list[Verdict]:
        """One verdict per (gold, answer) pair, in order; every pair is bounded by ``timeout_s``."""
        if len(golds) != len(answers):
            raise ValueError(f"{len(golds)} gold answers but {len(answers)} answers")
        with self._lock:
            if self._closed:
                raise RuntimeError("this Verifier is closed")
            return self._run(golds, answers)

    def wait_ready(self) -> None:
        """Block until every worker has loaded math-verify (a few seconds after start)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this Verifier is closed")
            while not all(w.ready for w in self._workers):
                self._pump([])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._selector.close()
            self._finalizer()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    # ---- the pool --------------------------------------------------------

    def _spawn(self) -> _Worker:
        # The worker sees the same import path as we do, whoever set it up.
        paths = [_REPO_ROOT] + [p for p in sys.path if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONIOENCODING="utf-8")
        # Most slow checks end on the worker's own timer, which keeps the worker;
        # the hard deadline (a kill) is for code that cannot be interrupted.
        soft_timeout_s = max(self.timeout_s * 0.75, self.timeout_s - 0.5)
        cmd = [
            sys.executable,
            "-P",  # do not put the current directory on the worker's path
            "-m",
            "trainer._verify_worker",
            f"--timeout-s={self.timeout_s}",
            f"--soft-timeout-s={soft_timeout_s}",
            f"--memory-mb={self.memory_mb}",
        ]
        # Lives as long as the worker; _Worker.kill closes it.
        stderr = tempfile.TemporaryFile()  # noqa: SIM115
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
        worker = _Worker(proc=proc, stderr=stderr, started_at=time.monotonic())
        assert proc.stdout is not None
        os.set_blocking(worker.stdout_fd, False)
        self._selector.register(worker.stdout_fd, selectors.EVENT_READ, worker)
        return worker

    def _replace(self, worker: _Worker, crashed_before_ready: bool = False) -> None:
        """Kill ``worker`` (if still alive) and start a fresh one in its place."""
        if crashed_before_ready:
            self._start_failures += 1
            if self._start_failures >= _MAX_START_FAILURES:
                raise UserError(
                    "The math verifier's worker process failed to start "
                    f"{self._start_failures} times. Check that math-verify is installed "
                    f"for {sys.executable} (pip install 'math-verify>=0.9,<0.10'). "
                    "The worker's last error output:\n" + worker.stderr_tail()
                )
        self._selector.unregister(worker.stdout_fd)
        worker.kill()
        self._workers[self._workers.index(worker)] = self._spawn()

    def _send(self, worker: _Worker, index: int, gold: str, answer: str) -> bool:
        message = json.dumps({"gold": gold, "answer": answer}) + "\n"
        assert worker.proc.stdin is not None
        try:
            worker.proc.stdin.write(message.encode("ascii"))
            worker.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        worker.task = index
        worker.deadline = time.monotonic() + self.timeout_s
        return True

    def _read_lines(self, worker: _Worker) -> list[bytearray] | None:
        """Complete lines the worker has written, or None once it has exited."""
        try:
            chunk = os.read(worker.stdout_fd, 65536)
        except BlockingIOError:
            return []
        if not chunk:
            return None
        worker.buffer += chunk
        *lines, rest = worker.buffer.split(b"\n")
        worker.buffer = bytearray(rest)
        return lines

    def _run(self, golds: Sequence[str], answers: Sequence[str]) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(golds)
        pending: deque[tuple[int, str, str]] = deque()
        for i, (gold, answer) in enumerate(zip(golds, answers, strict=True)):
            if not isinstance(gold, str) or not isinstance(answer, str) or "\\boxed" not in answer:
                verdicts[i] = Verdict.UNPARSEABLE  # no boxed value: no answer to check
                continue
            gold_text = answer_tail(gold, self.max_answer_chars, self.extraction)
            answer_text = answer_tail(answer, self.max_answer_chars, self.extraction)
            pending.append((i, gold_text, answer_text))

        try:
            while pending or any(w.task is not None for w in self._workers):
                for worker in list(self._workers):
                    if worker.ready and worker.task is None and pending:
                        index, gold, answer = pending.popleft()
                        if not self._send(worker, index, gold, answer):
                            pending.appendleft((index, gold, answer))  # died while idle
                            self._replace(worker)
                self._pump(verdicts)
        finally:
            # Left early (Ctrl-C, an error): a late reply must not land in the next batch.
            for worker in list(self._workers):
                if worker.task is not None:
                    worker.task = None
                    self._replace(worker)

        assert all(v is not None for v in verdicts)
        return [v for v in verdicts if v is not None]

    def _pump(self, verdicts: list[Verdict | None]) -> None:
        """Wait for the next reply, death or deadline, and act on it."""
        now = time.monotonic()
        wake_at = [w.deadline for w in self._workers if w.task is not None]
        wake_at += [w.started_at + _STARTUP_TIMEOUT_S for w in self._workers if not w.ready]
        wait_s = max(0.0, min(wake_at) - now) if wake_at else None
        for key, _ in self._selector.select(wait_s):
            worker = key.data
            if not any(w is worker for w in self._workers):
                continue  # replaced earlier in this round
            lines = self._read_lines(worker)
            if lines is None:  # exited: segfault, rlimit, os._exit, killed
                if worker.task is not None:
                    self.crashes += 1
                    verdicts[worker.task] = Verdict.UNPARSEABLE
                self._replace(worker, crashed_before_ready=not worker.ready)
                continue
            for line in lines:
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue  # not ours: the worker keeps stdout for the protocol only
                if reply.get("ready"):
                    worker.ready = True
                    self._start_failures = 0
                elif worker.task is not None:
                    verdicts[worker.task] = Verdict(reply["verdict"])
                    self.timeouts += bool(reply["timed_out"])
                    worker.task = None

        now = time.monotonic()
        for worker in list(self._workers):
            if worker.task is not None and now >= worker.deadline:
                self.timeouts += 1
                verdicts[worker.task] = Verdict.UNPARSEABLE
                self._replace(worker)
            elif not worker.ready and now >= worker.started_at + _STARTUP_TIMEOUT_S:
                self._replace(worker, crashed_before_ready=True)
