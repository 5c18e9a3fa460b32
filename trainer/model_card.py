"""The model card (``README.md``) in each trained stage's model directory.

A Hugging Face model card, as ``huggingface_hub``'s ModelCard and TRL's generated cards are:
YAML front matter that the hub and other tools read (``base_model``, ``library_name``,
``tags``, ``datasets``, ``pipeline_tag`` and, once the stage's eval has run, ``model-index``
results), then a short body saying what the stage did: its kind, what it started from (and,
for distillation, its teacher), the data and budget the plan gave it, the plan's predicted
accuracy with its band, and the accuracy measured after it.

The card is written twice: with the model, before the stage's eval (prediction only; see
``trainer.hf.save_final_model``), then again with the measured accuracy once the eval
finished, before the stage's DONE marker (``trainer.executor``). Nothing here reaches the hub.
The card is not part of what loads the model: recovery (``trainer.recovery``) never looks at
it, and a finished stage whose card is missing or unreadable gets it written again.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import yaml

from planner.contracts import Plan, RunDir, Stage, kind_of
from planner.contracts.data import as_ref
from planner.contracts.files import atomic_write_text
from planner.contracts.plan import LABEL_SOURCES

# What each training kind is, in the card's tags and in its first line.
KIND_TAGS: dict[str, list[str]] = {
    "grpo": ["grpo", "reinforcement-learning"],
    "forward_kl": ["distillation", "forward-kl"],
    "opd": ["distillation", "on-policy-distillation"],
}
KIND_WORDS: dict[str, str] = {
    "grpo": "GRPO (reinforcement learning with a verifiable reward)",
    "forward_kl": "forward-KL distillation on the teacher's samples",
    "opd": "on-policy distillation (the student's samples, scored by the teacher)",
}
FRAMEWORKS = ("sparse2dense", "trl", "transformers", "torch", "huggingface_hub")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _code(text: Any) -> str:
    """``text`` as a Markdown code span, whatever it holds (backticks, line breaks)."""
    one_line = " ".join(str(text).split())
    fence = "`"
    while fence in one_line:
        fence += "`"
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{fence}{pad}{one_line}{pad}{fence}"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def _origin(plan: Plan, index: int, role: str) -> tuple[str | None, str]:
    """(the earlier stage whose model ``role`` holds before stage ``index``, or None; the
    plan's own model for that role, in words)."""
    ref = plan.student if role == "student" else plan.teacher
    root = f"the plan's {role} {_code(ref.name)} ({_code(ref.path)})" if ref else f"no {role}"
    earlier = [s.id for s in plan.stages[:index] if kind_of(s).trains and s.model == role]
    return (earlier[-1] if earlier else None), root


def _started_from(plan: Plan, index: int, role: str) -> str:
    stage_id, root = _origin(plan, index, role)
    if stage_id is None:
        return root
    path = RunDir("").model_dir(stage_id)
    return f"the model stage {_code(stage_id)} trained ({_code(path)}), which descends from {root}"


def base_model(plan: Plan, stage: Stage) -> str | None:
    """The model the stage's lineage starts from, as the plan names it (its ``path``)."""
    ref = plan.student if stage.model == "student" else plan.teacher
    return ref.path if ref else None


def trained_on(plan: Plan, stage: Stage) -> list[str]:
    """The data the stage trained on, as the plan names it."""
    if stage.data in LABEL_SOURCES:
        return [as_ref(plan.datasets.labeled).path]
    if stage.data == "prompts":
        return [as_ref(plan.datasets.prompts or plan.datasets.labeled).path]
    return []


def _data_line(plan: Plan, stage: Stage) -> str:
    src = stage.label_source
    if src is not None:
        count = getattr(plan.labels, src)
        return f"{count} labeled problems ({_code(stage.data)}) from {_code(plan.datasets.labeled)}"
    if stage.data == "prompts":
        if plan.datasets.prompts:
            where = f"from {_code(plan.datasets.prompts)}"
        else:
            where = (
                f"from the part of {_code(plan.datasets.labeled)} no stage is allocated, "
                "answers dropped"
            )
        return f"{plan.labels.prompts} unlabeled prompts ({_code('prompts')}) {where}"
    return "none"


def _eval_set_path(plan: Plan, name: str) -> str:
    for e in plan.datasets.eval:
        if e.name == name:
            return e.path
    return name


def _measured_line(result: dict[str, Any]) -> str:
    benchmark, accuracy = result.get("benchmark"), result.get("accuracy")
    if not isinstance(accuracy, (int, float)):
        return f"- {_code(benchmark)}: no accuracy recorded"
    n, k = result.get("n"), result.get("k")
    how = []
    if isinstance(n, int) and isinstance(k, int):
        how.append(f"{n} problems x {k} samples")
    temperature = result.get("temperature")
    if isinstance(temperature, (int, float)):
        how.append(f"temperature {temperature}")
    greedy = result.get("greedy_accuracy")
    if isinstance(greedy, (int, float)):
        how.append(f"greedy {_percent(greedy)}")
    said = f" ({'; '.join(how)})" if how else ""
    return f"- {_code(benchmark)}: {_percent(accuracy)}{said}"


def card_data(plan: Plan, stage: Stage, evals: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The front matter, as plain data (the keys huggingface_hub's ModelCardData writes)."""
    data: dict[str, Any] = {
        "base_model": base_model(plan, stage),
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["sparse2dense", "trl", *KIND_TAGS.get(stage.kind, [stage.kind])],
        "datasets": trained_on(plan, stage),
        "model_name": f"{plan.name}-{stage.id}",
    }
    results = [
        e for e in evals or [] if isinstance(e.get("accuracy"), (int, float)) and e.get("benchmark")
    ]
    if results:
        data["eval_results"] = [
            {
                "task_type": "text-generation",
                "dataset_type": _eval_set_path(plan, str(e["benchmark"])),
                "dataset_name": str(e["benchmark"]),
                "metric_type": "accuracy",
                "metric_value": float(e["accuracy"]),
                "metric_name": (
                    f"accuracy ({e['n']} problems x {e['k']} samples)"
                    if isinstance(e.get("n"), int) and isinstance(e.get("k"), int)
                    else "accuracy"
                ),
            }
            for e in results
        ]
    return data


def _front_matter(data: dict[str, Any]) -> str:
    """The YAML between the card's ``---`` lines: huggingface_hub's when installed."""
    try:
        from huggingface_hub import EvalResult, ModelCardData
    except ImportError:  # plain YAML; model-index only as the hub spells it
        plain = {k: v for k, v in data.items() if k not in ("eval_results", "model_name")}
        if data.get("eval_results"):
            plain["model-index"] = [
                {
                    "name": data["model_name"],
                    "results": [
                        {
                            "task": {"type": r["task_type"]},
                            "dataset": {"name": r["dataset_name"], "type": r["dataset_type"]},
                            "metrics": [
                                {
                                    "type": r["metric_type"],
                                    "value": r["metric_value"],
                                    "name": r["metric_name"],
                                }
                            ],
                        }
                        for r in data["eval_results"]
                    ],
                }
            ]
        return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True).rstrip("\n")
    fields = dict(data)
    results = fields.pop("eval_results", None)
    card = ModelCardData(
        **fields, eval_results=[EvalResult(**r) for r in results] if results else None
    )
    return card.to_yaml()


def model_card(plan: Plan, index: int, evals: list[dict[str, Any]] | None) -> str:
    """The card of ``plan.stages[index]``'s model. ``evals``: the eval results after the stage
    (the DONE marker's), ``[]`` when the plan runs none, None while the eval is still to come."""
    stage = plan.stages[index]
    assert stage.budget is not None  # a training stage
    kind = kind_of(stage)
    words = KIND_WORDS.get(stage.kind, stage.kind)
    lines = [
        "---",
        _front_matter(card_data(plan, stage, evals)),
        "---",
        "",
        f"# {plan.name}: stage {stage.id}",
        "",
        f"Stage {_code(stage.id)} of the sparse2dense plan {_code(plan.name)}: {words}, "
        f"kind {_code(stage.kind)}, training the {stage.model}. Trained with TRL and saved "
        "with `save_pretrained`.",
        "",
        "## Lineage",
        "",
        f"- Started from: {_started_from(plan, index, stage.model)}",
    ]
    if kind.reads_teacher:
        lines.append(f"- Teacher: {_started_from(plan, index, 'teacher')}")
    b = stage.budget
    lines += [
        "",
        "## Data and budget",
        "",
        f"- Data: {_data_line(plan, stage)}",
        f"- Budget: {b.steps} steps x {b.prompts_per_step} prompts per step x "
        f"{b.samples_per_prompt} samples per prompt, at most {b.max_new_tokens} new tokens "
        "per completion",
        f"- Optimizer: learning rate {stage.optim.learning_rate}, "
        f"{stage.optim.lr_scheduler} schedule",
        "",
        "## Accuracy",
        "",
    ]
    prediction = plan.prediction
    predicted = prediction.stages.get(stage.id) if prediction else None
    if prediction is not None and predicted is not None:
        on = f" on {_code(prediction.benchmark)}" if prediction.benchmark else ""
        source = f", calibration {_code(prediction.source)}" if prediction.source else ""
        lines.append(
            f"Predicted by the plan{on}: {_percent(predicted.accuracy)} "
            f"(band {_percent(predicted.low)} to {_percent(predicted.high)}{source})."
        )
    else:
        lines.append("Predicted by the plan: none (the plan carries no prediction for it).")
    lines.append("")
    if evals is None:
        lines.append(
            "Measured after this stage: not yet (the stage's eval had not finished when the "
            "model was saved; this card is rewritten with it)."
        )
    elif not evals:
        lines.append("Measured after this stage: none (the plan runs no eval after each stage).")
    else:
        lines.append("Measured after this stage (mean accuracy over the samples):")
        lines.append("")
        lines += [_measured_line(e) for e in evals]
    model_path = RunDir("").model_dir(stage.id)
    lines += [
        "",
        "## How to load it",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'path = "{model_path}"  # in the run directory',
        "model = AutoModelForCausalLM.from_pretrained(path)",
        "tokenizer = AutoTokenizer.from_pretrained(path)",
        "```",
        "",
        "## Framework versions",
        "",
        *(f"- {dist}: {_version(dist)}" for dist in FRAMEWORKS),
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    model_dir: Path, plan: Plan, index: int, evals: list[dict[str, Any]] | None
) -> Path:
    """Write (or replace, whole) ``model_dir``'s card; see :func:`model_card`."""
    return atomic_write_text(Path(model_dir) / RunDir.MODEL_CARD, model_card(plan, index, evals))


def card_readable(path: Path) -> bool:
    """``path`` is a model card a reader can use: UTF-8 text opening with a YAML mapping
    between ``---`` lines (what huggingface_hub's ModelCard parses)."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    head, sep, rest = text.partition("\n")
    if head.strip() != "---" or not sep:
        return False
    front, sep, _ = rest.partition("\n---")
    if not sep:
        return False
    try:
        data = yaml.safe_load(front)
    except (yaml.YAMLError, RecursionError):
        return False
    return isinstance(data, dict)
