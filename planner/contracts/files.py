"""Reading and writing the project's files: UTF-8 text, safe YAML, and writes that are never half done.

Every YAML file a user hands over (plans, scenarios, profiles) is read with
a safe loader, so no tag can construct an object, and a key given twice in
one mapping is refused (plain YAML loaders keep the last one silently); every file the project
writes for another process to read is written to a temporary name and
renamed, so a reader or a crash never sees half of it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from planner.contracts.errors import UserError, excerpt


def read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise UserError(f"{what} file {path} does not exist; check the path.")
    if path.is_dir():
        raise UserError(f"{path} is a directory; give the {what} YAML file inside it.")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path} is not UTF-8 text (byte {e.start}); save the {what} as UTF-8."
        ) from None


class DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a mapping key given twice (merge keys, ``<<``, may override)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader's own error follows
                    continue
                if first is not None:
                    raise DuplicateKeyError(
                        problem=f"key {excerpt(key)} appears twice (lines {first} and {line})",
                        problem_mark=key_node.start_mark,
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def load_yaml_text(text: str, source: str) -> Any:
    """Safe YAML (no object construction); syntax errors name line and column."""
    try:
        loader = _UniqueKeyLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except DuplicateKeyError as e:
        raise UserError(
            f"{source}: {e.problem}; a later value would silently replace the earlier one. Keep one of them."
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(
            f"{source} is not valid YAML{where}: {what}. Fix the syntax there (indentation, colons, quotes)."
        ) from None


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a crash can otherwise undo it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> Path:
    """Write via a temporary file in the same directory and rename: never half a file.

    The file gets the permissions a plain ``open`` would give it under the
    user's umask (mkstemp alone makes it 0600, unreadable to colleagues).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
