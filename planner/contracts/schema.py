"""Turn plain YAML/JSON data into typed dataclasses, collecting every problem.

A tiny, dependency-free alternative to pydantic for our config contracts: the
import stays fast (``s2d --help`` must answer in well under a second) and the
messages are ours to word. Each dataclass field is checked against its type
annotation; unknown keys are refused with the list of known ones, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, TypeVar

from planner.contracts.errors import FieldProblem

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


class FieldProblems(list[FieldProblem]):
    """A list of problems with a convenience adder."""

    def add(self, field: str, message: str, fix: str = "") -> None:
        self.append(FieldProblem(field, message, fix))


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
        for candidate in non_none:
            trial = FieldProblems()
            out = _coerce(value, candidate, path, trial)
            if not trial:
                return out
        problems.add(
            path, f"expected {' or '.join(_type_name(a) for a in non_none)}, got {value!r}"
        )
        return _MISSING
    if origin is typing.Literal:
        if value in args:
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.add(
            path, f"unknown value {value!r}", f"{hint}use one of: {', '.join(map(str, args))}"
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
        problems.add(path, f"expected true or false, got {value!r}")
        return _MISSING
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        problems.add(path, f"expected a whole number, got {value!r}")
        return _MISSING
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 3e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        problems.add(path, f"expected a number, got {value!r}")
        return _MISSING
    if tp is str:
        if isinstance(value, str):
            return value
        problems.add(path, f"expected text, got {value!r}")
        return _MISSING
    return value


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
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.add(
                _join(path, str(key)), "unknown field", f"{hint}known fields: {', '.join(fields)}"
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
