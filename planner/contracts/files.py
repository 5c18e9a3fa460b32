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
from typing import Any, Literal

import yaml

from planner.contracts.errors import UserError, excerpt

NESTED_TOO_DEEPLY = (
    "nested too deeply to read (lists or mappings inside each other beyond Python's limit, "
    "about a thousand levels); no file of this kind nests more than a few. Check that it is "
    "the file you meant."
)
_NAME_MAX = 255  # bytes in one file or directory name: ext4, xfs, btrfs, tmpfs, APFS


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


class HugeNumberError(yaml.constructor.ConstructorError):
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

    def construct_yaml_int(self, node: yaml.Node) -> int:
        try:
            return super().construct_yaml_int(node)  # type: ignore[arg-type]
        except ValueError:  # Python refuses to read more than 4300 digits
            digits = sum(c.isdigit() for c in str(node.value))
            raise HugeNumberError(
                problem=f"a number of {digits} digits, beyond any count or seed",
                problem_mark=node.start_mark,
            ) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)


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
    except HugeNumberError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(
            f"{source}{where}: {e.problem} (Python reads at most 4300 digits); give the value you meant."
        ) from None
    except RecursionError:
        raise UserError(f"{source}: {NESTED_TOO_DEEPLY}") from None
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


def check_output_path(
    path: Path, kind: Literal["file", "dir"], what: str, writable: bool = True
) -> None:
    """Refuse, before any work, an output path that cannot become a ``kind`` written there.

    ``what`` names it in the message (an option, ``--out``, or ``storage file``). Refused:
    an existing path of the other kind, a path under an existing file, a name longer than the
    file system allows, and a location where nothing can be created (a read-only file system,
    a directory this user may not write, sysfs). The last is found by creating an unnamed
    temporary file in the nearest existing directory (``O_TMPFILE`` where the system has it),
    so a path that is fine is left exactly as it was (``writable=False`` skips that probe,
    for a path written only on request).
    """
    path = Path(path).expanduser()
    for part in path.parts:
        if len(os.fsencode(part)) > _NAME_MAX:
            raise UserError(
                f"{what} {excerpt(str(path))}: the name {excerpt(part)} is {len(part)} characters long; names can be at most {_NAME_MAX} bytes on this file system. Give a shorter name."
            )
    if path.is_dir() and kind == "file":
        raise UserError(
            f"{what} {path} is a directory; give the name of a file to write (in it, or elsewhere), not a directory."
        )
    if path.exists() and not path.is_dir() and kind == "dir":
        raise UserError(
            f"{what} {path} is a file, not a directory; give a directory (a new one is created), and the file is left as it is."
        )
    existing = path if path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(
            f"{what} {path}: {existing} is a file, not a directory, so nothing can be created under it; give another path."
        )
    if not writable:
        return
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise UserError(
            f"{what} {path}: {existing} cannot be written ({e.strerror}); give a path in a directory you can write."
        ) from None


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
