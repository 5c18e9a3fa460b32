"""The scenario: what the planner plans for (YAML, validated on load).

A scenario names the deployment student, the candidate teachers, the labeled
pool and the unlabeled prompt pool, the benchmark to maximise, the hardware
and the compute budget (GPU-hours, or CPU-seconds in the toy world), plus the
per-step batch settings of each stage (defaults: the paper's code base for
real models, the toy-world probe for ``world: toy``). Loading resolves every
model to a profile and the hardware to its figures, so that everything after
``load_scenario`` works on plain numbers. Relative model directories and data
paths are read from the scenario file's folder, whatever the working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from planner.contracts.data import (
    BOXED_INSTRUCTION,
    DataRef,
    EvalSet,
    PromptTemplate,
    check_prompt_template,
    looks_like_hub_id,
)
from planner.contracts.errors import UserError, ValidationError
from planner.contracts.plan import load_yaml_text, read_text
from planner.contracts.schema import (
    BATCH_MAX,
    COUNT_MAX,
    DEVICES_MAX,
    NAME_RULE,
    SAMPLES_MAX,
    SEED,
    TOKENS_MAX,
    FieldProblems,
    build,
    rule,
)
from planner.scenario.hardware import Hardware, resolve_hardware
from planner.scenario.models import TOY_BENCHMARK, ModelProfile, resolve_model
from planner.scenario.zoo import resolve_zoo

STAGES = ("teacher_rl", "warmup", "opd", "student_rl")
_POSITIVE = rule(gt=0)
_SPEND = rule(gt=0, hint="give the compute you can spend")
_TOKENS = rule(gt=0, cap=TOKENS_MAX)


@dataclass(frozen=True)
class StageShape:
    """Per-step batch settings of one stage (what a plan's Budget holds, plus token lengths)."""

    prompts_per_step: int
    samples_per_prompt: int
    max_new_tokens: int
    response_tokens: float  # mean generated tokens per sample (<= max_new_tokens)
    prompt_tokens: float  # mean prompt tokens per sample, chat template included

    @property
    def sequences(self) -> int:
        return self.prompts_per_step * self.samples_per_prompt


@dataclass
class ScenarioModel:
    model: str
    accuracy: dict[str, float] = field(default_factory=dict)  # benchmark -> prior accuracy 0..1
    # Whether the accuracy figures are measured (true) or estimated (false: the prediction
    # band widens by the profile's interpolated_sd_factor). Default: the model's own
    # provenance, so a local config.json model is estimated unless this says otherwise.
    measured: bool | None = None


@dataclass
class HardwareSpec:
    device: str = "h100"
    count: int = field(
        default=1, metadata=rule(gt=0, hint="devices of this kind, 1 or more", cap=DEVICES_MAX)
    )
    engine: Literal["transformers", "vllm"] = "transformers"
    probe: bool = False  # cpu only: measure peak FLOP/s with a short matmul
    overrides: dict[str, float] = field(default_factory=dict)


@dataclass
class BudgetSpec:
    gpu_hours: float | None = field(default=None, metadata=_SPEND)
    cpu_seconds: float | None = field(default=None, metadata=_SPEND)


@dataclass
class ObjectiveSpec:
    benchmark: str | None = None  # default: math (real world) or toy
    risk: float = field(  # maximise mean - risk * sd
        default=0.0,
        metadata=rule(ge=0, le=10, hint="0 maximises the predicted mean; 1 maximises mean - 1 sd"),
    )


@dataclass
class DatasetsSpec:
    """The plan's datasets section, passed through (planner.contracts.data); relative local
    paths are read from the scenario's folder."""

    labeled: str | DataRef
    prompts: str | DataRef | None = None
    eval: list[EvalSet] = field(default_factory=list)


@dataclass
class StageSettings:
    prompts_per_step: int | None = field(default=None, metadata=rule(gt=0, cap=BATCH_MAX))
    samples_per_prompt: int | None = field(default=None, metadata=rule(gt=0, cap=SAMPLES_MAX))
    max_new_tokens: int | None = field(default=None, metadata=_TOKENS)
    # mean generated tokens per sample
    response_tokens: float | None = field(default=None, metadata=_TOKENS)
    learning_rate: float | None = field(default=None, metadata=_POSITIVE)


@dataclass
class Settings:
    prompt_tokens: float | None = field(default=None, metadata=_TOKENS)
    teacher_rl: StageSettings = field(default_factory=StageSettings)
    warmup: StageSettings = field(default_factory=StageSettings)
    opd: StageSettings = field(default_factory=StageSettings)
    student_rl: StageSettings = field(default_factory=StageSettings)


@dataclass
class ScenarioDoc:
    name: str = field(metadata=NAME_RULE)
    student: str | ScenarioModel = field()
    labels: int = field(metadata=rule(ge=0, cap=COUNT_MAX))
    budget: BudgetSpec = field()
    teachers: list[str | ScenarioModel] = field(default_factory=list)
    prompts: int = field(default=0, metadata=rule(ge=0, cap=COUNT_MAX))
    kind: Literal["scenario"] = "scenario"
    world: Literal["real", "toy"] = "real"
    zoo: str | None = None
    hardware: HardwareSpec = field(default_factory=HardwareSpec)
    objective: ObjectiveSpec = field(default_factory=ObjectiveSpec)
    datasets: DatasetsSpec | None = None
    # How the emitted plans ask each problem; default: Qwen's \\boxed{} instruction for real
    # models, the bare problem for the toy world.
    prompt: PromptTemplate | None = None
    settings: Settings = field(default_factory=Settings)
    profile: str | None = None  # response profile YAML (default: the world's shipped one)
    seed: int = field(default=0, metadata=SEED)


# Per-stage defaults: (prompts_per_step, samples_per_prompt, max_new_tokens, response_tokens, lr)
DEFAULTS: dict[str, dict[str, tuple[int, int, int, float, float]]] = {
    # PAPER.md's code base: GRPO 512 x 8, OPD 256 x 1, lr 1e-6, responses up to 8k tokens
    # (mean length 2,048 is our assumption for MATH-style reasoning).
    "real": {
        "teacher_rl": (512, 8, 8192, 2048, 1e-6),
        "warmup": (256, 1, 8192, 2048, 1e-6),
        "opd": (256, 1, 8192, 2048, 1e-6),
        "student_rl": (512, 8, 8192, 2048, 1e-6),
    },
    # TOYWORLD.md: GRPO 16 prompts x 8 at lr 3e-5 (teacher) / 5e-5 (student), warmup
    # batches of 64 at 5e-4, OPD batches of 32 at 5e-5, answers of about 36 tokens.
    "toy": {
        "teacher_rl": (16, 8, 40, 28, 3e-5),
        "warmup": (64, 1, 40, 28, 5e-4),
        "opd": (32, 1, 40, 28, 5e-5),
        "student_rl": (16, 8, 40, 28, 5e-5),
    },
}
PROMPT_TOKENS = {"real": 200.0, "toy": 12.0}


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: resolved models, hardware and per-stage shapes."""

    name: str
    world: str
    source: str
    student: ModelProfile
    teachers: tuple[ModelProfile, ...]
    labels: int
    prompts: int
    benchmark: str
    risk: float
    hardware: Hardware
    budget: float  # in compute_unit
    shapes: dict[str, StageShape]
    learning_rates: dict[str, float]
    datasets: DatasetsSpec
    profile_path: str | None
    seed: int
    zoo: str | None = None
    prompt: PromptTemplate = field(default_factory=PromptTemplate)

    @property
    def compute_unit(self) -> str:
        return self.hardware.compute_unit


def is_scenario_data(data: Any) -> bool:
    return isinstance(data, dict) and (
        data.get("kind") == "scenario" or "teachers" in data or "budget" in data
    )


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    path = Path(path)
    data = load_yaml_text(read_text(path, "scenario"), str(path))
    return scenario_from_dict(data, str(path), base_dir=path.parent)


def _model(
    spec: str | ScenarioModel, where: str, zoo: Path | None, base_dir: Path | None
) -> ModelProfile:
    from dataclasses import replace

    if isinstance(spec, str):
        return resolve_model(spec, where, zoo, base_dir)
    prof = resolve_model(spec.model, f"{where}.model", zoo, base_dir)
    for bench, acc in spec.accuracy.items():
        if not 0.0 <= acc <= 1.0:
            raise UserError(
                f"{where}.accuracy.{bench}: {acc} is not an accuracy; give a fraction between 0 and 1 (0.75 for 75%)."
            )
    if spec.accuracy:
        prof = replace(
            prof,
            base_accuracy={**prof.base_accuracy, **spec.accuracy},
            grpo_accuracy={},
            provenance=prof.provenance + "; accuracy from the scenario",
        )
    if spec.measured is not None:
        prof = replace(
            prof,
            interpolated=not spec.measured,
            provenance=prof.provenance
            + ("; accuracy measured" if spec.measured else "; accuracy estimated"),
        )
    return prof


def scenario_from_dict(
    data: Any, source: str = "scenario", base_dir: Path | None = None
) -> Scenario:
    problems = FieldProblems()
    doc = build(ScenarioDoc, data, "", problems)
    if problems:
        raise ValidationError(source, problems)
    b = doc.budget
    if (b.gpu_hours is None) == (b.cpu_seconds is None):
        problems.add(
            "budget",
            "give exactly one of gpu_hours or cpu_seconds",
            "e.g. budget: {gpu_hours: 400}",
        )
    if problems:
        raise ValidationError(source, problems)

    toy = doc.world == "toy"
    zoo = None
    if toy:
        zoo_dir = doc.zoo
        if zoo_dir and base_dir is not None and not Path(zoo_dir).expanduser().is_absolute():
            zoo_dir = str(base_dir / zoo_dir) if (base_dir / zoo_dir).exists() else zoo_dir
        zoo = resolve_zoo(zoo_dir, where=f"{source}: zoo").resolve()
    student = _model(doc.student, f"{source}: student", zoo, base_dir)
    teachers = tuple(
        _model(t, f"{source}: teachers[{i}]", zoo, base_dir) for i, t in enumerate(doc.teachers)
    )
    benchmark = doc.objective.benchmark or (TOY_BENCHMARK if toy else "math")
    student.accuracy(benchmark, f"{source}: student")
    for i, t in enumerate(teachers):
        t.accuracy(benchmark, f"{source}: teachers[{i}]")
        if t.vocab_size != student.vocab_size:
            raise UserError(
                f"{source}: teachers[{i}] ({t.name}) has a vocabulary of {t.vocab_size}, the student ({student.name}) {student.vocab_size}; token-level distillation needs the same tokenizer. Pick a teacher of the student's family."
            )
    if len({t.name for t in teachers}) != len(teachers):
        raise UserError(f"{source}: teachers repeat; list each candidate teacher once.")

    hw = resolve_hardware(
        doc.hardware.device,
        doc.hardware.count,
        doc.hardware.engine,
        doc.hardware.overrides,
        doc.hardware.probe,
        f"{source}: hardware",
    )
    budget = b.gpu_hours if b.gpu_hours is not None else b.cpu_seconds
    assert budget is not None  # checked above: exactly one is given
    unit = "gpu_hours" if b.gpu_hours is not None else "cpu_seconds"
    if unit != hw.compute_unit:
        raise UserError(
            f"{source}: budget is in {unit}, but {hw.name} is a {hw.kind}; give budget.{hw.compute_unit} instead."
        )

    world = "toy" if toy else "real"
    shapes, lrs = {}, {}
    prompt_tokens = (
        doc.settings.prompt_tokens
        if doc.settings.prompt_tokens is not None
        else PROMPT_TOKENS[world]
    )
    for stage in STAGES:
        pps, spp, mnt, resp, lr = DEFAULTS[world][stage]
        st: StageSettings = getattr(doc.settings, stage)
        pps, spp, mnt = (
            st.prompts_per_step or pps,
            st.samples_per_prompt or spp,
            st.max_new_tokens or mnt,
        )
        resp = st.response_tokens if st.response_tokens is not None else min(resp, mnt)
        where = f"{source}: settings.{stage}"
        if min(pps, spp, mnt) <= 0 or resp <= 0 or resp > mnt:
            raise UserError(
                f"{where}: prompts_per_step, samples_per_prompt and max_new_tokens must be positive and response_tokens between 1 and max_new_tokens."
            )
        if stage.endswith("_rl") and spp < 2:
            raise UserError(
                f"{where}.samples_per_prompt: GRPO needs groups of 2 or more (8 is typical)."
            )
        shapes[stage] = StageShape(pps, spp, mnt, float(resp), float(prompt_tokens))
        lrs[stage] = st.learning_rate or lr
    datasets = doc.datasets or (
        DatasetsSpec(
            labeled="toy:train", prompts="toy:prompts", eval=[EvalSet(TOY_BENCHMARK, "toy:eval")]
        )
        if toy
        else None
    )
    if datasets is None:
        raise UserError(
            f"{source}: datasets is missing; name the labeled pool and the eval sets, e.g. datasets: {{labeled: PATH, prompts: PATH, eval: [{{name: {benchmark}, path: PATH}}]}}."
        )
    if base_dir is not None:
        datasets = anchor_datasets(datasets, base_dir)
    prompt = doc.prompt or (PromptTemplate() if toy else PromptTemplate(BOXED_INSTRUCTION))
    template_problems = FieldProblems()
    check_prompt_template(prompt, "prompt", template_problems)
    if template_problems:
        raise ValidationError(source, template_problems)
    return Scenario(
        name=doc.name,
        world=world,
        source=source,
        student=student,
        teachers=teachers,
        labels=doc.labels,
        prompts=doc.prompts,
        benchmark=benchmark,
        risk=doc.objective.risk,
        hardware=hw,
        budget=float(budget),
        shapes=shapes,
        learning_rates=lrs,
        datasets=datasets,
        profile_path=str(base_dir / doc.profile) if doc.profile and base_dir else doc.profile,
        seed=doc.seed,
        zoo=str(zoo) if zoo else None,
        prompt=prompt,
    )


def _anchored(path: str, base_dir: Path) -> str:
    """A relative local path read from the scenario's folder; hub ids and toy: names as they are."""
    p = Path(path).expanduser()
    if path.startswith("toy:") or p.is_absolute():
        return path
    here = base_dir / p
    if not here.exists() and looks_like_hub_id(path):
        return path  # org/name, not a local folder: a hub dataset id
    return str(here.resolve())


def anchor_datasets(d: DatasetsSpec, base_dir: Path) -> DatasetsSpec:
    from dataclasses import replace

    def fix(ref: Any) -> Any:
        if ref is None:
            return None
        if isinstance(ref, str):
            path, sep, split = ref.partition("::")
            return _anchored(path, base_dir) + sep + split
        return replace(ref, path=_anchored(ref.path, base_dir))

    return DatasetsSpec(fix(d.labeled), fix(d.prompts), [fix(e) for e in d.eval])
