"""The run log: ``events.jsonl``, written by the trainer, read by the UI and by calibration.

One JSON object per line, each with the schema version ``v``, a sequence number
``seq`` (0, 1, 2, ... per run, continuing across resumes), a wall-clock time
``t`` (unix seconds) and a ``kind``.
The payload of each kind is a TypedDict in planner/contracts/events.py (its
required keys are enforced here, on write and on read); metric names are in
planner/contracts/metrics.py.

Budget spend is a :class:`Spend`: tokens generated, tokens trained, teacher
tokens scored, wall seconds, GPU-hours, CPU-seconds and labels consumed. A
reader tolerates a half-written last line (a crash mid-write) and lines from a
newer minor schema with extra fields; it refuses a newer major version.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from planner.contracts.events import REQUIRED_FIELDS

SCHEMA_VERSION = 1
# Kinds after which the writer fsyncs: the boundaries a crash must not lose.
DURABLE_KINDS = frozenset(
    {"run_start", "stage_start", "checkpoint", "stage_end", "error", "run_end"}
)
EVENTS_FILE = "events.jsonl"  # inside a run directory (planner.contracts.rundir)


@dataclass
class Spend:
    """Budget spent (or planned). All counters are totals, never rates.

    Token counters count what each pass computes over, as the cost model
    (planner.simulator.cost) prices it: ``tokens_generated`` the sampled tokens;
    ``tokens_trained``, ``teacher_tokens_scored`` and ``student_tokens_scored``
    every token of each sequence a forward pass runs over (prompt with its chat
    template, plus completion), since the prompt is computed as much as the
    completion is, even where the loss covers the completion only.
    """

    tokens_generated: int = 0
    tokens_trained: int = 0
    teacher_tokens_scored: int = 0
    student_tokens_scored: int = 0  # the extra student forward of sampled OPD
    wall_seconds: float = 0.0
    gpu_hours: float = 0.0
    cpu_seconds: float = 0.0
    labels: int = 0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Spend:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    @classmethod
    def parse(cls, data: Any) -> Spend | None:
        """A spend read back from a log line: None unless a mapping of finite numbers."""
        if not isinstance(data, dict):
            return None
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if not all(_is_number(v) and math.isfinite(v) for v in values.values()):
            return None
        return cls(**values)


class EventLogError(ValueError):
    """A line that parses as JSON but is not a valid event."""


@dataclass
class Event:
    kind: str
    seq: int
    t: float
    data: dict[str, Any] = field(default_factory=dict)
    v: int = SCHEMA_VERSION

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_json(self) -> str:
        return json.dumps(
            {"v": self.v, "seq": self.seq, "t": self.t, "kind": self.kind, **self.data},
            separators=(",", ":"),
            allow_nan=False,
        )

    @classmethod
    def from_obj(cls, obj: Any) -> Event:
        if not isinstance(obj, dict):
            raise EventLogError(f"an event is a JSON object, got {type(obj).__name__}")
        obj = dict(obj)
        try:
            v, seq, t, kind = obj.pop("v"), obj.pop("seq"), obj.pop("t"), obj.pop("kind")
        except KeyError as e:
            raise EventLogError(f"event lacks the {e.args[0]!r} field") from None
        if not isinstance(v, int) or v > SCHEMA_VERSION:
            raise EventLogError(
                f"event schema version {v!r} is newer than this reader ({SCHEMA_VERSION}); upgrade sparse2dense"
            )
        if kind not in REQUIRED_FIELDS:
            raise EventLogError(f"unknown event kind {kind!r}")
        missing = [f for f in REQUIRED_FIELDS[kind] if f not in obj]
        if missing:
            raise EventLogError(f"{kind} event lacks {', '.join(missing)}")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise EventLogError(f"{kind} event has seq {_excerpt(seq)}, not a whole number")
        if not _is_number(t) or not math.isfinite(t):
            raise EventLogError(f"{kind} event has t {_excerpt(t)}, not a time in seconds")
        return cls(kind=kind, seq=seq, t=float(t), data=obj, v=v)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sanitize(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null rather than produce unreadable lines."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {str(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitize(v) for v in value]
    if isinstance(value, Spend):
        return value.to_dict()
    return value


class EventWriter:
    """Append-only writer: one line per event, flushed; fsynced at stage boundaries.

    Opening an existing log continues its sequence numbers (a resumed run). A
    half-written last line left by a crash is terminated first so that the next
    event starts on a line of its own and the partial line stays skippable.
    Each line goes to the file in one ``write``; a write that fails part way
    (a full disk) is cut back off, so the log never holds half an event of
    its own making, and the error is raised.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq = 0
        if self.path.exists():
            # Lines that cannot be read are skipped (read_events), never fatal here.
            self._seq = max((e.seq + 1 for e in read_events(self.path)), default=0)
            self._terminate_partial_line()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def _terminate_partial_line(self) -> None:
        with open(self.path, "rb+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")

    def _append(self, data: bytes) -> None:
        assert self._fd is not None, "the event writer is closed"
        start = os.fstat(self._fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise

    def emit(self, kind: str, **data: Any) -> Event:
        if kind not in REQUIRED_FIELDS:
            raise ValueError(f"unknown event kind {kind!r}")
        missing = [f for f in REQUIRED_FIELDS[kind] if f not in data]
        if missing:
            raise ValueError(f"{kind} event lacks {', '.join(missing)}")
        event = Event(kind=kind, seq=self._seq, t=time.time(), data=_sanitize(data))
        self._append((event.to_json() + "\n").encode("utf-8"))
        if kind in DURABLE_KINDS:
            assert self._fd is not None
            os.fsync(self._fd)
        self._seq += 1
        return event

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_lines(chunk: str) -> tuple[list[Event], list[str]]:
    """Parse complete lines; return (events, problems). Bad lines are skipped."""
    events: list[Event] = []
    problems: list[str] = []
    for line in chunk.splitlines():
        if not line.strip():
            continue
        try:
            events.append(Event.from_obj(json.loads(line)))
        except (ValueError, RecursionError) as e:  # JSONDecodeError and EventLogError among them
            problems.append(str(e) or type(e).__name__)
    return events, problems


class _NotRegular(Exception):
    pass


def _file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def read_events(path: str | os.PathLike[str]) -> list[Event]:
    """All complete, valid events of a finished or crashed log, however long."""
    return EventTail(path, max_bytes_per_poll=0).poll()


class EventTail:
    """Follow a growing events.jsonl: each ``poll()`` returns the new complete events.

    Bytes after the last newline are held back until the line is finished, so a
    half-written last line is never parsed as an event (and never lost: it is
    read once the writer completes it). Lines that fail to parse are counted in
    ``skipped`` and described in ``problems``, not raised. A file that does not
    exist yet simply yields nothing. A path that is not a regular file (a
    directory, a FIFO, a device) is never read (opening it does not block):
    ``error`` says what it is, and clears once a regular file takes its place.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes_per_poll: int = 8 << 20):
        self.path = Path(path)
        self.offset = 0
        self.max_bytes_per_poll = max_bytes_per_poll
        self.skipped = 0
        self.problems: list[str] = []
        self.error: str | None = None
        self._pending = b""

    def _read(self) -> bytes:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise _NotRegular(_file_type(st.st_mode))
        with open(fd, "rb", closefd=True) as f:
            if st.st_size < self.offset:  # truncated or replaced: start over
                self.offset, self._pending = 0, b""
            f.seek(self.offset)
            return f.read(self.max_bytes_per_poll if self.max_bytes_per_poll else -1)

    def poll(self) -> list[Event]:
        try:
            chunk = self._read()
        except FileNotFoundError:
            self.error = None
            return []
        except _NotRegular as e:
            self.error = (
                f"{self.path} is not a regular file but {e}; the run log cannot be read from it."
            )
            return []
        except OSError as e:
            self.error = f"{self.path} cannot be read: {e.strerror or e}."
            return []
        self.error = None
        self.offset += len(chunk)
        data = self._pending + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending = data
            return []
        complete, self._pending = data[: cut + 1], data[cut + 1 :]
        events, problems = parse_lines(complete.decode("utf-8", errors="replace"))
        self.skipped += len(problems)
        self.problems.extend(problems[-20:])
        del self.problems[:-20]
        return events

    @property
    def has_partial_line(self) -> bool:
        return bool(self._pending)
