"""Before any work: the plan's models are whole, and every prompt fits the context it is fed to.

A prompt is fed to a model with the chat template the trainer applies
(trainer.rollouts.chat_prompts, which is also what TRL applies to a
conversational prompt), and then up to ``max_new_tokens`` are generated after
it; the whole sequence must fit the context of every model that generates,
trains on or scores it (``max_position_embeddings``). A prompt beyond it would
pass every other check and then ask for an absurd amount of memory, or fail,
hours into a run. :func:`prompt_problems` counts every prompt each stage and
each evaluation reads (exactly the problems the split gave it) with the
student's tokenizer (the teacher's is the same one: trainer.models.check_compatible)
in one batch, and refuses with every prompt set that does not fit at once;
:func:`preflight` runs it after checking the models' files (trainer.models.check_models).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.contracts import EvalOptions, Plan, UserError, kind_of
from planner.contracts.data import PromptTemplate
from planner.contracts.errors import EXCERPT_CHARS, excerpt

MAX_LINES = 8  # prompt sets named in one refusal; the rest are counted
BATCH = 2048  # prompts tokenized per call


@dataclass
class Reader:
    """One use of a prompt set: who reads it, with how many new tokens, within which models."""

    what: str  # "stages[0] teacher_rl (grpo on the teacher)"
    field: str  # "stages[0].budget.max_new_tokens"
    max_new: int
    roles: tuple[str, ...]  # the models whose context the sequence must fit
    cap: int = 0  # problems read from the start of the set (0: all)


@dataclass
class _Group:
    dataset: str
    max_new: int
    limit: int
    fields: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)  # what the readers read, in set order


def readers(plan: Plan, eval_names: Sequence[str]) -> list[tuple[str, Reader]]:
    """(prompt set, reader) for every stage and evaluation of ``plan``.

    Prompt sets are the split's parts (``labels.stage1``, ``labels.stage3``,
    ``prompts``) and the eval sets (``eval:<name>``).
    """
    out: list[tuple[str, Reader]] = []
    trained = ["student"]
    for i, s in enumerate(plan.stages):
        if s.trains and s.budget is not None and s.data is not None:
            roles: tuple[str, ...] = (s.model,)
            what = f"{s.kind} on the {s.model}"
            if s.kind == "forward_kl":
                what = f"{s.kind}: the teacher generates, the {s.model} trains on it"
                roles = ("teacher", s.model)
            elif kind_of(s).reads_teacher:
                what = f"{s.kind}: the {s.model} generates, the teacher scores"
                roles = (s.model, "teacher")
            reader = Reader(
                f"stages[{i}] {s.id} ({what})",
                f"stages[{i}].budget.max_new_tokens",
                s.budget.max_new_tokens,
                tuple(dict.fromkeys(roles)),
            )
            out.append((s.data, reader))
            trained.append(s.model)
        elif not s.trains:
            o = s.options_as(EvalOptions)
            for name in o.sets or eval_names:
                reader = Reader(
                    f"stages[{i}] {s.id} (eval of the {s.model})",
                    f"stages[{i}].options.max_new_tokens",
                    o.max_new_tokens,
                    (s.model,),
                    o.max_problems,
                )
                out.append((f"eval:{name}", reader))
    if plan.eval_after_each_stage:
        e = plan.evaluation
        for role in dict.fromkeys(trained):
            when = "after each of its stages"
            if role == "student":
                when = "before the first stage and " + when
            for name in e.sets or eval_names:
                reader = Reader(
                    f"the evaluations of the {role} ({when})",
                    "evaluation.max_new_tokens",
                    e.max_new_tokens,
                    (role,),
                    e.max_problems,
                )
                out.append((f"eval:{name}", reader))
    return out


def prompt_lengths(
    tokenizer: Any, texts: Sequence[str], template: PromptTemplate | None = None
) -> list[int]:
    """Tokens of each problem as a chat prompt (template and generation prompt included)."""
    from trainer.rollouts import chat_prompts

    lengths: list[int] = []
    for start in range(0, len(texts), BATCH):
        prompts = chat_prompts(tokenizer, texts[start : start + BATCH], template)
        ids = tokenizer(
            prompts,
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        lengths += [len(i) for i in ids]
    return lengths


def _line_of(path: Path | None, text: str) -> str:
    """`` (line N)`` of the record holding ``text`` in a JSON lines file; empty when not found."""
    if path is None or not path.is_file() or path.suffix.lower() not in (".jsonl", ".json"):
        return ""
    needles = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                if any(n in line for n in needles):
                    return f" (line {number})"
    except OSError:
        pass
    return ""


def _short(text: Any) -> str:
    """A path or an id as written, cut to an excerpt's length."""
    text = str(text)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def _both(roles: Sequence[str]) -> str:
    return " and the ".join(f"{r}'s" for r in roles)


def _describe(g: _Group, lengths: dict[str, int], path: Path | None) -> str | None:
    bad = [p for p in g.problems if lengths[p.problem] + g.max_new > g.limit]
    if not bad:
        return None
    worst = max(bad, key=lambda p: lengths[p.problem])
    n = lengths[worst.problem]
    room, lower_to = g.limit - g.max_new, g.limit - n
    fields = " or ".join(g.fields)
    fixes = [f"drop the problems longer than {room} tokens"] if room > 0 else []
    fixes.append(f"lower {fields} to {lower_to} or less" if lower_to > 0 else f"lower {fields}")
    fixes.append("use a model with a longer context")
    new = " and ".join(f"{f} {g.max_new}" for f in g.fields)
    return (
        f"{g.dataset}, read by {' and '.join(dict.fromkeys(g.readers))}: problem id "
        f"{_short(worst.id)}{_line_of(path, worst.problem)} is {n} tokens as a chat prompt, "
        f"{n + g.max_new} with {new}, beyond the {_both(g.roles)} context of "
        f"{g.limit} (max_position_embeddings); {len(bad)} of {len(g.problems)} problems read do "
        f"not fit. Fix: {', '.join(fixes[:-1])}, or {fixes[-1]}."
    )


def prompt_problems(
    plan: Plan,
    contexts: dict[str, int | None],
    tokenizer: Any,
    split: Any,
    eval_sets: dict[str, list[Any]],
    paths: dict[str, Path | None],
) -> list[str]:
    """One line for each prompt set and reader whose longest prompt does not fit; [] when all do.

    ``contexts``: role -> the model's context (None or absent: unknown, not checked);
    ``paths``: prompt set -> its file, to name a problem's line.
    """
    sets: dict[str, list[Any]] = {
        "labels.stage1": list(split.stage1),
        "labels.stage3": list(split.stage3),
        "prompts": list(split.prompts),
        **{f"eval:{name}": list(problems) for name, problems in eval_sets.items()},
    }
    d = plan.datasets

    def where(ref: Any, key: str, note: str = "") -> str:
        ref = str(ref)
        path = paths.get(key)
        inside = [_short(path)] if path is not None and str(path) != ref else []
        inside += [note] if note else []
        return f"{_short(ref)} ({'; '.join(inside)})" if inside else _short(ref)

    def at(e: Any) -> str:
        path = paths.get(f"eval:{e.name}")
        shown = [e.path] + ([str(path)] if path is not None and str(path) != e.path else [])
        return ", ".join(_short(x) for x in shown)

    def drawn(key: str, what: str) -> str:
        return f"datasets.labeled {where(d.labeled, key, what)}"

    names = {
        "labels.stage1": drawn("labels.stage1", "the problems drawn for labels.stage1"),
        "labels.stage3": drawn("labels.stage3", "the problems drawn for labels.stage3"),
        "prompts": f"datasets.prompts {where(d.prompts, 'prompts')}"
        if d.prompts
        else drawn("prompts", "its unallocated problems, drawn as prompts"),
        **{f"eval:{e.name}": f"datasets.eval {excerpt(e.name)} ({at(e)})" for e in d.eval},
    }
    groups: dict[tuple[str, int, int], _Group] = {}
    for key, reader in readers(plan, list(eval_sets)):
        known = {r: c for r in reader.roles if (c := contexts.get(r)) is not None}
        if key not in sets or not known:
            continue
        limit = min(known.values())
        g = groups.setdefault(
            (key, reader.max_new, limit), _Group(names.get(key, key), reader.max_new, limit)
        )
        g.fields += [reader.field] if reader.field not in g.fields else []
        g.roles += [r for r, c in known.items() if c == limit and r not in g.roles]
        g.readers.append(reader.what)
        read = sets[key][: reader.cap] if reader.cap else sets[key]
        if len(read) > len(g.problems):
            g.problems = read
    texts = list(dict.fromkeys(p.problem for g in groups.values() for p in g.problems))
    lengths = dict(zip(texts, prompt_lengths(tokenizer, texts, plan.prompt), strict=True))
    lines = []
    for (key, *_), g in groups.items():
        line = _describe(g, lengths, paths.get(key))
        if line is not None:
            lines.append(line)
    return lines


def preflight(plan: Plan, zoo: Any, split: Any, eval_sets: dict[str, list[Any]]) -> None:
    """Refuse the run when a model's files are broken or a prompt does not fit its context.

    Models that cannot be found are left to the caller (``s2d run`` refuses them before it
    gets here; ``s2d run --dry-run`` notes them).
    """
    from trainer.data import locate
    from trainer.models import check_models, resolve_model_path

    refs = {"student": plan.student, "teacher": plan.teacher}
    found: dict[str, Path] = {}
    for role, ref in refs.items():
        if ref is not None:
            try:
                found[role] = resolve_model_path(ref.path, zoo)
            except UserError:
                continue
    if "student" not in found:
        return
    checks = check_models(found)
    paths: dict[str, Path | None] = {}
    for key, data in [
        ("labels.stage1", plan.datasets.labeled),
        ("labels.stage3", plan.datasets.labeled),
        ("prompts", plan.datasets.prompts or plan.datasets.labeled),
        *[(f"eval:{e.name}", e.ref) for e in plan.datasets.eval],
    ]:
        try:
            paths[key] = locate(data, zoo)
        except UserError:
            paths[key] = None
    contexts = {role: c.context for role, c in checks.items()}
    lines = prompt_problems(plan, contexts, checks["student"].tokenizer, split, eval_sets, paths)
    if lines:
        shown = [f"  - {line}" for line in lines[:MAX_LINES]]
        if len(lines) > MAX_LINES:
            shown.append(f"  - and {len(lines) - MAX_LINES} more")
        raise UserError(
            f"{len(lines)} prompt set(s) do not fit the model's context (a prompt with the chat "
            "template, plus the new tokens generated after it, must fit max_position_embeddings); "
            "nothing was run:\n" + "\n".join(shown)
        )
