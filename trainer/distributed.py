"""The few collectives a stage needs when ``accelerate launch`` runs it on several processes.

Each is a no-op in a single process, so stage code calls them unconditionally.
They use the process group accelerate set up (gloo on CPUs, NCCL on GPUs) and
must be called by every rank at the same point, as any collective.
"""

from __future__ import annotations

from typing import Any


def _group() -> Any:
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def world_size() -> int:
    dist = _group()
    return int(dist.get_world_size()) if dist is not None else 1


def rank() -> int:
    dist = _group()
    return int(dist.get_rank()) if dist is not None else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    dist = _group()
    if dist is not None and dist.get_world_size() > 1:
        dist.barrier()


def sum_ints(values: list[int]) -> list[int]:
    """Element-wise sum of ``values`` over all ranks."""
    dist = _group()
    if dist is None or dist.get_world_size() == 1:
        return list(values)
    import torch

    device = "cpu"
    if dist.get_backend() == "nccl":
        device = f"cuda:{torch.cuda.current_device()}"
    t = torch.tensor(values, dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [int(v) for v in t.tolist()]
