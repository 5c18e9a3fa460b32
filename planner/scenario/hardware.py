"""Hardware profiles: what one device computes and moves per second, and how well.

Shipped profiles (profiles/hardware.yaml) carry vendor peaks plus utilisation
factors; the H100 ones are the measured transformers-backend figures. A
scenario may override any field (calibration writes such overrides), and the
``cpu`` profile can measure its peak with a short numpy matmul probe. The
rollout engine (transformers or vLLM) changes only the decode figures.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, fields, replace
from functools import cache
from typing import Any

import yaml

from planner.contracts.errors import UserError
from planner.scenario.models import PROFILE_DIR


@dataclass(frozen=True)
class Hardware:
    name: str
    kind: str  # gpu | cpu
    peak_flops: float
    memory_bandwidth: float
    memory_bytes: float
    bytes_per_param: float
    decode_step_overhead_s: float
    decode_bandwidth_util: float
    max_decode_batch: int
    train_mfu: float
    score_mfu: float
    prefill_mfu: float
    scaling_efficiency: float
    count: int = 1
    engine: str = "transformers"
    description: str = ""
    provenance: str = ""

    @property
    def compute_unit(self) -> str:
        return "gpu_hours" if self.kind == "gpu" else "cpu_seconds"

    def compute_from_device_seconds(self, device_seconds: Any) -> Any:
        """Device-seconds (one device, already divided by scaling efficiency) -> budget units."""
        return device_seconds / 3600.0 if self.kind == "gpu" else device_seconds


@cache
def _shipped() -> dict[str, Any]:
    return yaml.safe_load((PROFILE_DIR / "hardware.yaml").read_text(encoding="utf-8"))


def probe_cpu_flops(seconds: float = 0.05) -> float:
    """FLOP/s of one fp32 matmul stream on this CPU, rounded to 2 significant digits."""
    import numpy as np

    a = np.ones((192, 192), dtype=np.float32)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        n += 1
    flops = 2 * 192**3 * n / (time.perf_counter() - start)
    return float(f"{flops:.2g}")


def resolve_hardware(
    device: str,
    count: int = 1,
    engine: str = "transformers",
    overrides: dict[str, Any] | None = None,
    probe: bool = False,
    where: str = "hardware",
) -> Hardware:
    devices = _shipped()["devices"]
    if device not in devices:
        raise UserError(
            f"{where}.device: unknown device {device!r}; use one of {', '.join(devices)} (override any figure under hardware.overrides)."
        )
    if count < 1:
        raise UserError(f"{where}.count: must be 1 or more (got {count}).")
    raw = dict(devices[device])
    if engine != "transformers":
        engines = _shipped()["engines"]
        if engine not in engines:
            raise UserError(
                f"{where}.engine: unknown rollout engine {engine!r}; use transformers or {', '.join(engines)}."
            )
        raw.update(engines[engine])
    types = {f.name: f.type for f in fields(Hardware)}
    names = set(types)
    # YAML 1.1 reads 3.35e12 (no sign in the exponent) as text: cast by annotation
    cast = {"float": float, "int": int, "str": str}
    hw = Hardware(
        name=device,
        count=count,
        engine=engine,
        **{k: cast[str(types[k])](v) for k, v in raw.items() if k in names},
    )
    if probe and hw.kind == "cpu":
        hw = replace(hw, peak_flops=probe_cpu_flops(), provenance=hw.provenance + "; peak probed")
    for key, value in (overrides or {}).items():
        if key not in names or key in ("name", "kind", "count", "engine"):
            raise UserError(
                f"{where}.overrides.{key}: not a hardware figure; use one of {', '.join(sorted(names - {'name', 'kind', 'count', 'engine', 'description', 'provenance'}))}."
            )
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if not isinstance(value, (int, float)) or value <= 0:
            raise UserError(f"{where}.overrides.{key}: must be a positive number (got {value!r}).")
        hw = replace(hw, **{key: cast[str(types[key])](value)})
    return hw
