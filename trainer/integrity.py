"""Is a file the trainer wrote (or was given) whole? Cheap structural checks, no weights loaded.

A crash, a full disk or a copy cut short leaves files that exist but are not
whole. These checks read only what a loader reads first, so they cost
milliseconds on multi-gigabyte files:

- ``*.safetensors``: the 8-byte header length, the JSON header, and a file at
  least as long as the last tensor's end offset.
- torch files (``*.pt``, ``*.pth``, ``*.bin``): torch.save writes a zip archive;
  its central directory is at the end, so a truncated file has none, and
  every member must end inside the file.
- ``*.json``: parses (past a size limit, when asked: its two ends only).

``damage(path)`` says what is wrong with one file (None when whole);
``damaged_files(dir)`` checks every such file of a directory tree;
``model_problems(dir)`` lists what keeps a save_pretrained directory from
loading (config, tokenizer and generation JSON, the weights it would pick).
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


def _json_damage(path: Path, full_parse_limit: int | None) -> str | None:
    """A JSON file parses; past ``full_parse_limit`` bytes only its ends are checked (a cut
    file loses its closing bracket; random bytes have no opening one)."""
    size = path.stat().st_size
    if full_parse_limit is not None and size > full_parse_limit:
        with open(path, "rb") as f:
            head = f.read(4096)
            f.seek(max(0, size - 4096))
            tail = f.read()
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(head) - 4:  # not a character cut at the edge of the block
                return f"not valid JSON: not UTF-8 text (byte {e.start} is 0x{head[e.start]:02x})"
        first, last = head.lstrip()[:1], tail.rstrip()[-1:]
        if first not in (b"{", b"[") or last != {b"{": b"}", b"[": b"]"}[first]:
            return f"not valid JSON (truncated? it ends in {tail.rstrip()[-20:]!r})"
        return None
    try:
        json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        return f"not valid JSON: not UTF-8 text (byte {e.start} is 0x{e.object[e.start]:02x})"
    except json.JSONDecodeError as e:
        return f"not valid JSON ({e.msg}: line {e.lineno}, column {e.colno}; truncated?)"
    except RecursionError:
        return "not valid JSON (nested too deeply)"
    return None


def damage(path: Path, json_full_parse_limit: int | None = None) -> str | None:
    """What is wrong with ``path`` as a file of its kind; None if it looks whole (or is unknown).

    JSON files are parsed whole, or, past ``json_full_parse_limit`` bytes, checked at both
    ends only (a tokenizer.json of a 150k vocabulary takes a second to parse).
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            return _safetensors_damage(path)
        if path.suffix in TORCH_SUFFIXES:
            return _torch_damage(path)
        if path.suffix == ".json":
            return _json_damage(path, json_full_parse_limit)
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


# What from_pretrained looks for, in its order: one safetensors file, a safetensors index and
# its shards, one torch file, a torch index and its shards.
WEIGHTS = (
    ("model.safetensors", None),
    (None, "model.safetensors.index.json"),
    ("pytorch_model.bin", None),
    (None, "pytorch_model.bin.index.json"),
)
WEIGHT_FILES = tuple(name for name, _ in WEIGHTS if name)
# The JSON files that loading a tokenizer reads, and a model with its generation settings.
TOKENIZER_JSON_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "chat_template.json",
)
MODEL_JSON_FILES = ("config.json", "generation_config.json", *TOKENIZER_JSON_FILES)
JSON_FULL_PARSE_LIMIT = 1_000_000  # bigger JSON files (tokenizer.json) are checked at their ends


def _shards(root: Path, index: str) -> tuple[list[str], str | None]:
    """The shard files an index names, or what is wrong with the index."""
    try:
        data = json.loads((root / index).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return [], f"{index} is not valid JSON (truncated?)"
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        return [], f"{index} has no weight_map naming the shard of each tensor"
    return sorted(set(weight_map.values())), None


def model_problems(root: Path) -> list[str]:
    """Everything that keeps ``root`` from loading as a save_pretrained model, cheaply.

    Only files from_pretrained reads are looked at, each named relative to ``root``: config.json
    must be there; the weights from_pretrained would pick must be whole (headers only) and, for
    a sharded save, every shard its index names must be there; the JSON files of the config,
    the generation settings and the tokenizer must parse. Empty when nothing is wrong.
    """
    root = Path(root)
    if not root.is_dir():
        return [f"{root} is not a directory"]
    problems: list[str] = []
    if not (root / "config.json").is_file():
        problems.append("config.json is missing")
    for name in MODEL_JSON_FILES:
        if (root / name).is_file() and (why := damage(root / name, JSON_FULL_PARSE_LIMIT)):
            problems.append(f"{name} is {why}" if why.startswith("not ") else f"{name}: {why}")
    for single, index in WEIGHTS:
        if single is not None and (root / single).is_file():
            if why := damage(root / single):
                problems.append(f"{single} is damaged: {why}")
            return problems
        if index is not None and (root / index).is_file():
            shards, why = _shards(root, index)
            if why:
                return [*problems, why]
            for shard in shards:
                if not (root / shard).is_file():
                    problems.append(f"{shard} is missing (named by {index})")
                elif why := damage(root / shard):
                    problems.append(f"{shard} is damaged: {why}")
            return problems
    problems.append(f"holds no weights ({' or '.join(WEIGHT_FILES)}, or a sharded index)")
    return problems


def model_damage(root: Path) -> str | None:
    """Why ``root`` is not a whole save_pretrained model directory (the first reason); None if it is.

    A model needs its config.json and its weights: one weights file, or an index
    and every shard the index names; each file must be whole.
    """
    problems = model_problems(root)
    return f"{Path(root)}: {problems[0]}" if problems else None
