"""Turn plain YAML/JSON data into typed dataclasses, collecting every problem.

A tiny, dependency-free alternative to pydantic for our config contracts: the
import stays fast (``s2d --help`` must answer in well under a second) and the
messages are ours to word. Each dataclass field is checked against its type
annotation; unknown keys are refused with the list of known ones, so a typo
never silently falls back to a default. Every number must be finite, and a field
may declare its allowed range or pattern beside its default (:func:`rule`), so a
value that would only fail hours into a run is refused on load. Values quoted in
messages are short excerpts (:func:`~planner.contracts.errors.excerpt`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import re
import types
import typing
from typing import Any, TypeVar

from planner.contracts.errors import FieldProblem, excerpt

T = TypeVar("T")

_MISSING = object()
# Resolving a dataclass's string annotations costs about 0.2 ms a class; the
# planner builds a plan for every trial, so each class is resolved once.
_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


SEED_MAX = 2**32 - 1  # numpy and torch seeds are 32-bit
# File and directory names: a plan's run directory, a scenario's plan directory.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
NAME_HINT = "use up to 128 letters, digits, '_', '-' or '.', starting with a letter or digit; it names files and directories"


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a field allows beyond its type: bounds on a number, a pattern for text."""

    gt: float | None = None  # greater than
    ge: float | None = None  # at least
    le: float | None = None  # at most
    pattern: re.Pattern[str] | None = None
    hint: str = ""
    # A sanity ceiling: no real run comes near it, and a value beyond (10**30 labels) would
    # only fail deep inside numpy or torch. Refused with the whole allowed range.
    cap: float | None = None

    def problem(self, value: Any) -> tuple[str, str] | None:
        """(message, fix) when ``value`` breaks the rule, else None."""
        if self.pattern is not None:
            if isinstance(value, str) and not self.pattern.match(value):
                return f"not a usable name (got {excerpt(value)})", self.hint
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        if self.gt is not None and not value > self.gt:
            if self.gt == 0:
                return f"must be positive (got {value})", self.hint or "allowed: above 0"
            return f"must be above {self.gt:g} (got {value})", self.hint
        if self.ge is not None and self.le is not None and not self.ge <= value <= self.le:
            return (
                f"must be between {self.ge:g} and {self.le:.0f} (got {value})"
                if isinstance(value, int)
                else f"must be between {self.ge:g} and {self.le:g} (got {value})"
            ), self.hint or f"allowed: {self.ge:g} to {self.le:g}"
        if self.ge is not None and not value >= self.ge:
            if self.ge == 0:
                return f"must not be negative (got {value})", self.hint or "use 0 or more"
            return f"must be at least {self.ge:g} (got {value})", self.hint
        if self.le is not None and not value <= self.le:
            return f"must be at most {self.le:g} (got {value})", self.hint
        if self.cap is not None and not value <= self.cap:
            return self._beyond_cap(value)
        return None

    def _beyond_cap(self, value: int | float) -> tuple[str, str]:
        assert self.cap is not None
        whole = isinstance(value, int)
        cap = f"{self.cap:.0f}" if whole else f"{self.cap:g}"
        if self.ge is not None:
            low = f"{self.ge:.0f}" if whole else f"{self.ge:g}"
            span = f"between {low} and {cap}"
        elif self.gt is not None:
            span = (
                f"between {math.floor(self.gt) + 1} and {cap}"
                if whole
                else f"above {self.gt:g} and at most {cap}"
            )
        else:
            span = f"at most {cap}"
        fix = "far beyond any real run; check for a typo or a unit slip"
        return f"must be {span} (got {excerpt(value)})", f"{self.hint}; {fix}" if self.hint else fix


def rule(
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    pattern: re.Pattern[str] | None = None,
    hint: str = "",
    cap: float | None = None,
) -> dict[str, Rule]:
    """Field metadata: ``field(default=1.0, metadata=rule(gt=0))``; checked by :func:`build`."""
    return {"rule": Rule(gt, ge, le, pattern, hint, cap)}


SEED = rule(ge=0, le=SEED_MAX, hint=f"use a whole number from 0 to {SEED_MAX}")
# Sanity ceilings (Rule.cap) of the counts in plans and scenarios.
COUNT_MAX = 10**9  # problems: labels, prompts, eval problems
STEPS_MAX = 10**7  # optimiser steps of one stage
BATCH_MAX = 10**6  # prompts per step, gradient accumulation steps
SAMPLES_MAX = 10**5  # samples per prompt, eval samples per problem
TOKENS_MAX = 10**7  # tokens of one response or chunk
DEVICES_MAX = 10**6
NAME_RULE = rule(pattern=NAME, hint=NAME_HINT)


class FieldProblems(list[FieldProblem]):
    """A list of problems with a convenience adder."""

    # How many are values of the right type outside their field's rule: with only those,
    # every value has its type and cross-field checks can run on them too.
    out_of_rule = 0

    def add(self, field: str, message: str, fix: str = "") -> None:
        self.append(FieldProblem(field, message, fix))

    @property
    def types_hold(self) -> bool:
        return len(self) == self.out_of_rule


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, path: str, problems: FieldProblems) -> Any:
    """Check ``value`` against annotation ``tp``; return the converted value or _MISSING."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:  # X | None: X's own problems, in its own words
            return _coerce(value, non_none[0], path, problems)
        # A mapping for a union with one dataclass (str | DataRef): that class's own problems.
        classes = [a for a in non_none if dataclasses.is_dataclass(a)]
        if isinstance(value, dict) and len(classes) == 1:
            return _coerce(value, classes[0], path, problems)
        for candidate in non_none:
            trial = FieldProblems()
            out = _coerce(value, candidate, path, trial)
            if not trial:
                return out
        problems.add(
            path, f"expected {' or '.join(_type_name(a) for a in non_none)}, got {excerpt(value)}"
        )
        return _MISSING
    if origin is typing.Literal:
        if value in args:
            return value
        close = (
            difflib.get_close_matches(value, [str(a) for a in args], n=1)
            if isinstance(value, str) and len(value) <= 200
            else []
        )
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.add(
            path,
            f"unknown value {excerpt(value)}",
            f"{hint}use one of: {', '.join(map(str, args))}",
        )
        return _MISSING
    if origin is list:
        if not isinstance(value, list):
            problems.add(path, f"expected a list, got {type(value).__name__}")
            return _MISSING
        items = [_coerce(v, args[0], _join(path, i), problems) for i, v in enumerate(value)]
        return items
    if origin is dict:
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping, got {type(value).__name__}")
            return _MISSING
        return {
            str(k): _coerce(v, args[1], _join(path, str(k)), problems) for k, v in value.items()
        }
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, value, path, problems)
    if tp is bool:
        if isinstance(value, bool):
            return value
        problems.add(path, f"expected true or false, got {excerpt(value)}")
        return _MISSING
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        problems.add(path, f"expected a whole number, got {excerpt(value)}")
        return _MISSING
    if tp is float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and len(value) <= 100:  # YAML reads 3e-5 (no dot) as text
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is None:
            problems.add(path, f"expected a number, got {excerpt(value)}")
            return _MISSING
        if not math.isfinite(number):
            problems.add(path, f"must be a finite number (got {number})", "give a real value")
            return _MISSING
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        problems.add(path, f"expected text, got {excerpt(value)}")
        return _MISSING
    return value


def number(value: Any, path: str, problems: FieldProblems, limits: Rule | None = None) -> float:
    """A finite number within ``limits``, for documents read without a dataclass (profiles).

    Records a problem and returns nan when ``value`` is not one.
    """
    out = _coerce(value, float, path, problems)
    if out is _MISSING:
        return math.nan
    broken = limits.problem(out) if limits is not None else None
    if broken is not None:
        problems.add(path, *broken)
        return math.nan
    return float(out)


def build(cls: type[T], data: Any, path: str, problems: FieldProblems) -> T:
    """Build dataclass ``cls`` from ``data``; record problems instead of raising.

    Returns an instance even when problems were found (fields that failed keep
    their defaults, or None), so validation can go on and report everything at once.
    """
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(path or "(top level)", f"expected a mapping, got {type(data).__name__}")
        data = {}
    kwargs: dict[str, Any] = {}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key)[:200], list(fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.add(
                _join(path, str(key)[:80]),
                "unknown field",
                f"{hint}known fields: {', '.join(fields)}",
            )
    for name, f in fields.items():
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if name not in data:
            if not has_default:
                problems.add(_join(path, name), "missing required field", "add it")
                kwargs[name] = None
            continue
        value = _coerce(data[name], hints[name], _join(path, name), problems)
        broken = f.metadata["rule"].problem(value) if "rule" in f.metadata else None
        if broken is not None:  # the value keeps its place: its type is right
            problems.add(_join(path, name), *broken)
            problems.out_of_rule += 1
        if value is not _MISSING:
            kwargs[name] = value
        elif not has_default:
            kwargs[name] = None
    return cls(**kwargs)


def to_plain(obj: Any) -> Any:
    """Dataclasses to plain dicts/lists, in field order (for YAML dumps)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj
