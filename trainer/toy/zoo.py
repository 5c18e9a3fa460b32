"""Build, cache and find the toy zoo: data files, the shared tokenizer and the pretrained models.

A zoo lives in ``<cache>/<preset>-seed<seed>-<key>/`` where the cache is ``--cache-dir``, else
``$S2D_HOME/toy``, else ``~/.cache/sparse2dense/toy``, and the key hashes the full config
(presets.ZooConfig.key), so the same request always finds the same directory: that is how later
stages locate the default zoo without rebuilding it. The layout, described by ``zoo.json``::

    zoo.json  tokenizer/  data/{train,prompts,eval}.jsonl  models/<name>/

Data: eval, train (labeled RL pool) and prompts (unlabeled, ``problem`` only) are disjoint by
problem text (problems.split_problems). The models were pretrained on noisy worked solutions of
every problem *except* the eval ones, so train and prompt problems were seen in pretraining with
noisy answers, as real RL prompts resemble pretraining text; eval problems never were, although
their one-line steps (``7*8=56``) do occur inside other problems' solutions. Models train in a
process pool, one torch thread per process and largest first: at this size two one-thread
processes beat one two-thread process. A build may name the models it needs; a later build that
needs more trains only those and adds them. Everything is written under a temporary name and
renamed when complete, so a crashed build never looks finished.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planner.contracts import UserError
from trainer.toy.presets import PRESETS, ToyModelShape, ZooConfig
from trainer.toy.problems import ToyProblem, record, split_problems

if TYPE_CHECKING:
    from queue import Queue

ZOO_FORMAT_VERSION = 1
DATA_FILES = {
    "train": "data/train.jsonl",
    "prompts": "data/prompts.jsonl",
    "eval": "data/eval.jsonl",
}


@dataclass(frozen=True)
class BuildProgress:
    """One progress report: `phase` is "pretrain", "eval" or "done" (then `info` is the zoo.json entry)."""

    model: str
    phase: str
    done: int
    total: int
    info: dict | None = None


@dataclass(frozen=True)
class Zoo:
    root: Path
    key: str
    seed: int
    build_seconds: float
    tokenizer_dir: Path
    data: dict[str, Path]
    models: dict[str, dict]  # name -> zoo.json entry (path relative to root)
    reused: bool = False

    def model_dir(self, name: str) -> Path:
        return self.root / self.models[name]["path"]

    @classmethod
    def read(cls, root: Path, reused: bool = False) -> Zoo:
        meta = json.loads((root / "zoo.json").read_text())
        return cls(
            root=root,
            key=meta["key"],
            seed=meta["seed"],
            build_seconds=meta["build_seconds"],
            tokenizer_dir=root / meta["tokenizer"],
            data={k: root / v for k, v in meta["data"].items()},
            models=meta["models"],
            reused=reused,
        )


def cache_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    home = os.environ.get("S2D_HOME") or str(Path("~/.cache/sparse2dense").expanduser())
    return Path(home).expanduser() / "toy"


def preset_config(preset: str) -> ZooConfig:
    if preset not in PRESETS:
        raise UserError(f"unknown toy preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[preset]


def zoo_dir(cache_dir: str | Path | None, seed: int, preset: str) -> Path:
    return cache_root(cache_dir) / f"{preset}-seed{seed}-{preset_config(preset).key(seed)}"


def load_zoo(cache_dir: str | Path | None = None, seed: int = 0, preset: str = "default") -> Zoo:
    root = zoo_dir(cache_dir, seed, preset)
    if not (root / "zoo.json").is_file():
        flags = "".join(
            [
                f" --cache-dir {cache_dir}" if cache_dir is not None else "",
                f" --seed {seed}" if seed != 0 else "",
                f" --preset {preset}" if preset != "default" else "",
            ]
        )
        raise UserError(f"toy zoo not built yet; run `s2d toy build{flags}` (looked in {root})")
    return Zoo.read(root)


def resolve_toy_path(ref: str, zoo: Zoo) -> Path:
    """Map "toy:<model>" to a model directory and "toy:train|prompts|eval" to a data file."""
    name = ref.removeprefix("toy:")
    if ref.startswith("toy:") and name in zoo.models:
        return zoo.model_dir(name)
    if ref.startswith("toy:") and name in zoo.data:
        return zoo.data[name]
    valid = ", ".join(f"toy:{n}" for n in [*zoo.models, *zoo.data])
    raise UserError(
        f"unknown toy reference {ref!r} in the zoo at {zoo.root}; built names are: {valid} "
        "(`s2d toy build` builds every model of the zoo, `--models NAME...` only some)"
    )


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def write_data(root: Path, config: ZooConfig, seed: int) -> dict[str, int]:
    """Write the three data files (clean solutions, shuffled across levels); return their sizes."""
    sets = split_problems(config.split, seed)
    sizes = {}
    for split in DATA_FILES:
        problems: list[ToyProblem] = list(sets[split])
        random.Random(f"order:{seed}:{split}").shuffle(problems)
        if split == "prompts":
            rows = [{"problem": p.text} for p in problems]
        else:
            rows = [record(p) for p in problems]
        _write_jsonl(root / DATA_FILES[split], rows)
        sizes[split] = len(rows)
    return sizes


def _rough_cost(spec: ToyModelShape) -> int:
    """Per-token training cost proxy used to start the largest models first."""
    h = spec.hidden_size
    return spec.steps * spec.num_hidden_layers * (4 * h * h + 3 * h * spec.intermediate_size)


def _train_job(
    spec: ToyModelShape,
    config: ZooConfig,
    seed: int,
    tokenizer_dir: Path,
    out_dir: Path,
    queue: Queue[BuildProgress] | None,
) -> tuple[str, dict]:
    """Process-pool entry: one model, progress sent through `queue`."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from trainer.toy.pretrain import train_and_save

    def report(phase: str, done: int, total: int) -> None:
        if queue is not None:
            queue.put(BuildProgress(spec.name, phase, done, total))

    return spec.name, train_and_save(spec, config, seed, tokenizer_dir, out_dir, report)


def _train_models(
    config: ZooConfig,
    specs: list[ToyModelShape],
    seed: int,
    root: Path,
    models_dir: Path,
    workers: int,
    progress: Callable[[BuildProgress], None],
) -> dict[str, dict]:
    specs = sorted(specs, key=_rough_cost, reverse=True)
    jobs = [(s, config, seed, root / "tokenizer", models_dir / s.name) for s in specs]
    infos: dict[str, dict] = {}
    if workers <= 1:
        from trainer.toy.pretrain import train_and_save

        for spec, job_config, job_seed, tokenizer_dir, out_dir in jobs:

            def report(phase: str, done: int, total: int, name: str = spec.name) -> None:
                progress(BuildProgress(name, phase, done, total))

            infos[spec.name] = train_and_save(
                spec, job_config, job_seed, tokenizer_dir, out_dir, report
            )
            progress(BuildProgress(spec.name, "done", 1, 1, infos[spec.name]))
        return infos

    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
    with (
        ctx.Manager() as manager,
        ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool,
    ):
        q = manager.Queue()
        pending = {pool.submit(_train_job, *job, q) for job in jobs}

        def drain() -> None:
            while True:
                try:
                    progress(q.get_nowait())
                except queue_mod.Empty:
                    return

        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for fut in done:
                name, info = fut.result()
                infos[name] = info
                progress(BuildProgress(name, "done", 1, 1, info))
        drain()
    return infos


def _wanted(config: ZooConfig, models: Sequence[str] | None) -> list[ToyModelShape]:
    names = [m.name for m in config.models]
    unknown = [m for m in models or () if m not in names]
    if unknown:
        raise UserError(
            f"unknown toy model(s) {', '.join(unknown)}; this zoo has {', '.join(names)}"
        )
    return [m for m in config.models if models is None or m.name in models]


def build_zoo(
    cache_dir: str | Path | None = None,
    seed: int = 0,
    preset: str = "default",
    force: bool = False,
    workers: int = 2,
    progress: Callable[[BuildProgress], None] | None = None,
    models: Sequence[str] | None = None,
) -> Zoo:
    """Build the zoo for (preset, seed) unless it is cached; `force` rebuilds it.

    `models` names the models needed (default: all of them); a cached zoo that lacks
    some of them gets just those trained and added, so a command that needs two
    models does not wait for the largest one.
    """
    config = preset_config(preset)
    wanted = _wanted(config, models)
    final = zoo_dir(cache_dir, seed, preset)
    if (final / "zoo.json").is_file() and not force:
        return _add_missing(final, config, seed, wanted, workers, progress)
    progress = progress or (lambda event: None)
    started = time.perf_counter()
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "models").mkdir(parents=True)
    try:
        from trainer.toy.tokenizer import save_tokenizer

        save_tokenizer(tmp / "tokenizer")
        write_data(tmp, config, seed)
        infos = _train_models(config, wanted, seed, tmp, tmp / "models", workers, progress)
        meta = {
            "version": ZOO_FORMAT_VERSION,
            "key": config.key(seed),
            "seed": seed,
            "build_seconds": round(time.perf_counter() - started, 2),
            "tokenizer": "tokenizer",
            "data": dict(DATA_FILES),
            "models": {s.name: {"path": f"models/{s.name}", **infos[s.name]} for s in wanted},
        }
        (tmp / "zoo.json").write_text(json.dumps(meta, indent=2) + "\n")
        if (final / "zoo.json").is_file() and not force:
            # a concurrent build finished first: keep its zoo, adding what it lacks
            return _add_missing(final, config, seed, wanted, workers, progress)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Zoo.read(final)


def _add_missing(
    final: Path,
    config: ZooConfig,
    seed: int,
    wanted: list[ToyModelShape],
    workers: int,
    progress: Callable[[BuildProgress], None] | None,
) -> Zoo:
    """Train the wanted models a built zoo lacks, move each in whole, then rewrite zoo.json."""
    zoo = Zoo.read(final, reused=True)
    if all(s.name in zoo.models for s in wanted):
        return zoo
    with open(final / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one adder at a time; readers never see a partial model
        meta = json.loads((final / "zoo.json").read_text())
        missing = [s for s in wanted if s.name not in meta["models"]]
        if not missing:
            return Zoo.read(final)
        started = time.perf_counter()
        staging = final / f".models.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            infos = _train_models(
                config, missing, seed, final, staging, workers, progress or (lambda event: None)
            )
            for spec in missing:
                target = final / "models" / spec.name
                shutil.rmtree(target, ignore_errors=True)  # left by a build that died mid-move
                (staging / spec.name).rename(target)
                meta["models"][spec.name] = {"path": f"models/{spec.name}", **infos[spec.name]}
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        meta["models"] = {
            s.name: meta["models"][s.name] for s in config.models if s.name in meta["models"]
        }
        meta["build_seconds"] = round(meta["build_seconds"] + time.perf_counter() - started, 2)
        tmp_json = final / f".zoo.json.tmp-{os.getpid()}"
        tmp_json.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp_json, final / "zoo.json")
    return Zoo.read(final)
