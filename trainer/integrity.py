"""Is a file the trainer wrote (or was given) whole? Cheap structural checks, no weights loaded.

A crash, a full disk or a copy cut short leaves files that exist but are not
whole. These checks read only what a loader reads first, so they cost
milliseconds on multi-gigabyte files:

- ``*.safetensors``: the 8-byte header length, the JSON header, and a file at
  least as long as the last tensor's end offset.
- torch files (``*.pt``, ``*.pth``, ``*.bin``): torch.save writes a zip archive;
  its central directory is at the end, so a truncated file has none, and
  every member must end inside the file.
- ``*.json``: parses.

``damage(path)`` says what is wrong with one file (None when whole);
``damaged_files(dir)`` checks every such file of a directory tree.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

TORCH_SUFFIXES = (".pt", ".pth", ".bin")
SAFETENSORS_HEADER_LIMIT = 100_000_000  # the format's own ceiling on the header


def _safetensors_damage(path: Path) -> str | None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{size} bytes, shorter than a safetensors header"
        (n,) = struct.unpack("<Q", head)
        if n > SAFETENSORS_HEADER_LIMIT or 8 + n > size:
            return f"its header claims {n} bytes but the file has {size}"
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2):
            return f"tensor {name!r} has no data offsets"
        end = max(end, int(offsets[1]))
    if 8 + n + end > size:
        return f"truncated: its tensors need {8 + n + end} bytes, the file has {size}"
    return None


def _torch_damage(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as z:
            size = path.stat().st_size
            for info in z.infolist():
                if info.header_offset + info.compress_size > size:
                    return f"truncated: member {info.filename} ends past the file's {size} bytes"
    except zipfile.BadZipFile:
        # torch.save's legacy (pre-1.6) format is not a zip: nothing cheap to check.
        with open(path, "rb") as f:
            magic = f.read(2)
        return (
            None if magic == b"\x80\x02" else "not a torch archive (truncated or not torch.save's)"
        )
    return None


def damage(path: Path) -> str | None:
    """What is wrong with ``path`` as a file of its kind; None if it looks whole (or is unknown)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            return _safetensors_damage(path)
        if path.suffix in TORCH_SUFFIXES:
            return _torch_damage(path)
        if path.suffix == ".json":
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                return "not valid JSON (truncated?)"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return None


def damaged_files(root: Path) -> list[tuple[Path, str]]:
    """Every file under ``root`` that is not whole, with what is wrong, in path order."""
    return [
        (p, why)
        for p in sorted(Path(root).rglob("*"))
        if p.is_file() and (why := damage(p)) is not None
    ]


def first_damage(root: Path, required: tuple[str, ...] = ()) -> str | None:
    """One line saying why the directory ``root`` is not whole (missing or damaged); None if it is."""
    root = Path(root)
    if not root.is_dir():
        return f"{root} is missing"
    for name in required:
        if not (root / name).is_file():
            return f"{root / name} is missing"
    bad = damaged_files(root)
    if bad:
        path, why = bad[0]
        return f"{path} is damaged: {why}"
    return None


WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def model_damage(root: Path) -> str | None:
    """Why ``root`` is not a whole save_pretrained model directory; None if it is.

    A model needs its config.json and its weights: one weights file, or an index
    and every shard the index names; each file must be whole.
    """
    root = Path(root)
    problem = first_damage(root, required=("config.json",))
    if problem:
        return problem
    for index in WEIGHT_INDEXES:
        if (root / index).is_file():
            shards = set(
                json.loads((root / index).read_text(encoding="utf-8"))
                .get("weight_map", {})
                .values()
            )
            missing = sorted(s for s in shards if not (root / s).is_file())
            return f"{root / missing[0]} is missing (named by {index})" if missing else None
    if not any((root / name).is_file() for name in WEIGHT_FILES):
        return f"{root} holds no weights ({' or '.join(WEIGHT_FILES)})"
    return None
