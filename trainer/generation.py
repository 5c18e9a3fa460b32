"""One generation interface for teacher rollouts and every eval, on either engine.

``rollout.engine`` picks it: ``transformers`` generates with ``generate`` in budgeted calls
(:func:`trainer.rollouts.sample`), reporting after each call; ``vllm`` with vLLM's offline
engine (``vllm.LLM``), stepped here so that each engine step's finished problems are reported
as they finish (:meth:`VLLMEngine.stream`). Both are given the same prompt token ids (:func:`trainer.rollouts.chat_prompt_ids`, the plan's
prompt template through the model's chat template), stop at the same tokens and return the
same :class:`~trainer.rollouts.Completion` rows, so a run's files and metrics do not depend on
the engine's format. The RL stages generate inside TRL, which ``rollout`` configures the same
way (``use_vllm``, ``vllm_mode``, ``vllm_gpu_memory_utilization``,
``vllm_tensor_parallel_size``).

``rollout.vllm_mode`` concerns TRL's stages only. ``colocate``: TRL builds its own vLLM engine
inside the training processes for the stage. ``server``: TRL's stages generate on a running
``trl vllm-serve`` (its address from the stage's ``trl:`` block, ``vllm_server_host`` /
``vllm_server_port`` or ``vllm_server_base_url``), started by the user on that stage's model;
TRL pushes the trained weights to it before each generation, and the server's GPUs and memory
share are its own flags (``rollout.gpu_memory_utilization`` does not reach it). Teacher
rollouts and evals never use the server, in either mode: they open the local
:class:`VLLMEngine` here on the training GPUs while they are idle (a warmup samples before it
trains; evals run between stages), taking ``rollout.gpu_memory_utilization`` of their memory,
and close it before training goes on.

Sampling: transformers switches top-k off with ``top_k=0``, vLLM with ``top_k=-1``. Seeds:
the transformers engine seeds torch's global generator once per ``generate``, as before;
vLLM seeds each problem's request (``seed`` and the problem's index), so its random draws do
not depend on how vLLM schedules the requests. The two engines' sampled completions differ
(different random streams); greedy ones agree up to float differences (on the realistic
world's fp32 models, token for token: tests/realworld_tests/test_vllm_engine.py).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from planner.contracts.data import PromptTemplate
from planner.contracts.plan import Rollout
from trainer.rollouts import (
    BatchBudget,
    Completion,
    chat_prompt_ids,
    completion,
    sample,
    stop_ids,
)


class Generator(Protocol):
    def generate(
        self,
        problems: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        greedy: bool = False,
        seed: int = 0,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions per problem (one when greedy), in problem order; ``on_batch`` is
        told how many problems each step finished."""
        ...

    def close(self) -> None:
        """Free the engine's memory (a vLLM engine holds its KV cache until closed)."""
        ...


class TransformersEngine:
    """transformers ``generate`` on a loaded model, in calls within the plan's budget."""

    def __init__(
        self, model: Any, tokenizer: Any, template: PromptTemplate | None, budget: BatchBudget
    ):
        self.model, self.tokenizer, self.template, self.budget = model, tokenizer, template, budget

    def generate(
        self,
        problems: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        greedy: bool = False,
        seed: int = 0,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        import torch

        torch.manual_seed(seed)
        return sample(
            self.model,
            self.tokenizer,
            problems,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            greedy=greedy,
            budget=self.budget,
            on_batch=on_batch,
            template=self.template,
        )

    def close(self) -> None:
        self.model = None


def vllm_dtype(dtype: Any) -> str:
    """vLLM's name for a torch dtype (None: the checkpoint's own)."""
    if dtype is None:
        return "auto"
    return str(dtype).removeprefix("torch.")


def request_seed(seed: int, index: int) -> int:
    return (seed * 1_000_003 + index) % (2**31)


class VLLMEngine:
    """vLLM's offline engine on a checkpoint directory, configured by the plan's ``rollout``.

    Under several processes (``accelerate launch``) each rank builds its own engine over
    its own share of the prompts with TRL's colocate recipe (the ``external_launcher``
    backend, which joins the process group accelerate set up); closing it keeps that group
    (:func:`_spare_default_group`). Run on two CPU processes over gloo with vLLM's CPU build:
    tests/realworld_tests/test_vllm_engine.py.
    """

    def __init__(
        self,
        model_path: Path,
        tokenizer: Any,
        template: PromptTemplate | None,
        rollout: Rollout,
        *,
        dtype: Any = None,
        seed: int = 0,
    ):
        from vllm import LLM
        from vllm.platforms import current_platform

        from trainer import distributed

        self.tokenizer, self.template = tokenizer, template
        self.distributed = distributed.world_size() > 1
        kwargs: dict[str, Any] = {
            "model": str(model_path),
            "tokenizer": str(model_path),
            "dtype": vllm_dtype(dtype),
            "gpu_memory_utilization": rollout.gpu_memory_utilization,
            "tensor_parallel_size": rollout.tensor_parallel_size,
            "seed": seed,
        }
        if rollout.max_model_len:
            kwargs["max_model_len"] = rollout.max_model_len
        if self.distributed:
            kwargs["distributed_executor_backend"] = "external_launcher"
        elif rollout.tensor_parallel_size == 1:
            kwargs["distributed_executor_backend"] = "uni"  # the engine's worker in this process
        if current_platform.is_cpu():
            # vLLM's CPU build: torch.compile of the model costs more than it saves at test sizes
            kwargs["enforce_eager"] = True
        self.llm: Any = LLM(**kwargs)
        self.calls = 0

    def generate(
        self,
        problems: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        greedy: bool = False,
        seed: int = 0,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        prompts = chat_prompt_ids(self.tokenizer, problems, self.template)
        eos = stop_ids(self.tokenizer)
        params = self.sampling_params(
            len(prompts), n, temperature, top_p, max_new_tokens, greedy, seed, sorted(eos)
        )
        groups: list[list[Completion]] = [[] for _ in prompts]
        for i, out in self.stream(prompts, params, on_batch):
            groups[i] = [
                completion(self.tokenizer, list(o.token_ids), prompts[i], eos) for o in out
            ]
        return groups

    @staticmethod
    def sampling_params(
        count: int,
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        greedy: bool,
        seed: int,
        stop: list[int],
    ) -> list[Any]:
        """One request's ``SamplingParams`` per problem, each seeded by the problem's index."""
        from vllm import SamplingParams

        return [
            SamplingParams(
                n=1 if greedy else n,
                temperature=0.0 if greedy else temperature,
                top_p=1.0 if greedy else top_p,
                top_k=-1,  # vLLM's "no top-k" (transformers' is 0)
                max_tokens=max_new_tokens,
                seed=request_seed(seed, i),
                stop_token_ids=stop,
                detokenize=False,  # decoded here, as the transformers engine decodes
            )
            for i in range(count)
        ]

    def stream(
        self,
        prompts: list[list[int]],
        params: list[Any],
        on_batch: Callable[[int], None] | None,
    ) -> Iterator[tuple[int, list[Any]]]:
        """(problem index, its vLLM outputs) as vLLM finishes each problem, then ``on_batch``
        with how many the engine step finished.

        ``LLM.generate`` runs the same loop (add every request, step the engine until none is
        left) and returns only at the end; stepping it here reports each step's finished
        problems while the rest generate. The requests, their seeds and vLLM's scheduling are
        ``LLM.generate``'s, so the completions are those of one ``LLM.generate`` call over all
        the problems; vLLM schedules as many sequences as its own limits allow (the
        transformers engine's ``max_batch_*`` budget does not apply: vLLM's paged KV cache
        holds no padding, and calls cut in budgeted pieces would idle the GPU at each piece's
        longest completion).
        """
        from vllm.sampling_params import RequestOutputKind

        engine = self.llm.llm_engine
        self.calls += 1
        index: dict[str, int] = {}  # the ids we gave (vLLM's outputs carry them) -> problem
        try:
            for i, (prompt, p) in enumerate(zip(prompts, params, strict=True)):
                p.output_kind = RequestOutputKind.FINAL_ONLY  # one output, when it is done
                rid = f"s2d-{self.calls}-{i}"
                engine.add_request(rid, {"prompt_token_ids": prompt}, p)
                index[rid] = i
            while index and engine.has_unfinished_requests():
                finished = 0
                for out in engine.step():
                    if out.finished and out.request_id in index:
                        finished += 1
                        yield index.pop(out.request_id), list(out.outputs)
                if finished and on_batch is not None:
                    on_batch(finished)
        finally:
            if index:  # stopped early (an error, Ctrl-C): the engine must not keep them
                engine.abort_request(list(index))
        if index:
            raise RuntimeError(f"vLLM finished without {len(index)} of the requests")

    def close(self) -> None:
        llm, self.llm = self.llm, None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            with _spare_default_group() if self.distributed else contextlib.nullcontext():
                shutdown()
        del llm, engine
        gc.collect()
        if not self.distributed:
            # A single process: vLLM's own process group and model-parallel state go too, so
            # that a later engine (the next eval, TRL's colocated one) starts clean.
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
        else:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()


@contextlib.contextmanager
def _spare_default_group() -> Iterator[None]:
    """Keep the process group accelerate set up through a vLLM engine's shutdown.

    An in-process engine's shutdown (``EngineCore.shutdown``) ends with vLLM's
    ``cleanup_dist_env_and_memory``, which destroys torch's default process group. Under
    ``external_launcher`` that group is the run's own (the ranks' barriers and gathers after
    the teacher rollouts, the trainer's DDP): destroying it left each rank alone, the
    barrier a no-op, so rank 0 read rank 1's rollout shard before it was written. vLLM's
    own groups (new groups over the same ranks) are still destroyed.
    """
    import torch.distributed as dist

    destroy = dist.destroy_process_group

    def spare(group: Any = None) -> None:
        if group is not None:
            destroy(group)

    dist.destroy_process_group = spare
    try:
        yield
    finally:
        dist.destroy_process_group = destroy


def reload_colocated_weights(generation: Any) -> None:
    """TRL's colocated weight sync, through vLLM's in-place reload (the CPU backend's way in).

    vLLM's CPU backend repacks each linear layer's weight into its GEMM kernel's format
    after loading (oneDNN, or the AMX kernels where the CPU has them) and replaces the
    parameter by an empty one, so TRL's colocated sync, which hands the trained weights to
    ``model.load_weights`` one parameter at a time, fails on the first of them (``'Parameter'
    object has no attribute 'weight_loader'``); a build without those kernels keeps plain
    weights and never showed it. ``model_runner.reload_weights`` restores each layer's
    checkpoint-format parameters, loads into them and repacks: it is given TRL's own walk
    over the trained parameters as one iterator, each tensor copied, since the reload holds
    a layer's tensors until the layer is complete (q, k and v; gate and up) while TRL's walk
    vouches for each only while it is yielded (re-partitioned under ZeRO-3, freed by FSDP,
    unmerged for PEFT after the last). A layer sharing a tied weight it did not load itself
    (Qwen3's ``lm_head``, tied to the embedding) keeps the kernel's copy of the old weight,
    so the layers of a tied weight are repacked from it afterwards: without that, vLLM
    sampled from the previous step's output projection. Then the prefix cache is dropped,
    as TRL's sync does. (TRL's sync also wakes a sleeping engine first; vLLM's CPU backend
    has no sleep mode.)
    """
    runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner
    weights = ((name, tensor.detach().clone()) for name, tensor in generation._iter_named_params())
    runner.reload_weights(weights_iterator=weights, is_checkpoint_format=True)
    for module in tied_gemm_layers(runner.get_model()):
        module.quant_method.process_weights_after_loading(module)
    generation.llm.reset_prefix_cache()


def tied_gemm_layers(model: Any) -> list[Any]:
    """The layers with a CPU GEMM kernel over a plain weight that another such layer shares."""
    by_weight: dict[int, list[Any]] = {}
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if hasattr(module, "cpu_linear") and weight is not None and weight.numel() > 0:
            by_weight.setdefault(id(weight), []).append(module)
    return [m for group in by_weight.values() if len(group) > 1 for m in group]


def route_colocated_sync(trainer: Any) -> None:
    """Send a TRL trainer's colocated vLLM weight sync through :func:`reload_colocated_weights`
    where vLLM runs on the CPU backend; GPUs and ``vllm_mode: server`` keep TRL's own sync."""
    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or generation.mode != "colocate":
        return
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        # looked up at each call, so that a test can watch the syncs
        generation.sync_weights = lambda: reload_colocated_weights(generation)


def vllm_missing() -> str | None:
    """Why vLLM cannot run here, or None."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed"
    return None


def open_generator(
    rollout: Rollout,
    model_path: Path,
    *,
    device: str = "cpu",
    dtype: Any = None,
    template: PromptTemplate | None = None,
    model: Any = None,
    seed: int = 0,
) -> Generator:
    """The plan's engine on ``model_path`` (``model``: already loaded, for transformers)."""
    from trainer.models import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_path)
    if rollout.engine == "vllm":
        missing = vllm_missing()
        if missing:
            raise RuntimeError(
                f"the plan asks for vLLM rollouts (rollout.engine: vllm) but {missing}"
            )
        return VLLMEngine(model_path, tokenizer, template, rollout, dtype=dtype, seed=seed)
    if model is None:
        model = load_model(model_path, device, dtype, trainable=False)
    return TransformersEngine(model, tokenizer, template, BatchBudget.of(rollout))
