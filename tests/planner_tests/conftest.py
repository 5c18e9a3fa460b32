"""Fixtures for planner tests: scenario files written into tmp_path (no built toy zoo needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "examples" / "paper_scenario.yaml"


@pytest.fixture
def paper_scenario(tmp_path):
    """Write the paper scenario with overrides; return its path."""

    def write(name: str = "paper", **overrides) -> Path:
        data = yaml.safe_load(PAPER.read_text())
        data.update(overrides)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def fake_zoo(tmp_path) -> Path:
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    models = {
        "s": {
            "path": "models/s",
            "params": 154_000,
            "vocab_size": 100,
            "hidden_size": 64,
            "num_hidden_layers": 3,
            "greedy_accuracy": 0.34,
            "sampled_accuracy": 0.095,
            "pretrain_steps": 400,
            "pretrain_seconds": 60.0,
        },
        "m": {
            "path": "models/m",
            "params": 604_000,
            "vocab_size": 100,
            "hidden_size": 128,
            "num_hidden_layers": 3,
            "greedy_accuracy": 0.48,
            "sampled_accuracy": 0.17,
            "pretrain_steps": 400,
            "pretrain_seconds": 147.0,
        },
    }
    doc = {
        "version": 1,
        "key": "fake",
        "seed": 0,
        "build_seconds": 1.0,
        "tokenizer": "tokenizer",
        "data": {
            "train": "data/train.jsonl",
            "prompts": "data/prompts.jsonl",
            "eval": "data/eval.jsonl",
        },
        "models": models,
    }
    (zoo / "zoo.json").write_text(json.dumps(doc))
    return zoo


@pytest.fixture
def toy_problem_path(tmp_path, fake_zoo) -> Path:
    """The toy scenario on the fake zoo, as the toy replication sets it up (s from m, 400 labels)."""
    data = yaml.safe_load((ROOT / "examples" / "toy_scenario.yaml").read_text())
    data.update(zoo=str(fake_zoo), teachers=["toy:m"], labels=400, prompts=2000)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def toy_problem(toy_problem_path):
    from planner.scenario.spec import load_scenario
    from planner.simulator.simulator import Simulator

    return Simulator.create(load_scenario(toy_problem_path))


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for this session (tests/planner_tests/postgres_server.py)."""
    from tests.planner_tests.postgres_server import Unavailable, driver_available, postgres_server

    if not driver_available():
        pytest.skip("no PostgreSQL driver: pip install 'sparse2dense[postgres]'")
    try:
        with postgres_server() as server:
            yield server
    except Unavailable as e:
        pytest.skip(str(e))


@pytest.fixture
def postgres_url(postgres, request):
    """A new database on the session's server, named after the test; its postgresql:// URL."""
    import re

    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())
    return postgres.create_database(f"db{postgres.databases}_{slug}"[:63])
