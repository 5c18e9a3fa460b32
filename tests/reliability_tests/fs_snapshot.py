"""File-system snapshots for the reliability tests: a refused command must leave every file as it was.

``tree_state`` records each file under a root with its content hash (or only its presence, for
trees other people edit while tests run), so a test can compare before and after.
``mount_tmpfs`` gives a test a real small or read-only file system.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Caches that interpreters and tools keep beside the code; not outputs of the product.
CACHE_DIRS = {".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache"}


def tree_state(root: Path, contents: bool = True) -> dict[str, str]:
    """relative path -> content hash (or "" when ``contents`` is false) of every file under root."""
    state: dict[str, str] = {}
    if not root.exists():
        return state
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in CACHE_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if contents else ""
        for name in dirnames:
            state[str((Path(dirpath) / name).relative_to(root)) + "/"] = "dir"
    return state


def tree_diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    created = [f"created {p}" for p in after if p not in before]
    removed = [f"removed {p}" for p in before if p not in after]
    changed = [f"changed {p}" for p in before if p in after and before[p] != after[p]]
    return created + removed + changed


def mount_tmpfs(target: Path, options: str) -> Callable[[], None]:
    """Mount a tmpfs with ``options`` (``size=256k``, ``ro,size=64k``) on the empty directory
    ``target``; return the unmount. Skips the test, saying why, where this process cannot mount
    (it needs root and a container that allows it)."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {done.stderr.strip()}")

    def unmount() -> None:
        subprocess.run(["umount", "-l", str(target)], check=False)

    return unmount
