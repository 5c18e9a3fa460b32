"""``s2d data inspect FILE_OR_ID``: a dataset as the trainer reads it, before a run spends on it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s2d.argtypes import examples, whole

FORMATS = ("auto", "math", "aime", "gsm8k", "dapo")
PARTS = ("problem", "answer", "solution", "id")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="inspect a dataset as the trainer will read it",
        description="Work with the problem sets a plan names.",
        epilog=examples("s2d data inspect HuggingFaceH4/MATH-500"),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    i = actions.add_parser(
        "inspect",
        help="show a dataset's schema, parsed rows, duplicates and what a scenario's split leaves",
        description=(
            "Read a dataset the way s2d run will (a .jsonl/.json/.parquet file, a save_to_disk "
            "directory, or a hub dataset id in the local Hugging Face cache) and show the record "
            "map it is read by, a few parsed rows with their gold answers, how many rows are "
            "duplicates, and how many gold answers the verifier can read (a gold it cannot read "
            "is never matched, so its problem never rewards). With --scenario, also whether the "
            "scenario's datasets hold its labels and prompts once duplicates and eval problems "
            "are removed."
        ),
        epilog=examples(
            "s2d data inspect openai/gsm8k --config main --split test --format gsm8k",
            "s2d data inspect mine.jsonl --field problem=q.text --field answer=q.gold",
            "s2d data inspect BytedTsinghua-SIA/DAPO-Math-17k --scenario examples/paper_scenario.yaml",
        ),
    )
    i.add_argument("ref", help="a data file, a save_to_disk directory or a hub dataset id")
    i.add_argument("--split", help="the split to read (default: train, or the only one)")
    i.add_argument("--config", help="a hub dataset's configuration (e.g. main for openai/gsm8k)")
    i.add_argument("--format", choices=FORMATS, default="auto", help="the record map to read by")
    i.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="PART=PATH",
        help=f"where a part ({', '.join(PARTS)}) sits, as a dotted path; repeatable",
    )
    i.add_argument("--rows", type=whole(0, 1000), default=3, help="parsed rows to show")
    i.add_argument(
        "--verify",
        type=whole(0),
        default=2000,
        help="gold answers to run through the verifier (0: none)",
    )
    i.add_argument("--scenario", type=Path, help="check this scenario's split against its data")
    i.set_defaults(func=run_inspect)


def _field_map(pairs: list[str]) -> Any:
    from planner.contracts import UserError
    from planner.contracts.data import FieldMap

    values: dict[str, str] = {}
    for pair in pairs:
        part, sep, path = pair.partition("=")
        if not sep or part not in PARTS or not path.strip():
            raise UserError(
                f"--field {pair!r}: write PART=PATH with PART one of {', '.join(PARTS)}, "
                "e.g. --field answer=reward_model.ground_truth"
            )
        values[part] = path.strip()
    return FieldMap(**values)


def _short(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def run_inspect(args: argparse.Namespace) -> int:
    from planner.contracts.data import DataRef, as_ref
    from s2d.console import stdout_console
    from trainer.data_report import inspect_ref

    ref = as_ref(DataRef(args.ref, args.split, args.config, args.format, _field_map(args.field)))
    console = stdout_console()
    if args.verify:
        from trainer.verifier import Verifier

        with Verifier(workers=1) as verifier:
            report = inspect_ref(ref, verifier=verifier, verify=args.verify)
    else:
        report = inspect_ref(ref)
    where = f" ({report.where})" if report.where and str(report.where) != ref.path else ""
    console.print(f"{ref}{where}")
    console.print(f"format: {report.format}")
    for part, source in report.fields.items():
        console.print(f"  {part:8} {source}")
    n = len(report.problems)
    console.print(
        f"rows: {n:,}; unique problems: {report.unique:,} ({report.duplicates:,} "
        f"duplicate{'' if report.duplicates == 1 else 's'} removed, matched on whitespace- "
        "and case-folded text)"
    )
    if not report.labeled:
        console.print("answers: some rows have none: usable as an unlabeled prompt pool only")
    elif report.checked:
        bad = report.unreadable
        console.print(
            f"gold answers: {report.checked - len(bad):,} of {report.checked:,} checked are read "
            "by the verifier"
            + (
                f"; {len(bad):,} are not (e.g. id {bad[0].id}: {_short(str(bad[0].answer), 60)!r}),"
                " and their problems can never be rewarded"
                if bad
                else ""
            )
        )
    for p in report.problems[: args.rows]:
        console.print(f"\nid {p.id}")
        console.print(f"  problem: {_short(p.problem)}")
        if p.answer is not None:
            console.print(f"  answer:  {_short(p.answer)}")
    if args.scenario is not None:
        _scenario_lines(args.scenario, console)
    return 0


def _scenario_lines(path: Path, console: Any) -> None:
    from planner.scenario import load_scenario
    from trainer.data_report import check_scenario_fit

    sc = load_scenario(path)
    console.print(f"\nscenario {sc.name!r}: {sc.labels:,} labels, {sc.prompts:,} prompts")
    console.print(check_scenario_fit(sc))
