"""The vLLM engine on vLLM's CPU build (``make test-vllm``; skipped where vllm is missing).

On the realistic world's tiny Qwen3s (the real 151,936-entry vocabulary, head_dim 32, which
vLLM's CPU attention supports): greedy completions through vLLM are the transformers engine's
token for token; sampled ones honour n, temperature and max_tokens; teacher rollouts through
vLLM are the same rows; TRL's colocated vLLM generates from the weights it syncs before each
generation; a plan with ``rollout.engine: vllm`` runs every stage kind; one killed with
SIGKILL after vLLM sampled its teacher rollouts resumes and finishes; and under two processes
each rank samples its own share of the teacher rollouts with its own engine (``-m "vllm and
multiprocess"``, make test-vllm-multiprocess).

The engine runs inside the pytest process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, the worker
in-process: starting one costs about 20 s here, a spawned engine about 70 s) with a 1 GiB KV
cache (``VLLM_CPU_KVCACHE_SPACE``); ``s2d run`` children inherit both settings.
"""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

SYNC_TOL = 0.05  # log-probability: vLLM's kernels against torch's at the same weights

try:
    import vllm  # noqa: F401
    from vllm import LLM  # noqa: F401
except Exception as e:  # not installed, or a build that cannot load here
    pytest.skip(
        f"vllm is not importable ({type(e).__name__}: {e}); `make test-vllm` builds .venv-vllm "
        "with vLLM's CPU build and runs these tests",
        allow_module_level=True,
    )

from planner.contracts import RunDir, read_events  # noqa: E402
from planner.contracts.plan import Rollout, plan_from_dict  # noqa: E402
from tests.realworld_tests.world_plan import TOKENS, world_plan, world_plan_dict  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PROBLEMS = [
    "What is 1 + 1?",
    "Compute 7 * 8.",
    "Solve for x: x + 2 = 5.",
    "How many primes are below 20?",
]
ROLLOUT = Rollout(engine="vllm", gpu_memory_utilization=0.08, max_model_len=512)


@pytest.fixture(scope="class")
def engines(qwen_world):
    """The student through both engines, fp32 (one vLLM engine for the module)."""
    import torch

    from trainer.generation import TransformersEngine, VLLMEngine
    from trainer.models import load_model, load_tokenizer
    from trainer.rollouts import BatchBudget

    tokenizer = load_tokenizer(qwen_world.student)
    model = load_model(qwen_world.student, "cpu", torch.float32, trainable=False)
    hf = TransformersEngine(model, tokenizer, None, BatchBudget())
    vl = VLLMEngine(qwen_world.student, tokenizer, None, ROLLOUT, dtype=torch.float32)
    yield hf, vl, tokenizer
    vl.close()


class TestOneEngineEach:
    """One vLLM engine for these (a second engine in this process waits for its close)."""

    def test_greedy_completions_are_the_transformers_engines(self, engines):
        hf, vl, _ = engines
        ours = hf.generate(PROBLEMS, greedy=True, max_new_tokens=24)
        theirs = vl.generate(PROBLEMS, greedy=True, max_new_tokens=24)
        # fp32 on both sides: every token agrees here (a long enough completion could diverge
        # where two logits tie to float precision; these are 24 tokens of a random model)
        assert [g[0].token_ids for g in theirs] == [g[0].token_ids for g in ours]
        assert [g[0].prompt_ids for g in theirs] == [g[0].prompt_ids for g in ours]
        assert [(g[0].text, g[0].n_tokens, g[0].stopped) for g in theirs] == [
            (g[0].text, g[0].n_tokens, g[0].stopped) for g in ours
        ]

    def test_both_engines_stop_at_the_same_token_and_keep_it(self, engines):
        """A completion ends at the first end token, which is kept: made to happen by calling
        the newline token (which this random model emits greedily) the pad token."""
        hf, vl, tokenizer = engines
        newline = tokenizer.convert_tokens_to_ids("Ċ")
        saved = tokenizer.pad_token
        tokenizer.pad_token = "Ċ"
        try:
            ours = hf.generate(PROBLEMS, greedy=True, max_new_tokens=16)
            theirs = vl.generate(PROBLEMS, greedy=True, max_new_tokens=16)
        finally:
            tokenizer.pad_token = saved
        stopped = [g[0] for g in theirs if g[0].stopped]
        assert stopped and all(c.token_ids[-1] == newline for c in stopped)
        assert [(g[0].token_ids, g[0].stopped) for g in theirs] == [
            (g[0].token_ids, g[0].stopped) for g in ours
        ]

    def test_sampling_honours_n_temperature_and_max_tokens(self, engines):
        _, vl, _ = engines
        groups = vl.generate(PROBLEMS, n=3, temperature=1.0, max_new_tokens=10, seed=3)
        assert [len(g) for g in groups] == [3] * len(PROBLEMS)
        assert all(c.n_tokens == 10 and not c.stopped for g in groups for c in g)  # cut at 10
        assert any(len({tuple(c.token_ids) for c in g}) > 1 for g in groups)  # samples differ
        again = vl.generate(PROBLEMS, n=3, temperature=1.0, max_new_tokens=10, seed=3)
        assert [[c.token_ids for c in g] for g in again] == [
            [c.token_ids for c in g] for g in groups
        ]
        other = vl.generate(PROBLEMS, n=3, temperature=1.0, max_new_tokens=10, seed=4)
        assert [[c.token_ids for c in g] for g in other] != [
            [c.token_ids for c in g] for g in groups
        ]

        # the temperature reaches the sampler: a cold one keeps to the few top tokens
        def distinct(temperature):
            groups = vl.generate(PROBLEMS, n=3, temperature=temperature, max_new_tokens=10)
            return len({t for g in groups for c in g for t in c.token_ids})

        assert distinct(0.05) * 3 < distinct(2.0)  # measured: 12 against 60

    def test_progress_comes_as_problems_finish_and_changes_no_completion(self, engines):
        """generate steps vLLM's engine itself, reporting each step's finished problems: its
        completions are one ``LLM.generate`` call's, greedy and seeded sampling alike."""
        from trainer.rollouts import chat_prompt_ids, stop_ids

        _, vl, tokenizer = engines
        prompts = chat_prompt_ids(tokenizer, PROBLEMS)
        stop = sorted(stop_ids(tokenizer))
        for greedy, n, seed in ((True, 1, 0), (False, 3, 7)):
            seen: list[int] = []
            ours = vl.generate(
                PROBLEMS, n=n, greedy=greedy, max_new_tokens=12, seed=seed, on_batch=seen.append
            )
            params = vl.sampling_params(len(prompts), n, 1.0, 1.0, 12, greedy, seed, stop)
            one = vl.llm.generate(
                [{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False
            )
            assert [[c.token_ids for c in g] for g in ours] == [
                [list(o.token_ids) for o in r.outputs] for r in one
            ]
            assert [len(g) for g in ours] == [n] * len(PROBLEMS) and sum(seen) == len(PROBLEMS)
        # Problems that end at different steps are reported at those steps, in their own
        # counts (a random model never samples an end token: different max_tokens stand in).
        params = vl.sampling_params(len(prompts), 2, 1.0, 1.0, 12, False, 7, stop)
        for i, p in enumerate(params):
            p.max_tokens = [3, 9, 3, 6][i]
        seen = []
        done = list(vl.stream(prompts, params, seen.append))
        assert seen == [2, 1, 1] and sum(seen) == len(PROBLEMS)
        assert [i for i, _ in done][:2] in ([0, 2], [2, 0]) and [i for i, _ in done][2:] == [3, 1]
        assert [len(out[0].token_ids) for _, out in sorted(done)] == [3, 9, 3, 6]


def test_teacher_rollouts_through_vllm_are_the_same_rows(qwen_world, tmp_path):
    from trainer.executor import Executor, RunOptions
    from trainer.models import load_tokenizer
    from trainer.stages.forward_kl import check_rollouts

    rows = {}
    for engine in ("transformers", "vllm"):
        plan = world_plan(qwen_world, rollout={"engine": engine, "gpu_memory_utilization": 0.08})
        plan.stages = [s for s in plan.stages if s.kind == "forward_kl"]
        plan.eval_after_each_stage = False
        plan.evaluation.max_problems = 1
        run = tmp_path / engine
        assert Executor(plan, run, RunOptions(verifier_workers=1)).run() == "ok"
        path = RunDir(run).teacher_rollouts("warmup")
        rows[engine] = [json.loads(line) for line in path.read_text().splitlines()]
    prompts = plan.stages[0].budget
    assert prompts is not None
    ours, theirs = rows["transformers"], rows["vllm"]
    assert len(theirs) == len(ours) == prompts.steps * prompts.prompts_per_step * 2
    assert all(set(r) == set(ours[0]) for r in theirs)
    assert [(r["prompt_id"], r["prompt_ids"], r["rank"]) for r in theirs] == [
        (r["prompt_id"], r["prompt_ids"], r["rank"]) for r in ours
    ]
    assert all(len(r["completion_ids"]) == TOKENS and not r["stopped"] for r in theirs)
    tokenizer = load_tokenizer(qwen_world.teacher)
    assert all(
        r["completion"] == tokenizer.decode(r["completion_ids"], skip_special_tokens=True)
        for r in theirs
    )
    ids = [r["prompt_id"] for r in theirs[::2]]
    check_rollouts(RunDir(tmp_path / "vllm").teacher_rollouts("warmup"), ids, 2)


def test_trls_colocated_vllm_generates_from_the_weights_it_synced(
    qwen_world, tmp_path, monkeypatch
):
    """At each of TRL's weight syncs, vLLM's next-token log-probabilities after a probe prompt
    are the trained model's own at that moment; training in between moves them.

    Compared as log-probabilities within SYNC_TOL, not as greedy tokens: on a CPU with
    AVX-512 BF16 vLLM's linear layers run on oneDNN (and TRL's engine compiles the model),
    whose fp32 sums differ from torch's by up to about 0.015 here, enough to flip a near tie
    between two tokens; weights left behind differ by far more (a stale output projection
    was measured at 0.68)."""
    import torch
    from vllm import SamplingParams
    from vllm.platforms import current_platform

    from trainer import generation

    if not current_platform.is_cpu():
        pytest.skip("watches the CPU backend's sync (GPUs keep TRL's own)")
    from trainer.executor import Executor, RunOptions
    from trainer.models import load_tokenizer
    from trainer.rollouts import chat_prompt_ids
    from trainer.stages.grpo import VerifierReward

    tokenizer = load_tokenizer(qwen_world.teacher)
    (probe,) = chat_prompt_ids(tokenizer, ["What is 2 + 2?"])
    seen: list[tuple[dict[int, float], dict[int, float]]] = []
    original = generation.reload_colocated_weights

    def spy(self):
        original(self)
        out = self.llm.generate(
            [{"prompt_token_ids": probe}],
            SamplingParams(temperature=0.0, max_tokens=1, logprobs=5),
            use_tqdm=False,
        )
        theirs = {k: v.logprob for k, v in out[0].outputs[0].logprobs[0].items()}
        model = self.accelerator.unwrap_model(self.model)
        with torch.no_grad():
            logits = model(torch.tensor([probe])).logits[0, -1].float()
        ours = torch.log_softmax(logits, -1)
        seen.append((theirs, {k: float(ours[k]) for k in theirs}))

    # On the CPU backend TRL's sync goes through vLLM's in-place reload (the weights are
    # repacked for its GEMM kernels): watch that one.
    monkeypatch.setattr(generation, "reload_colocated_weights", spy)
    # A random model earns no reward, and GRPO learns nothing from equal rewards: alternate
    # them within each group so that every step moves the weights.
    monkeypatch.setattr(
        VerifierReward,
        "__call__",
        lambda self, prompts, completions, **_: [float(i % 2) for i in range(len(completions))],
    )
    plan = world_plan(
        qwen_world,
        rollout={"engine": "vllm", "gpu_memory_utilization": 0.08, "max_model_len": 512},
    )
    plan.stages = [s for s in plan.stages if s.id == "teacher_rl"]
    plan.stages[0].budget.steps = 3  # type: ignore[union-attr]
    plan.stages[0].optim.learning_rate = 0.05
    plan.eval_after_each_stage = False
    plan.evaluation.max_problems = 1
    assert Executor(plan, tmp_path / "run", RunOptions(verifier_workers=1)).run() == "ok"
    assert len(seen) == 3  # one sync before each step's generation
    gaps = [max(abs(theirs[k] - ours[k]) for k in theirs) for theirs, ours in seen]
    assert max(gaps) < SYNC_TOL, (gaps, seen)
    first, last = seen[0][0], seen[-1][0]
    shared = set(first) & set(last)
    moved = max((abs(last[k] - first[k]) for k in shared), default=float("inf"))
    assert moved > 10 * SYNC_TOL, seen  # vLLM's distribution moved with the weights


def test_a_vllm_plan_runs_every_stage_kind(qwen_world, tmp_path, monkeypatch):
    from trl.generation.vllm_generation import VLLMGeneration

    from planner.contracts.plan import plan_from_dict
    from trainer.executor import Executor, RunOptions
    from trainer.generation import VLLMEngine

    opened: list[str] = []
    for cls, name in ((VLLMEngine, "ours"), (VLLMGeneration, "trl")):
        original = cls.__init__

        def spy(self, *args, _original=original, _name=name, **kwargs):
            opened.append(_name)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", spy)

    raw = world_plan_dict(
        qwen_world,
        rollout={"engine": "vllm", "gpu_memory_utilization": 0.08, "max_model_len": 512},
        eval_after_each_stage=False,
    )
    options = {"k": 2, "max_new_tokens": TOKENS, "max_problems": 4}
    raw["stages"].append({"id": "final_eval", "kind": "eval", "options": options})
    plan = plan_from_dict(raw, "vllm world plan")
    run = tmp_path / "run"
    assert Executor(plan, run, RunOptions(verifier_workers=1)).run() == "ok"
    events = read_events(run / "events.jsonl")
    ends = {e["stage"] for e in events if e.kind == "stage_end"}
    assert {s.id for s in plan.stages if s.kind != "eval"} <= ends  # an eval stage logs evals
    evals = [e for e in events if e.kind == "eval"]
    assert {e["stage"] for e in evals} == {"final_eval"}  # no evals between stages
    assert all(e["tokens_generated"] > 0 for e in evals)
    # the eval's progress comes from the vLLM engine's steps, up to every problem of each set
    progress = [e for e in events if e.kind == "progress" and e["stage"] == "final_eval"]
    last = {e["benchmark"]: (e["done"], e["total"]) for e in progress}
    assert set(last) == {"math500", "aime"} and all(d == t > 0 for d, t in last.values())
    # the teacher rollouts and the eval on our engine; both grpo stages and both opd on TRL's
    assert sorted(opened) == ["ours"] * 2 + ["trl"] * 4


def _warmup_then_eval(qwen_world, name: str):
    """The realistic world's forward-KL warmup on vLLM, then one sampled eval stage."""
    raw = world_plan_dict(
        qwen_world,
        rollout={"engine": "vllm", "gpu_memory_utilization": 0.08, "max_model_len": 512},
        eval_after_each_stage=False,
    )
    raw["stages"] = [s for s in raw["stages"] if s["kind"] == "forward_kl"]
    options = {"k": 1, "max_new_tokens": TOKENS, "max_problems": 2, "greedy": False}
    raw["stages"].append({"id": "final_eval", "kind": "eval", "options": options})
    return plan_from_dict(raw, name)


def test_sigkill_after_the_vllm_rollouts_then_resume_finishes_the_plan(qwen_world, tmp_path):
    """``s2d run`` on ``rollout.engine: vllm`` killed with SIGKILL (it and its children) at
    the warmup's first checkpoint, after vLLM sampled the teacher rollouts; the same command
    again resumes the warmup from that checkpoint without sampling the rollouts again, and
    the eval stage after it generates through vLLM: every stage finishes once."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from planner.contracts.plan import save_plan

    plan_path = save_plan(_warmup_then_eval(qwen_world, "vllm resume plan"), tmp_path / "plan.yaml")
    run_dir = tmp_path / "run"
    events_path = run_dir / "events.jsonl"
    root = Path(__file__).parents[2]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    command = [sys.executable, "-m", "s2d", "run", str(plan_path), "--run-dir", str(run_dir)]
    command += ["--quiet", "--save-every", "1"]  # the warmup's 2 steps: killed at the first
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    proc = subprocess.Popen(command, env=env, cwd=root, start_new_session=True, **pipes)
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if events_path.exists() and any(
                e.kind == "checkpoint" for e in read_events(events_path)
            ):
                break
            time.sleep(0.2)
        assert proc.poll() is None, (proc.stdout.read() or b"").decode()[-3000:]  # type: ignore[union-attr]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and any process it started
        proc.wait()
    before = read_events(events_path)
    saved = [e for e in before if e.kind == "checkpoint"]
    assert saved and not (run_dir / "stages" / "warmup" / "DONE.json").exists()
    rollouts = RunDir(run_dir).teacher_rollouts("warmup")
    sampled = rollouts.read_bytes()  # vLLM's rollouts, whole on disk before the first step
    out = subprocess.run(command, env=env, cwd=root, timeout=400, capture_output=True)
    assert out.returncode == 0, (out.stdout + out.stderr).decode()[-3000:]
    events = read_events(events_path)
    after = events[len(before) :]
    assert events[-1].kind == "run_end" and events[-1]["status"] == "ok"
    starts = [e for e in after if e.kind == "stage_start"]
    assert [e["stage"] for e in starts] == ["warmup"]
    assert int(starts[0]["resumed_from"].rsplit("-", 1)[1]) == saved[-1]["step"]
    # the rollouts were read back, not sampled again; training went on from the checkpoint
    assert rollouts.read_bytes() == sampled
    assert not any(e.kind == "metrics" and "rollout_prompts" in e["values"] for e in after)
    steps = [e["step"] for e in after if e.kind == "metrics" and e["step"] > 0]
    assert saved[-1]["step"] == 1 and steps == [2]
    ends = [e["stage"] for e in events if e.kind == "stage_end"]
    assert ends == ["warmup"]
    evals = [e for e in after if e.kind == "eval"]
    assert {e["stage"] for e in evals} == {"final_eval"} and len(evals) == 2
    assert all(e["tokens_generated"] == 2 * TOKENS for e in evals)
    records = {p.parent.name for p in (run_dir / "stages").glob("*/DONE.json")}
    assert records == {"warmup", "final_eval"}


@pytest.mark.multiprocess
def test_two_processes_sample_each_ranks_share_of_the_teacher_rollouts(qwen_world, tmp_path):
    """``s2d run --launcher accelerate`` on two CPU processes (gloo) with ``rollout.engine:
    vllm``: each rank builds its own engine (``external_launcher``) and samples only its share
    of the warmup's prompts, which are then the rows one process samples for that share with
    the rank's seed; the rollouts are written once, in prompt order, and the ranks' barriers
    still hold after the engines close; the eval after it runs in the parent, once."""
    import subprocess

    import torch

    from planner.contracts.kinds.forward_kl import ForwardKLOptions
    from planner.contracts.plan import save_plan
    from tests.realworld_tests.test_two_processes import finish, s2d_run, two_process_config
    from trainer.executor import Executor
    from trainer.generation import VLLMEngine
    from trainer.models import load_tokenizer

    plan = _warmup_then_eval(qwen_world, "two-process vllm plan")
    plan_path = save_plan(plan, tmp_path / "plan.yaml")
    run_dir = tmp_path / "run"
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    finish(s2d_run(plan_path, run_dir, two_process_config(tmp_path), **pipes), timeout=600)
    events = read_events(run_dir / "events.jsonl")
    assert events[-1].kind == "run_end" and events[-1]["status"] == "ok"
    warmup = plan.stages[0]
    b = warmup.budget
    assert b is not None
    rows = [
        json.loads(line)
        for line in RunDir(run_dir).teacher_rollouts(warmup.id).read_text().splitlines()
    ]
    n = b.samples_per_prompt
    assert len(rows) == b.steps * b.prompts_per_step * n
    assert [r["rank"] for r in rows] == [i // n % 2 for i in range(len(rows))]
    assert not list((run_dir / "artifacts").glob("*/*.rank*-of-*.jsonl"))  # shards merged
    # the rows of each rank are what one engine in one process samples for that share
    prompts = Executor(plan, run_dir).load_data()[0].prompts[: b.steps * b.prompts_per_step]
    assert [p.id for p in prompts] == [r["prompt_id"] for r in rows[::n]]
    seed = (plan.seed * 1_000_003 + 0 * 7919) % (2**31)  # the warmup's (stage 0's) seed
    temperature = warmup.options_as(ForwardKLOptions).rollout_temperature
    tokenizer = load_tokenizer(qwen_world.teacher)
    engine = VLLMEngine(qwen_world.teacher, tokenizer, plan.prompt, ROLLOUT, dtype=torch.float32)
    try:
        for rank in (0, 1):
            groups = engine.generate(
                [p.problem for p in prompts[rank::2]],
                n=n,
                temperature=temperature,
                max_new_tokens=b.max_new_tokens,
                seed=seed + rank,
            )
            theirs = [r["completion_ids"] for r in rows if r["rank"] == rank]
            assert [c.token_ids for g in groups for c in g] == theirs, rank
    finally:
        engine.close()
    evals = [e for e in events if e.kind == "eval"]
    assert sorted(e["benchmark"] for e in evals) == ["aime", "math500"]
    assert all(e["stage"] == "final_eval" for e in evals)
