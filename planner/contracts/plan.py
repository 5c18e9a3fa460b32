"""The plan: what ``s2d run`` executes and ``s2d plan`` emits (schema version 1).

A plan names the student, the teacher (or none, for the direct-GRPO baseline),
the data, how the labeled pool is split between stage 1 and stage 3, and an
ordered list of stages. Only ``grpo`` stages (and ``opd`` with a task reward)
consume labels; ``forward_kl`` and ``opd`` read prompts without answers. The
planner's prediction (accuracy and compute after each stage) rides along so
the UI can put predicted beside measured.

Loading validates everything at once and refuses an invalid plan with a
:class:`~planner.contracts.errors.ValidationError` naming each field and its fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from planner.contracts.data import (
    DataRef,
    EvalSet,
    PromptTemplate,
    as_ref,
    check_field_map,
    check_prompt_template,
    ref_plain,
)
from planner.contracts.errors import FieldProblem, ValidationError, excerpt
from planner.contracts.files import atomic_write_text, load_yaml_text, read_text
from planner.contracts.kinds import KINDS, kind_of
from planner.contracts.kinds.evaluate import EvalOptions
from planner.contracts.kinds.forward_kl import ForwardKLOptions
from planner.contracts.kinds.grpo import GRPOOptions
from planner.contracts.kinds.opd import OPDOptions
from planner.contracts.schema import (
    BATCH_MAX,
    COUNT_MAX,
    DEVICES_MAX,
    NAME_RULE,
    SAMPLES_MAX,
    SEED,
    STEPS_MAX,
    TOKENS_MAX,
    FieldProblems,
    build,
    rule,
    to_plain,
)
from planner.contracts.trl_block import check_trl_block

SCHEMA_VERSION = 1

StageKindName = Literal["grpo", "forward_kl", "opd", "eval"]
ModelRole = Literal["student", "teacher"]
# What a stage reads: one of the two label allocations, or the unlabeled prompt pool.
DataSource = Literal["labels.stage1", "labels.stage3", "prompts"]
LABEL_SOURCES = {"labels.stage1": "stage1", "labels.stage3": "stage3"}

_WHOLE = "use a whole number of 1 or more"
_COUNT = rule(ge=0, cap=COUNT_MAX)
_STAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class ModelRef:
    """A model by name and location: a local directory, a hub id, or ``toy:<size>``."""

    name: str
    path: str


@dataclass
class Datasets:
    """Where problems come from (planner.contracts.data: paths, hub ids, formats, field maps).
    ``toy:`` paths resolve inside the built toy zoo."""

    labeled: str | DataRef  # the labeled pool: problems with verifiable answers
    eval: list[EvalSet] = field(default_factory=list)
    # Unlabeled prompts for the bridge. None: the part of the labeled pool that
    # no stage is allocated, with its answers dropped.
    prompts: str | DataRef | None = None

    def refs(self) -> list[tuple[str, DataRef]]:
        """Every reference with the plan field that names it (labeled, prompts, eval:NAME)."""
        out = [("labeled", as_ref(self.labeled))]
        if self.prompts is not None:
            out.append(("prompts", as_ref(self.prompts)))
        return out + [(f"eval:{e.name}", e.ref) for e in self.eval]


@dataclass
class LabelSplit:
    """How the labeled pool is spent: stage 1 (teacher RL) and stage 3 (held out)."""

    pool: int = field(metadata=_COUNT)  # labeled problems available
    stage1: int = field(metadata=_COUNT)
    stage3: int = field(default=0, metadata=_COUNT)
    # unlabeled prompts to draw for stages 2a/2b (0: none needed)
    prompts: int = field(default=0, metadata=_COUNT)
    seed: int = field(default=0, metadata=SEED)


@dataclass
class Budget:
    steps: int = field(metadata=rule(gt=0, hint=_WHOLE, cap=STEPS_MAX))
    prompts_per_step: int = field(metadata=rule(gt=0, hint=_WHOLE, cap=BATCH_MAX))
    samples_per_prompt: int = field(default=1, metadata=rule(gt=0, hint=_WHOLE, cap=SAMPLES_MAX))
    max_new_tokens: int = field(default=256, metadata=rule(gt=0, hint=_WHOLE, cap=TOKENS_MAX))


# transformers' SchedulerType values (importing it costs torch; a test keeps the two equal).
LRScheduler = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
    "greedy",
]


@dataclass
class Optim:
    learning_rate: float = field(
        default=1e-6, metadata=rule(gt=0, hint="1e-6 is typical for RL at scale")
    )
    weight_decay: float = field(default=0.0, metadata=rule(ge=0))
    warmup_ratio: float = field(default=0.0, metadata=rule(ge=0, le=1))
    max_grad_norm: float = field(default=1.0, metadata=rule(ge=0, hint="0 turns clipping off"))
    lr_scheduler: LRScheduler = "constant"
    gradient_accumulation_steps: int = field(
        default=1, metadata=rule(gt=0, hint=_WHOLE, cap=BATCH_MAX)
    )


StageOptions = GRPOOptions | ForwardKLOptions | OPDOptions | EvalOptions
OptionsT = TypeVar("OptionsT", GRPOOptions, ForwardKLOptions, OPDOptions, EvalOptions)


@dataclass
class Stage:
    id: str
    kind: StageKindName
    model: ModelRole = "student"
    data: DataSource | None = None
    budget: Budget | None = None
    optim: Optim = field(default_factory=Optim)
    options: StageOptions = None  # type: ignore[assignment]  # KINDS[kind].options, set on load
    # TRL settings the plan has no field for, merged into the stage's TRL config
    # (planner.contracts.trl_block); names the plan's own fields set are refused.
    trl: dict[str, Any] = field(default_factory=dict)

    def options_as(self, cls: type[OptionsT]) -> OptionsT:
        """The stage's options as its kind's class (a TypeError for any other)."""
        if not isinstance(self.options, cls):
            raise TypeError(f"stage {self.id} ({self.kind}) has {type(self.options).__name__}")
        return self.options

    @property
    def label_source(self) -> str | None:
        """``stage1``/``stage3`` when this stage reads labels, else None."""
        return LABEL_SOURCES.get(self.data or "")

    @property
    def trains(self) -> bool:
        return kind_of(self).trains

    @property
    def distils(self) -> bool:
        """Forward KL and OPD learn from the teacher's distribution (they need its model)."""
        return kind_of(self).reads_teacher


@dataclass
class StagePrediction:
    accuracy: float  # 0..1, after this stage
    low: float
    high: float
    compute: float = 0.0  # in Prediction.compute_unit
    # The least memory one device needs for the stage (planner/simulator/memory.py), and
    # how: "none" when every device can hold the whole of it, "full" when it fits only with
    # parameters, gradients and optimizer state sharded over every device (FSDP or ZeRO-3:
    # run it under such a launcher config, e.g. examples/accelerate/fsdp_8gpu.yaml).
    memory_gib: float = field(default=0.0, metadata=rule(ge=0))
    sharding: Literal["none", "full"] = "none"


@dataclass
class Prediction:
    compute_unit: Literal["gpu_hours", "cpu_seconds"] = "gpu_hours"
    stages: dict[str, StagePrediction] = field(default_factory=dict)
    labels_used: int = 0
    total_compute: float = 0.0
    final_accuracy: float = 0.0
    benchmark: str = ""
    source: str = ""  # which calibration profile produced it


@dataclass
class Rollout:
    """How every generation runs: TRL's in the RL stages, teacher rollouts and every eval.

    ``engine: vllm`` generates with vLLM everywhere: TRL's ``use_vllm`` in grpo and opd (in
    ``vllm_mode``), vLLM's offline engine for teacher rollouts and evals. Both take
    ``gpu_memory_utilization`` and ``tensor_parallel_size`` (TRL's ``vllm_gpu_memory_utilization``
    and ``vllm_tensor_parallel_size``); ``max_model_len`` caps the offline engine's context
    (0: the model's own).

    The transformers engine generates in calls of at most ``max_batch_sequences`` sequences
    and ``max_batch_tokens`` KV-cache slots (sequences x (longest prompt + max_new_tokens)).
    The defaults fit an 80 GB GPU at Qwen3-1.7B's shape with room to spare: a KV-cache token
    there is 28 layers x 8 KV heads x 128 dims x 2 (K and V) x 2 bytes = 112 KiB, so 262,144
    slots are 28 GiB beside about 4 GB of bf16 weights (Qwen3-8B as the teacher: 144 KiB a
    token, 36 GiB plus 16 GB). 256 sequences keep the per-step logits and the top-p sort
    over a 151,936-entry vocabulary small (256 x 151,936 x 4 bytes = 156 MB a copy). Lower
    both on a smaller GPU.
    """

    engine: Literal["transformers", "vllm"] = "transformers"
    vllm_mode: Literal["colocate", "server"] = "colocate"
    max_batch_sequences: int = field(
        default=256, metadata=rule(gt=0, hint="sequences in one generate call", cap=BATCH_MAX)
    )
    max_batch_tokens: int = field(
        default=262_144,
        metadata=rule(
            gt=0,
            hint="KV-cache slots of one generate call: sequences x (prompt + max_new_tokens)",
            cap=10**10,
        ),
    )
    # TRL's default for colocate mode, where training shares the GPU with vLLM.
    gpu_memory_utilization: float = field(
        default=0.3, metadata=rule(gt=0, le=1, hint="the share of GPU memory vLLM may take")
    )
    tensor_parallel_size: int = field(
        default=1, metadata=rule(gt=0, hint="GPUs one vLLM engine spans", cap=DEVICES_MAX)
    )
    max_model_len: int = field(
        default=0, metadata=rule(ge=0, hint="0: the model's own context", cap=TOKENS_MAX)
    )


@dataclass
class VerifierOptions:
    """How the verifier grades an answer, everywhere it does: the GRPO reward, OPD's task
    reward and every eval (trainer.verifier).

    ``extraction`` says which ``\\boxed{}`` values are the answer: ``last_boxed``
    (the paper's protocol) keeps only the last one; ``all_boxed`` judges every
    boxed value of the final answer as one set, as math-verify and TRL's accuracy
    reward do. Under both, an answer without a ``\\boxed{}`` is unparseable.
    """

    extraction: Literal["last_boxed", "all_boxed"] = "last_boxed"


@dataclass
class Plan:
    name: str = field(metadata=NAME_RULE)
    student: ModelRef
    datasets: Datasets
    labels: LabelSplit
    stages: list[Stage]
    teacher: ModelRef | None = None
    evaluation: EvalOptions = field(default_factory=EvalOptions)
    eval_after_each_stage: bool = True
    rollout: Rollout = field(default_factory=Rollout)
    # How every stage and eval asks a problem (the instruction, a system message, thinking).
    prompt: PromptTemplate = field(default_factory=PromptTemplate)
    # The one dtype frozen models load in (teachers, evaluation) and trained models are saved
    # in, so that a trained teacher and a hub teacher are compared at the same precision.
    # auto: bf16 on a GPU that has it, fp32 otherwise. Training keeps fp32 master weights.
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    verifier: VerifierOptions = field(default_factory=VerifierOptions)
    seed: int = field(default=0, metadata=SEED)
    # The toy zoo ``toy:`` names resolve in (planner.scenario.zoo); emitted toy plans
    # record the one they were planned on. None: the default rule.
    toy_zoo: str | None = None
    prediction: Prediction | None = None
    schema_version: int = SCHEMA_VERSION

    def stage(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)

    @property
    def labels_used(self) -> int:
        """Labels that some stage actually reads (allocated but unread ones do not count)."""
        read = {s.label_source for s in self.stages if s.label_source}
        return sum(getattr(self.labels, src) for src in read)

    def with_prediction(self, prediction: Prediction) -> Plan:
        return replace(self, prediction=prediction)


# ---------------------------------------------------------------------------
# building and validation


def _build_stage(raw: Any, path: str, problems: FieldProblems) -> Stage:
    if not isinstance(raw, dict):
        problems.add(path, f"expected a mapping, got {type(raw).__name__}")
        return Stage(id="?", kind="eval")
    raw = dict(raw)
    options_raw = raw.pop("options", None)
    stage = build(Stage, raw, path, problems)
    kind = KINDS.get(stage.kind) if isinstance(stage.kind, str) else None
    if kind is not None:
        stage.options = build(kind.options, options_raw, f"{path}.options", problems)
    return stage


def plan_from_dict(data: Any, source: str = "plan") -> Plan:
    """Build and validate a plan; raise ValidationError listing every problem."""
    problems = FieldProblems()
    if not isinstance(data, dict):
        raise ValidationError(
            source,
            [
                FieldProblem(
                    "",
                    f"expected a mapping at the top level, got {type(data).__name__}",
                    "a plan is a YAML mapping with name, student, datasets, labels and stages",
                )
            ],
        )
    data = dict(data)
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        problems.add(
            "schema_version",
            f"unsupported version {excerpt(version)}",
            f"this sparse2dense reads version {SCHEMA_VERSION}",
        )
        raise ValidationError(source, problems)
    stages_raw = data.pop("stages", None)
    plan = build(Plan, {**data, "stages": []}, "", problems)
    if not isinstance(stages_raw, list) or not stages_raw:
        problems.add(
            "stages",
            "a plan needs a non-empty list of stages",
            f"add at least one stage (kind: {', '.join(KINDS)})",
        )
        stages_raw = []
    plan.stages = [_build_stage(s, f"stages[{i}]", problems) for i, s in enumerate(stages_raw)]
    if problems.types_hold:
        problems.extend(check_plan(plan))
    if problems:
        raise ValidationError(source, problems)
    return plan


def check_plan(plan: Plan) -> list[FieldProblem]:
    """Cross-field rules. Assumes each field already has the right type."""
    p = FieldProblems()
    lab = plan.labels
    if lab.stage1 + lab.stage3 > lab.pool:
        p.add(
            "labels",
            f"stage1 ({lab.stage1}) + stage3 ({lab.stage3}) = {lab.stage1 + lab.stage3} labels, beyond the pool of {lab.pool}",
            "lower stage1 or stage3, or raise pool if you have more labeled problems",
        )
    eval_names = [e.name for e in plan.datasets.eval]
    if len(set(eval_names)) != len(eval_names):
        p.add("datasets.eval", "eval set names repeat", "give each eval set its own name")
    check_prompt_template(plan.prompt, "prompt", p)
    _check_batch_budget(plan, p)
    d = plan.datasets
    for at, ref in (("labeled", d.labeled), ("prompts", d.prompts), *enumerate(d.eval)):
        if ref is not None and not isinstance(ref, str):
            where = f"datasets.eval[{at}]" if isinstance(at, int) else f"datasets.{at}"
            check_field_map(ref.fields, where, p)

    seen: dict[str, int] = {}
    for i, s in enumerate(plan.stages):
        at = f"stages[{i}]"
        check_trl_block(s.trl, s.kind, f"{at}.trl", p)
        if not _STAGE_ID.match(s.id or ""):
            p.add(
                f"{at}.id",
                f"invalid stage id {excerpt(s.id)}",
                "use letters, digits, '_', '-' or '.', starting with a letter or digit",
            )
        if s.id in seen:
            p.add(
                f"{at}.id",
                f"duplicate stage id {excerpt(s.id)} (also stages[{seen[s.id]}])",
                "give every stage a unique id",
            )
        seen.setdefault(s.id, i)
        _check_stage(plan, s, at, p)
    return p


def _check_batch_budget(plan: Plan, p: FieldProblems) -> None:
    """The transformers engine's call budget holds one sequence of the longest completion it
    generates (the evals and the warmup's teacher rollouts), prompt aside."""
    if plan.rollout.engine != "transformers":
        return
    lengths = [plan.evaluation.max_new_tokens]
    for s in plan.stages:
        if isinstance(s.options, EvalOptions):
            lengths.append(s.options.max_new_tokens)
        elif s.kind == "forward_kl" and s.budget is not None:
            lengths.append(s.budget.max_new_tokens)
    longest = max(lengths)
    if plan.rollout.max_batch_tokens < longest:
        p.add(
            "rollout.max_batch_tokens",
            f"{plan.rollout.max_batch_tokens} KV-cache slots hold no sequence of {longest} new tokens",
            f"raise it to at least {longest} plus the prompt (the default is 262144)",
        )


def _check_stage(plan: Plan, s: Stage, at: str, p: FieldProblems) -> None:
    """The rules every stage shares; each kind adds its own (planner.contracts.kinds)."""
    kind = kind_of(s)
    if s.model == "teacher" and plan.teacher is None:
        p.add(
            f"{at}.model",
            "trains the teacher, but the plan has no teacher",
            "add a top-level teacher, or set model: student",
        )
    if kind.reads_teacher:
        if plan.teacher is None:
            p.add(
                f"{at}.kind",
                f"{s.kind} distils from a teacher, but the plan has no teacher",
                "add a top-level teacher or remove this stage",
            )
        if s.model != "student":
            p.add(
                f"{at}.model", f"{s.kind} trains the student from the teacher", "set model: student"
            )
    if kind.trains:
        _check_training_stage(plan, s, at, p)
    kind.check(plan, s, at, p)


def _check_training_stage(plan: Plan, s: Stage, at: str, p: FieldProblems) -> None:
    if s.budget is None:
        p.add(
            f"{at}.budget",
            "a training stage needs a budget",
            "add budget: {steps, prompts_per_step, samples_per_prompt, max_new_tokens}",
        )
    if s.data is None:
        p.add(f"{at}.data", f"{s.kind} needs data", "use labels.stage1, labels.stage3 or prompts")
        return
    src = s.label_source
    if src is not None and getattr(plan.labels, src) <= 0:
        p.add(
            f"{at}.data",
            f"reads {s.data}, but labels.{src} allocates no labels",
            f"allocate labels.{src} > 0 or read other data",
        )
    elif (
        src is not None
        and s.budget is not None
        and getattr(plan.labels, src) < s.budget.prompts_per_step
    ):
        # TRL's sampler draws prompts_per_step distinct problems a step: with fewer, no step.
        p.add(
            f"{at}.budget.prompts_per_step",
            f"a step draws {s.budget.prompts_per_step} distinct problems, but labels.{src} "
            f"allocates {getattr(plan.labels, src)}: the stage could not take a single step",
            f"allocate labels.{src} >= {s.budget.prompts_per_step} or lower prompts_per_step",
        )
    if (
        s.kind == "opd"
        and s.data == "prompts"
        and s.budget is not None
        and 0 < plan.labels.prompts < s.budget.prompts_per_step
    ):
        # OPD samples with TRL's RepeatSampler too: a step draws prompts_per_step prompts.
        p.add(
            f"{at}.budget.prompts_per_step",
            f"a step draws {s.budget.prompts_per_step} distinct prompts, but labels.prompts "
            f"draws {plan.labels.prompts}: the stage could not take a single step",
            f"set labels.prompts >= {s.budget.prompts_per_step} or lower prompts_per_step",
        )
    if s.data == "prompts" and plan.labels.prompts <= 0 and plan.datasets.prompts is None:
        p.add(
            f"{at}.data",
            "reads prompts, but labels.prompts is 0",
            "set labels.prompts to the number of unlabeled prompts to draw",
        )


# ---------------------------------------------------------------------------
# YAML


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    out = to_plain(plan)
    out["schema_version"] = SCHEMA_VERSION
    for optional in ("prediction", "toy_zoo"):
        if out[optional] is None:
            out.pop(optional)
    if plan.prompt.is_default:
        out.pop("prompt")
    else:
        out["prompt"] = {k: v for k, v in out["prompt"].items() if v is not None}
    d = plan.datasets
    out["datasets"] = {
        "labeled": ref_plain(d.labeled),
        "eval": [ref_plain(e) for e in d.eval],
        "prompts": ref_plain(d.prompts) if d.prompts is not None else None,
    }
    for stage in out["stages"]:
        if not stage.get("trl"):
            stage.pop("trl", None)  # so plans without one read as they always did
    # schema_version first, for humans
    return {"schema_version": out.pop("schema_version"), **out}


def dump_plan(plan: Plan) -> str:
    return yaml.safe_dump(plan_to_dict(plan), sort_keys=False, width=100)


def loads_plan(text: str, source: str = "plan") -> Plan:
    return plan_from_dict(load_yaml_text(text, source), source)


def load_plan(path: str | os.PathLike[str]) -> Plan:
    path = Path(path)
    return loads_plan(read_text(path, "plan"), str(path))


def save_plan(plan: Plan, path: str | os.PathLike[str]) -> Path:
    return atomic_write_text(Path(path), dump_plan(plan))
