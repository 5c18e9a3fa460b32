"""Which TRL trainers get the CPU backend's weight sync (trainer.generation.route_colocated_sync),
and which layers are repacked after it: without vLLM, on stand-ins for its objects."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from trainer import generation


class FakeGeneration:
    def __init__(self, mode: str):
        self.mode = mode
        self.synced_by_trl = 0

    def sync_weights(self) -> None:
        self.synced_by_trl += 1


def _platform(monkeypatch, cpu: bool) -> None:
    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: cpu)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)


@pytest.mark.parametrize(
    ("cpu", "mode", "routed"),
    [(True, "colocate", True), (False, "colocate", False), (True, "server", False)],
)
def test_only_a_colocated_engine_on_the_cpu_backend_is_rerouted(monkeypatch, cpu, mode, routed):
    _platform(monkeypatch, cpu)
    reloaded = []
    monkeypatch.setattr(generation, "reload_colocated_weights", reloaded.append)
    gen = FakeGeneration(mode)
    generation.route_colocated_sync(types.SimpleNamespace(vllm_generation=gen))
    gen.sync_weights()
    assert (reloaded == [gen], gen.synced_by_trl) == ((True, 0) if routed else (False, 1))


def test_a_trainer_without_vllm_is_left_alone(monkeypatch):
    _platform(monkeypatch, True)
    trainer = types.SimpleNamespace()
    generation.route_colocated_sync(trainer)
    assert vars(trainer) == {}


class Gemm(torch.nn.Module):
    """A layer as vLLM's CPU backend leaves it: a kernel, and a plain or emptied weight."""

    def __init__(self, weight: torch.nn.Parameter):
        super().__init__()
        self.weight = weight
        self.cpu_linear = torch.nn.functional.linear


def test_the_layers_of_a_tied_weight_are_the_ones_repacked():
    tied = torch.nn.Parameter(torch.zeros(8, 4))
    embed, head = Gemm(tied), Gemm(tied)
    own = Gemm(torch.nn.Parameter(torch.zeros(8, 4)))  # an untied head: the reload repacked it
    packed = Gemm(torch.nn.Parameter(torch.empty(0)))  # a linear layer whose weight was packed
    model = torch.nn.ModuleList([embed, own, packed, head])
    assert generation.tied_gemm_layers(model) == [embed, head]
