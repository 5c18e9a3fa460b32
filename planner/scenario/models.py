"""Model facts the planner needs: parameter count, vocabulary and accuracy priors.

A model is named three ways: a shipped profile (``qwen3-1.7b``, from
profiles/models.yaml, each figure with its provenance), a local directory with a
``config.json`` (the parameter count is computed from the Qwen3-style shapes;
accuracy priors must come from the scenario and count as estimated, so the
prediction band widens as for an interpolated shipped model, unless the
scenario marks them ``measured: true``), or ``toy:<size>`` (read from the
built toy zoo's ``zoo.json``, whose measured sampled accuracy is the prior on
the ``toy`` benchmark). Read as plain YAML/JSON: nothing here loads weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

import yaml

from planner.contracts.errors import UserError

PROFILE_DIR = Path(__file__).parent.parent / "profiles"
TOY_BENCHMARK = "toy"


@dataclass(frozen=True)
class ModelProfile:
    name: str
    path: str  # what a plan's ModelRef.path gets: hub id, local dir or toy:<size>
    params: float
    vocab_size: int
    # benchmark -> accuracy (0..1) before training; grpo: after direct GRPO where measured
    base_accuracy: dict[str, float] = field(default_factory=dict)
    grpo_accuracy: dict[str, float] = field(default_factory=dict)
    # benchmark -> greedy-decoding accuracy before training, where measured (the toy zoo's)
    greedy_accuracy: dict[str, float] = field(default_factory=dict)
    provenance: str = ""
    interpolated: bool = False
    # The shapes the memory estimate reads (planner.simulator.memory); 0 where unknown.
    hidden_size: int = 0
    num_layers: int = 0
    kv_dim: int = 0  # key/value heads x head dim (the hidden size without grouped-query attention)

    def accuracy(self, benchmark: str, where: str) -> float:
        if benchmark not in self.base_accuracy:
            known = ", ".join(sorted(self.base_accuracy)) or "none"
            raise UserError(
                f"{where}: model {self.name} has no accuracy prior on benchmark {benchmark!r} "
                f"(known: {known}). Add one in the scenario, e.g. "
                f"{{model: {self.path}, accuracy: {{{benchmark}: 0.5}}}}, or pick a benchmark it has."
            )
        return self.base_accuracy[benchmark]


class Shape(TypedDict):
    hidden_size: int
    num_layers: int
    kv_dim: int


def shape_fields(config: dict[str, Any]) -> Shape:
    """hidden_size, num_layers and kv_dim of a config.json-style mapping (0 where absent)."""
    h = int(config.get("hidden_size") or 0)
    heads = int(config.get("num_attention_heads") or 0)
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or (h // heads if heads else 0))
    return Shape(
        hidden_size=h,
        num_layers=int(config.get("num_hidden_layers") or 0),
        kv_dim=kv_heads * head_dim if kv_heads and head_dim else h,
    )


@cache
def shipped_models() -> dict[str, ModelProfile]:
    raw = yaml.safe_load((PROFILE_DIR / "models.yaml").read_text(encoding="utf-8"))
    out = {}
    for name, m in raw["models"].items():
        acc = m.get("accuracy", {})
        out[name] = ModelProfile(
            name=name,
            path=m["hub_id"],
            params=float(m["params"]),
            vocab_size=int(m["vocab_size"]),
            base_accuracy={b: float(v["base"]) for b, v in acc.items()},
            grpo_accuracy={b: float(v["grpo"]) for b, v in acc.items() if "grpo" in v},
            provenance=m.get("provenance", ""),
            interpolated=bool(m.get("interpolated", False)),
            **shape_fields(m),
        )
    return out


def params_from_config(config: dict[str, Any]) -> float:
    """Parameter count of a Qwen3/Llama-style decoder from its config.json shapes."""
    h = int(config["hidden_size"])
    layers = int(config["num_hidden_layers"])
    inter = int(config.get("intermediate_size", 4 * h))
    heads = int(config.get("num_attention_heads", 1))
    kv = int(config.get("num_key_value_heads", heads))
    head_dim = int(config.get("head_dim") or h // heads)
    vocab = int(config["vocab_size"])
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2  # q, o and k, v
    mlp = 3 * h * inter  # gate, up, down
    per_layer = attn + mlp + 2 * h  # two RMSNorm weights
    embed = vocab * h * (1 if config.get("tie_word_embeddings", False) else 2)
    return float(embed + layers * per_layer + h)


def model_from_dir(path: Path, where: str) -> ModelProfile:
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise UserError(
            f"{where}: {path} has no config.json; give a model directory saved with save_pretrained, a toy:<size> name, or one of: {', '.join(shipped_models())}."
        )
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
        params = params_from_config(config)
        vocab = int(config["vocab_size"])
        shape = shape_fields(config)
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(
            f"{where}: cannot read the model shape from {cfg_path} ({e}); it needs hidden_size, num_hidden_layers and vocab_size."
        ) from None
    return ModelProfile(
        name=path.name,
        path=str(path),
        params=params,
        vocab_size=vocab,
        provenance=f"shape from {cfg_path}",
        interpolated=True,
        **shape,
    )


# ---------------------------------------------------------------------------
# the toy zoo


@cache
def _read_zoo(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "zoo.json").read_text(encoding="utf-8"))
    except ValueError as e:
        raise UserError(
            f"{path / 'zoo.json'} is not valid JSON ({e}); rebuild the toy zoo."
        ) from None


def toy_models(zoo: Path) -> dict[str, ModelProfile]:
    data = _read_zoo(zoo)
    out = {}
    for size, m in data.get("models", {}).items():
        out[size] = ModelProfile(
            name=f"toy-{size}",
            path=f"toy:{size}",
            params=float(m["params"]),
            vocab_size=int(m["vocab_size"]),
            base_accuracy={TOY_BENCHMARK: float(m["sampled_accuracy"])},
            greedy_accuracy={TOY_BENCHMARK: float(m["greedy_accuracy"])}
            if m.get("greedy_accuracy") is not None
            else {},
            provenance=f"measured sampled accuracy in {zoo / 'zoo.json'}",
            **shape_fields(m),
        )
    return out


def resolve_model(
    ref: str, where: str, zoo: Path | None = None, base_dir: Path | None = None
) -> ModelProfile:
    """A model reference from a scenario -> its profile, or a UserError naming the choices.

    A relative directory is read from ``base_dir`` (the scenario's folder) when given, as
    the scenario's data paths are, and the profile names it absolutely.
    """
    if ref.startswith("toy:"):
        if zoo is None:
            raise UserError(
                f"{where}: {ref} is a toy model, but the scenario is not a toy scenario; set world: toy."
            )
        models = toy_models(zoo)
        size = ref[4:]
        if size not in models:
            raise UserError(
                f"{where}: unknown toy model {ref!r}; the zoo at {zoo} has {', '.join('toy:' + s for s in models)} (`s2d toy build` builds every size)."
            )
        return models[size]
    shipped = shipped_models()
    key = ref.lower().removeprefix("qwen/")
    if key in shipped:
        return shipped[key]
    path = Path(ref).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        return model_from_dir(path.resolve(), where)
    import difflib

    close = difflib.get_close_matches(key, list(shipped), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    folder = (
        f" (a relative one is read from the scenario's folder, {base_dir.resolve()})"
        if base_dir is not None and not Path(ref).expanduser().is_absolute()
        else ""
    )
    raise UserError(
        f"{where}: unknown model {ref!r}; {hint}use a shipped profile ({', '.join(shipped)}), a local model directory with config.json{folder}, or toy:<size>."
    )
