"""``s2d toy build`` and ``s2d toy info``: build (or reuse) the offline toy zoo and show its models."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from s2d.argtypes import SEED, WORKERS, examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "toy",
        help="build or inspect the offline toy world (data, tokenizer, tiny Qwen3-shaped models)",
        description="The toy world: arithmetic problems in the MATH answer format and a zoo of tiny "
        "Qwen3-shaped models pretrained on noisy worked solutions, built locally and cached.",
        epilog=examples("s2d toy build", "s2d toy info"),
    )
    toy_sub = p.add_subparsers(dest="toy_command", metavar="ACTION", required=True)
    for name, help_text, lines in (
        (
            "build",
            "build the toy zoo, or reuse the cached one with the same config",
            (
                "s2d toy build",
                "s2d toy build --models s m --workers 1",
                "s2d toy build --preset tiny --force",
            ),
        ),
        (
            "info",
            "print the table of an already built toy zoo",
            ("s2d toy info", "s2d toy info --preset tiny --cache-dir /tmp/toy"),
        ),
    ):
        q = toy_sub.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=examples(*lines),
        )
        q.add_argument(
            "--cache-dir",
            default=None,
            help="cache root (default: $S2D_HOME/toy, S2D_HOME defaults to ~/.cache/sparse2dense)",
        )
        q.add_argument("--seed", type=SEED, default=0, help="world and training seed")
        q.add_argument(
            "--preset",
            default="default",
            choices=["default", "tiny"],
            help="zoo size",
        )
        if name == "build":
            q.add_argument(
                "--force", action="store_true", help="rebuild even if a cached zoo exists"
            )
            q.add_argument("--workers", type=WORKERS, default=2, help="parallel training processes")
            q.add_argument(
                "--models",
                nargs="+",
                metavar="NAME",
                default=None,
                help="build only these models (e.g. s m); a later build adds the others",
            )
            q.set_defaults(func=run_build)
        else:
            q.set_defaults(func=run_info)


def zoo_table(zoo):
    from rich.table import Table

    table = Table(title=f"toy zoo {zoo.root}")
    for col, justify in (
        ("size", "left"),
        ("params", "right"),
        ("layers / hidden", "right"),
        ("greedy acc", "right"),
        ("sampled acc", "right"),
        ("pretrain s", "right"),
    ):
        table.add_column(col, justify=justify)
    for name, m in zoo.models.items():
        table.add_row(
            name,
            f"{m['params']:,}",
            f"{m['num_hidden_layers']} / {m['hidden_size']}",
            f"{100 * m['greedy_accuracy']:.1f}%",
            f"{100 * m['sampled_accuracy']:.1f}%",
            f"{m['pretrain_seconds']:.0f}",
        )
    return table


def build_with_progress(
    console, cache_dir, seed: int, preset: str, force: bool, workers: int, models=None
):
    """build_zoo with a progress bar per model to train (nothing shown when all are cached)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from trainer.toy.zoo import Zoo, build_zoo, preset_config, zoo_dir

    target = zoo_dir(cache_dir, seed, preset)
    built = set(Zoo.read(target).models) if not force and (target / "zoo.json").is_file() else set()
    to_train = [
        spec
        for spec in preset_config(preset).models
        if (models is None or spec.name in models) and spec.name not in built
    ]
    cached = not to_train
    if not cached:
        what = ", ".join(s.name for s in to_train)
        console.print(
            f"building toy zoo {preset!r} (seed {seed}, models {what}) into {target}",
            soft_wrap=True,
        )
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=cached,
    ) as bar:
        # One row per model from the start; a row's clock starts with its first report.
        tasks = {
            spec.name: bar.add_task(f"{spec.name} queued", total=spec.steps, start=False)
            for spec in to_train
        }

        def progress(event) -> None:
            task = tasks[event.model]
            bar.start_task(task)
            if event.phase == "pretrain":
                bar.update(task, description=f"{event.model} pretrain", completed=event.done)
            elif event.phase == "eval":
                bar.update(task, description=f"{event.model} grading")
            else:
                bar.update(task, description=f"{event.model} done")
                bar.stop_task(task)
                info = event.info or {}
                bar.console.print(
                    f"{event.model}: {info.get('params', 0):,} params, greedy "
                    f"{100 * info.get('greedy_accuracy', 0):.1f}%, sampled "
                    f"{100 * info.get('sampled_accuracy', 0):.1f}%, pretrain "
                    f"{info.get('pretrain_seconds', 0):.0f} s"
                )

        return build_zoo(cache_dir, seed, preset, force, workers, progress, models)


def run_build(args: argparse.Namespace) -> int:
    from planner.contracts.files import check_output_path
    from s2d.console import make_console

    if args.cache_dir is not None:
        check_output_path(Path(args.cache_dir), "dir", "--cache-dir")
    console = make_console()
    started = time.perf_counter()
    zoo = build_with_progress(
        console, args.cache_dir, args.seed, args.preset, args.force, args.workers, args.models
    )
    wall = time.perf_counter() - started
    if zoo.reused:
        console.print(f"reusing cached zoo at {zoo.root}", soft_wrap=True)
    console.print(zoo_table(zoo))
    if zoo.reused:
        console.print(f"built in {zoo.build_seconds:.0f} s (when it was built)")
    else:
        console.print(f"built in {wall:.0f} s wall time with {args.workers} worker(s)")
    _print_zoo_notice(console, zoo.root)
    return 0


def _print_zoo_notice(console, root: Path) -> None:
    from planner.calibrate.records import zoo_notice

    notice = zoo_notice(root)
    if notice:
        console.print(f"note: {notice}", soft_wrap=True)


def run_info(args: argparse.Namespace) -> int:
    from planner.contracts import UserError
    from s2d.console import make_console
    from trainer.toy.zoo import load_zoo

    cache = Path(args.cache_dir).expanduser() if args.cache_dir is not None else None
    if cache is not None and cache.exists() and not cache.is_dir():
        raise UserError(
            f"--cache-dir {cache} is a file, not a directory; give the directory `s2d toy build --cache-dir` built the zoo in."
        )
    zoo = load_zoo(args.cache_dir, args.seed, args.preset)
    console = make_console()
    console.print(zoo_table(zoo))
    console.print(f"key {zoo.key}, seed {zoo.seed}, built in {zoo.build_seconds:.0f} s")
    refs = {**{name: zoo.model_dir(name) for name in zoo.models}, **zoo.data}
    for name, path in refs.items():
        console.print(f"toy:{name} -> {path}", soft_wrap=True)
    _print_zoo_notice(console, zoo.root)
    return 0
