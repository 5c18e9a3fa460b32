"""What a dataset holds as the trainer will read it, and whether a scenario's split fits.

``s2d data inspect`` prints :func:`inspect_ref`; ``s2d plan`` refuses a scenario
whose data cannot hold what it asks for (:func:`check_scenario_fit`): the labels
and the prompts it plans to spend are counted against the unique problems left
once duplicates and every eval problem are removed, the same rules the split
applies at run time (trainer.data.split_pool).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.contracts import UserError
from planner.contracts.data import DataRef, EvalSet
from trainer.data import MathProblem, load_problems, locate, normalize_text, read_records
from trainer.formats import record_map


@dataclass
class Report:
    ref: DataRef
    where: Path | None  # the local file, directory or hub cache copy
    format: str  # the map used (detected or named)
    fields: dict[str, str]  # part -> where it is read from
    problems: list[MathProblem]
    unique: int
    labeled: bool  # every row has a gold answer
    checked: int = 0  # gold answers run through the verifier
    unreadable: list[MathProblem] = field(default_factory=list)  # golds the verifier cannot read

    @property
    def duplicates(self) -> int:
        return len(self.problems) - self.unique


def describe_map(ref: DataRef, first: Any) -> tuple[str, dict[str, str]]:
    """The map the first record is read by, and where each part comes from, in words."""
    m = record_map(ref.format, ref.fields, first)
    if m is None:
        return "unknown", {}
    named = ref.format if ref.format != "auto" else f"{m.name} (detected)"
    answer = m.answer or ""
    if m.answer_rule == "gsm8k":
        answer += " after ####"
    if m.solution:
        answer += f", else the last \\boxed{{}} of {m.solution}"
    parts = {"problem": m.problem + (" (DAPO's instruction removed)" if m.strip_dapo else "")}
    parts |= {"answer": answer.strip(", ")} if answer else {}
    parts["id"] = " or ".join(m.ids) + ", else a hash of the problem text"
    return named, parts


def inspect_ref(ref: DataRef, zoo: Any = None, verifier: Any = None, verify: int = 0) -> Report:
    """Load ``ref`` as a plan would; with a verifier, run up to ``verify`` gold answers through
    it (a gold the verifier cannot parse can never be matched, so its problem never rewards)."""
    _, rows = read_records(ref, zoo)
    first = next(iter(rows), (None, None))[1]
    fmt, parts = describe_map(ref, first)
    try:
        problems = load_problems(ref, zoo=zoo)
        labeled = True
    except UserError as e:
        if "no answer" not in str(e):
            raise
        problems, labeled = load_problems(ref, require_answers=False, zoo=zoo), False
    unique = len({normalize_text(p.problem) for p in problems})
    report = Report(ref, locate(ref, zoo), fmt, parts, problems, unique, labeled)
    if verifier is not None and labeled and verify > 0:
        golds = [p for p in problems if p.answer is not None][:verify]
        verdicts = verifier.verify_batch(
            [p.answer for p in golds], ["\\boxed{" + str(p.answer) + "}" for p in golds]
        )
        report.checked = len(golds)
        report.unreadable = [p for p, v in zip(golds, verdicts, strict=True) if v != "correct"]
    return report


def _texts(problems: Sequence[MathProblem]) -> set[str]:
    return {normalize_text(p.problem) for p in problems}


@dataclass(frozen=True)
class Fit:
    labeled_unique: int  # unique labeled problems that are in no eval set
    in_eval: int  # unique labeled problems removed because an eval set holds them
    prompts_unique: int | None  # unique problems of the prompt pool beyond the labels (None: none)
    labels_asked: int
    prompts_asked: int
    problems: list[str]


def scenario_fit(
    labels: int,
    prompts: int,
    labeled: Sequence[MathProblem],
    prompt_pool: Sequence[MathProblem] | None,
    eval_sets: Mapping[str, Sequence[MathProblem]],
) -> Fit:
    """Whether the data holds ``labels`` labeled problems and ``prompts`` more for the bridge."""
    held = set().union(*(_texts(s) for s in eval_sets.values())) if eval_sets else set()
    lab_all = _texts(labeled)
    lab = lab_all - held
    pool = (_texts(prompt_pool) - held) if prompt_pool is not None else None
    out: list[str] = []
    if labels > len(lab):
        out.append(
            f"labels {labels:,} > {len(lab):,}: the labeled pool holds {len(labeled):,} rows, "
            f"{len(lab_all):,} unique problems, {len(lab_all) - len(lab):,} of them also in an "
            "eval set"
        )
    if prompts > 0:
        # Prompts never repeat a drawn label: at worst every label is drawn from the prompt pool.
        if pool is None:
            room = len(lab) - min(labels, len(lab))
        else:
            room = len(pool) - min(labels, len(pool & lab))
        if prompts > room:
            source = "the prompt pool" if pool is not None else "the labeled pool"
            out.append(
                f"labels + prompts = {labels:,} + {prompts:,} = {labels + prompts:,}, but "
                f"{source} leaves {room:,} unique problems for prompts once the labels are "
                "drawn and eval problems removed"
            )
    return Fit(
        len(lab), len(lab_all) - len(lab), None if pool is None else len(pool), labels, prompts, out
    )


def load_scenario_data(
    labeled: Any, prompts: Any, evals: Sequence[EvalSet], zoo: Any = None
) -> tuple[list[MathProblem], list[MathProblem] | None, dict[str, list[MathProblem]]] | None:
    """The scenario's data as the run will read it, or None when some of it is not here."""
    from planner.contracts.data import as_ref

    refs = [as_ref(labeled), *([as_ref(prompts)] if prompts else []), *(e.ref for e in evals)]
    if any(locate(r, zoo) is None for r in refs):
        return None
    lab = load_problems(as_ref(labeled), zoo=zoo)
    pool = load_problems(as_ref(prompts), require_answers=False, zoo=zoo) if prompts else None
    return lab, pool, {e.name: load_problems(e.ref, zoo=zoo) for e in evals}


def check_scenario_fit(sc: Any) -> str:
    """Refuse a scenario whose data cannot hold its labels and prompts; say what was checked."""
    d = sc.datasets
    loaded = load_scenario_data(d.labeled, d.prompts, d.eval, sc.zoo)
    if loaded is None:
        return "data: not on this machine, so the split was not checked against it"
    lab, pool, evals = loaded
    fit = scenario_fit(sc.labels, sc.prompts, lab, pool, evals)
    if fit.problems:
        raise UserError(
            f"{sc.source}: the data cannot hold what the scenario asks for: "
            + "; ".join(fit.problems)
            + ". Lower labels or prompts in the scenario, or point datasets at more problems "
            "(`s2d data inspect PATH` shows what a dataset holds)."
        )
    return (
        f"data: {fit.labeled_unique:,} unique labeled problems outside the eval sets "
        f"(scenario asks {sc.labels:,})"
        + (f", {fit.prompts_unique:,} prompts (asks {sc.prompts:,})" if pool is not None else "")
    )
