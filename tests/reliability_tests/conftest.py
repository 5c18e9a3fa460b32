"""Fixtures of the reliability tests: the CLI called in-process, and the tiny toy zoo as toy:."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run ``s2d.cli.main`` in this process; return its exit code and what it printed."""
    from s2d.cli import main

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def zoo_env(tiny_zoo, monkeypatch):
    """toy: references resolve in the tiny zoo; one torch thread."""
    import torch

    monkeypatch.setenv("S2D_TOY_ZOO", str(tiny_zoo.root))
    torch.set_num_threads(1)
    return tiny_zoo
