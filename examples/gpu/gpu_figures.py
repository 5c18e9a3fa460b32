"""Throughput and utilisation arithmetic of the GPU check, and the two measurements it makes.

Model FLOPs follow the usual convention: 6N per trained token, 2N per token a
teacher scores or a model generates, N the parameter count with tied embeddings
counted once (the output projection is a matmul, the embedding lookup is not);
attention FLOPs and prompt tokens are left out. Utilisation (MFU) is those
FLOPs per second over the card's peak dense bf16 FLOP/s, taken from the shipped
hardware profiles so that the planner and this check divide by the same number.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# torch.cuda device-name substring -> shipped hardware profile (planner/profiles/hardware.yaml)
CARD_PROFILES = (("H200", "h200"), ("H100", "h100"), ("A100", "a100"))


def peak_flops_for(card: str) -> tuple[float | None, str]:
    """(peak dense bf16 FLOP/s, its source) for a torch.cuda device name; None when unknown."""
    from planner.scenario import resolve_hardware

    for needle, profile in CARD_PROFILES:
        if needle in card.upper():
            return resolve_hardware(profile).peak_flops, f"{profile} profile"
    return None, "unknown card (pass --peak-tflops)"


def stage_flops(trained: float, scored: float, generated: float, roles: tuple[int, ...]) -> float:
    """Model FLOPs of token counts; roles = parameters of the (trained, scoring, generating) model."""
    trained_params, teacher_params, generator_params = roles
    return 6.0 * trained_params * trained + 2.0 * (
        teacher_params * scored + generator_params * generated
    )


def flop_roles(stage: str, student_params: int, teacher_params: int) -> tuple[int, int, int]:
    """Which model trains, scores and generates in a stage (0: none)."""
    s, t = student_params, teacher_params
    return {
        "grpo": (s, 0, s),
        "grpo_teacher": (t, 0, t),
        "forward_kl": (s, t, t),  # the teacher writes the rollouts
        "opd_full": (s, t, s),
        "opd_sampled": (s, t, s),
        "eval": (0, 0, s),
    }[stage]


def rates(
    tokens: dict[str, float], roles: tuple[int, ...], peak_flops: float | None
) -> dict[str, Any]:
    """Per-second figures and utilisation of cumulative counters over ``tokens["wall_seconds"]``."""
    wall = tokens["wall_seconds"]
    if wall <= 0:
        return {
            "generated_per_s": 0.0,
            "trained_per_s": 0.0,
            "teacher_scored_per_s": 0.0,
            "achieved_tflops": 0.0,
            "mfu": None,
        }
    gen, trained, scored = (
        tokens["tokens_generated"],
        tokens["tokens_trained"],
        tokens["teacher_tokens_scored"],
    )
    flops_per_s = stage_flops(trained, scored, gen, roles) / wall
    return {
        "generated_per_s": gen / wall,
        "trained_per_s": trained / wall,
        "teacher_scored_per_s": scored / wall,
        "achieved_tflops": flops_per_s / 1e12,
        "mfu": None if peak_flops is None else flops_per_s / peak_flops,
    }


def steady_window(spends: list[dict[str, Any]]) -> dict[str, float] | None:
    """Counters and seconds between the first and the last step's cumulative spend; None under 2 steps.

    The first step carries one-off costs (kernel choice, allocator growth) and the stage's
    edges carry loading and saving; the window between step logs has neither.
    """
    if len(spends) < 2:
        return None
    keys = ("tokens_generated", "tokens_trained", "teacher_tokens_scored", "wall_seconds")
    delta = {k: float(spends[-1].get(k, 0)) - float(spends[0].get(k, 0)) for k in keys}
    return delta if delta["wall_seconds"] > 0 else None


def probe_matmul_flops(device: str, n: int, seconds: float) -> float:
    """FLOP/s of n x n matmuls in the dtype the stages run in (bf16 on a GPU, fp32 on CPU)."""
    import torch

    cuda = device.startswith("cuda")
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    a_N_N, b_N_N = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a_N_N @ b_N_N
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            a_N_N @ b_N_N
        if cuda:
            torch.cuda.synchronize()
        reps += 10
    return 2.0 * n**3 * reps / (time.perf_counter() - t0)


def changed_fraction(before: Path, after: Path, device: str, skip: str = "embed_tokens") -> float:
    """Fraction of weight elements that differ between two save_pretrained directories.

    Tensors whose name contains ``skip`` are left out: the check's zeroed embedding rows
    move under Adam however small their gradient, which says nothing about a real model.
    """
    from contextlib import ExitStack

    from safetensors import safe_open

    with ExitStack() as stack:
        handles = []
        for directory in (before, after):
            by_name: dict[str, Any] = {}
            for file in sorted(directory.glob("*.safetensors")):
                f = stack.enter_context(safe_open(str(file), framework="pt", device=device))
                by_name.update(dict.fromkeys(f.keys(), f))
            handles.append(by_name)
        changed = total = 0
        for name, f in handles[1].items():
            if skip in name:
                continue
            new = f.get_tensor(name)
            changed += int((handles[0][name].get_tensor(name) != new).sum())
            total += new.numel()
    return changed / max(1, total)
