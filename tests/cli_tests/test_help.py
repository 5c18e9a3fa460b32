"""Every command's --help: defaults shown by the formatter, and examples that really parse."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from s2d.cli import build_parser, main


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser of the command line by its prog ("s2d", "s2d run", "s2d toy build", ...)."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser) -> None:
        found[parser.prog] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)

    walk(build_parser())
    return found


PARSERS = _parsers()
COMMANDS = sorted(p for p in PARSERS if p not in ("s2d", "s2d toy", "s2d data"))


def _example_lines(parser: argparse.ArgumentParser) -> list[str]:
    assert parser.epilog and parser.epilog.startswith("examples:\n"), parser.prog
    block = parser.epilog.split("\n\n")[0]
    return [line.strip() for line in block.splitlines()[1:]]


def test_every_command_is_covered():
    assert {"s2d run", "s2d plan", "s2d validate", "s2d toy build", "s2d data inspect"} <= set(
        COMMANDS
    )
    assert len(COMMANDS) == 12


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_help_ends_with_one_to_three_examples_that_parse(prog, capsys):
    parser = PARSERS[prog]
    lines = _example_lines(parser)
    assert 1 <= len(lines) <= 3
    for line in lines:
        argv = shlex.split(line, comments=True)
        assert argv[0] == "s2d", line
        build_parser().parse_args(argv[1:])  # a usage error would raise SystemExit
    text = parser.format_help()
    assert text.rstrip().endswith(parser.epilog.rstrip().splitlines()[-1])
    assert "examples:\n  s2d " in text  # the command lines as written, indented


@pytest.mark.parametrize("prog", COMMANDS)
def test_defaults_are_shown_once_by_the_formatter(prog):
    parser = PARSERS[prog]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        default = action.default
        if not action.option_strings or default in (None, argparse.SUPPRESS):
            continue
        if isinstance(default, bool):
            continue
        help_text = action.help or ""
        assert "default" not in help_text, f"{prog} {action.option_strings}: written by hand"
        assert f"(default: {default})" in text, f"{prog} {action.option_strings}"
    assert not re.search(r"\(default \d", text)  # no hand-written "(default 200)" left


def test_help_goes_to_stdout_and_exits_0(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--save-every STEPS" in out and "(default: 0)" in out
    assert out.rstrip().endswith("examples/accelerate/ddp_8gpu.yaml")
