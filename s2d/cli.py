"""Entry point of the ``s2d`` console script.

``main(argv) -> int`` so tests call it directly. Subcommand modules are imported
only to build their parsers; whatever is heavy is imported when a subcommand runs.
A :class:`~planner.contracts.errors.UserError` becomes one paragraph on stderr and exit
code 2; argparse's own usage errors (an option out of its range among them) are
worded the same way (s2d.argtypes.Parser) and return 2 as well.

A reader that stops early (``s2d validate PLAN | head -1``) closes the pipe under
stdout: the command then ends quietly with exit code 1, as the "Note on SIGPIPE" of
Python's signal module documentation does it (what Python itself returns on EPIPE;
SIGPIPE keeps Python's default of being ignored, so a closed socket stays an error).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from planner.contracts import UserError
from s2d import __version__
from s2d.argtypes import Parser, examples

# Order is the order shown in --help.
COMMAND_MODULES = [
    "s2d.commands.validate",
    "s2d.commands.demo",
    "s2d.commands.run",
    "s2d.commands.watch",
    "s2d.commands.explore",
    "s2d.commands.toy",
    "s2d.commands.plan",
    "s2d.commands.data",
    "s2d.commands.simulate",
    "s2d.commands.calibrate",
    "s2d.commands.pilot",
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="s2d",
        description=(
            "sparse2dense: spend scarce labels on teacher RL, move the behaviour into "
            "the student with dense per-token supervision, then RL the student."
        ),
        epilog=examples(
            "s2d demo",
            "s2d plan examples/paper_scenario.yaml --out plans/paper",
            "s2d run examples/toy_plan.yaml",
        )
        + "\n\nEach command's --help has its own examples.",
    )
    parser.add_argument("--version", action="version", version=f"sparse2dense {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return 1


def _discard_stdout() -> None:
    """Point stdout at devnull: what is still buffered goes nowhere when Python exits."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (stdout replaced in-process)
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"s2d {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"s2d {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {e.filename}" if e.filename else ""
        print(
            f"s2d {args.command}: error: the disk is full{where} ({e.strerror}); "
            "free some space and run the same command again.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
