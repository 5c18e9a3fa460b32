"""Which toy zoo ``toy:`` names resolve in: one rule for the planner and the trainer.

In order: a zoo given explicitly (``s2d run --toy-zoo``, a plan's ``toy_zoo``,
a scenario's ``zoo:``), else ``$S2D_TOY_ZOO``, else the newest zoo built under
``$S2D_HOME/toy`` (``~/.cache/sparse2dense/toy``), preferring the default
preset at seed 0 (what ``s2d toy build`` makes). Plans emitted for a toy
scenario record the zoo they were planned on, so ``s2d run`` trains on the
models the planner priced.
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.contracts.errors import UserError

ZOO_FILE = "zoo.json"
DEFAULT_PREFIX = "default-seed0-"  # trainer.toy.zoo names a build <preset>-seed<seed>-<key>


def s2d_home() -> Path:
    return Path(os.environ.get("S2D_HOME") or Path.home() / ".cache" / "sparse2dense")


def resolve_zoo(explicit: str | os.PathLike[str] | None = None, *, where: str = "toy zoo") -> Path:
    """The zoo's directory (it holds zoo.json), or a UserError saying how to get one."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path / ZOO_FILE).is_file():
            raise UserError(
                f"{where}: {path} holds no {ZOO_FILE}; build the toy zoo with `s2d toy build` or fix the path."
            )
        return path
    env = os.environ.get("S2D_TOY_ZOO")
    if env:
        if not (Path(env) / ZOO_FILE).is_file():
            raise UserError(
                f"S2D_TOY_ZOO={env} is not a built toy zoo (no {ZOO_FILE}); unset it or run `s2d toy build`."
            )
        return Path(env)
    root = s2d_home() / "toy"
    built = (
        sorted(root.glob(f"*/{ZOO_FILE}"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    )
    default = [p for p in built if p.parent.name.startswith(DEFAULT_PREFIX)]
    if not (default or built):
        raise UserError(
            f"{where}: no built toy zoo under {root}; run `s2d toy build` first "
            "(or give the zoo: set zoo: DIR in the scenario, --toy-zoo DIR, or S2D_TOY_ZOO)."
        )
    return (default or built)[-1].parent
