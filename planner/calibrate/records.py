"""Measured runs as compact records: the dataset the response model is fitted and validated on.

One record per run, one JSON object per line of planner/data/measured_runs.jsonl
(``examples/measured_runs/generate.py`` grows it). A record keeps what a fit
needs and nothing heavy:

``setting``
    what the run belongs to: ``toy/<student>-<teacher>/L<labels>/seed<seed>``
    for the toy comparisons (``toy/<student>/L<labels>/seed<seed>`` for direct
    GRPO, which reads no teacher and serves every pair of its student; a
    comparison added by hand names its own, e.g. ``toy/s-m/demo/seed0``),
    ``paper`` for PAPER.md's figures;
``arm``
    which run of the comparison (planner/calibrate/arms.py: ``workflow``,
    ``direct``, ``raw_bridge``, ``replay``, ``opd_only``), or the paper
    figure's key;
``student`` / ``teacher``
    name, parameter count and accuracy before training on the benchmark
    (sampled, and greedy where known, from the zoo's build); the student's
    ``base_eval`` is its accuracy measured by the comparison's own runs on the
    problems every stage is scored on; the teacher is null without one;
``labels``
    the label split (stage1, stage3, the prompt pool);
``stages``
    the pipeline from scratch (a run that starts from another run's checkpoint
    is written as the pipeline that produced it, planner/simulator/lineage.py),
    each stage's kind, role, data and budget, ``own`` where this run trained it;
``measured``
    accuracy after each stage this run evaluated (``base``: before training),
    with n problems x k samples;
``spent``
    what each of the run's own stages spent (CPU-seconds, wall seconds, GPU-hours).

PAPER.md's figures are records of the same form (``paper_records``): the
reference allocation of planner/simulator/paper.py written as stages, the
reported accuracy after the stage it describes, n x k of MATH-500 avg@16.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from planner.contracts.errors import UserError
from planner.contracts.files import atomic_write_text, read_text
from planner.contracts.plan import ModelRef, load_plan
from planner.contracts.rundir import RunDir
from planner.contracts.runlog import Spend, read_events
from planner.scenario.zoo import ZOO_FILE, resolve_zoo
from planner.simulator.lineage import from_scratch
from planner.simulator.pipelines import allocation, stage_row

DATASET = Path(__file__).parent.parent / "data" / "measured_runs.jsonl"
# Runs on a toy zoo rebuilt on another CPU kind (the same build config trained other
# models): kept out of DATASET, which is one zoo's, and scored as a transfer check.
REBUILT_ZOO = DATASET.parent / "rebuilt_zoo_runs.jsonl"
# The planners' own toy plans run on the dataset's zoo: the plans a fit chose, so
# not a grid the fit was built around; kept out of DATASET and scored as a transfer check.
PLANNER_PLANS = DATASET.parent / "planner_plan_runs.jsonl"
REQUIRED = ("setting", "arm", "world", "benchmark", "student", "labels", "stages", "measured")


def load_records(path: Path = DATASET) -> list[dict[str, Any]]:
    """Every record of a dataset file; a line that is not a record is named with its number."""
    out = []
    for no, line in enumerate(read_text(path, "measured-runs dataset").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{no}: not JSON ({e.msg}); fix or remove the line.") from None
        missing = [k for k in REQUIRED if not isinstance(rec, dict) or k not in rec]
        if missing:
            raise UserError(
                f"{path}:{no}: a record needs {', '.join(missing)}; regenerate it with examples/measured_runs/generate.py."
            )
        out.append(rec)
    return out


def record_key(rec: dict[str, Any]) -> tuple[str, str, str]:
    return rec["setting"], rec["arm"], rec["benchmark"]


def add_records(path: Path, new: list[dict[str, Any]]) -> None:
    """Add records (replacing any of the same key), sorted, written atomically."""
    have = load_records(path) if path.is_file() else []
    keys = {record_key(r) for r in new}
    merged = [r for r in have if record_key(r) not in keys] + new
    merged.sort(key=record_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in merged))


def _model(ref: Any, zoo: dict[str, Any]) -> dict[str, Any] | None:
    if ref is None:
        return None
    size = ref.path.removeprefix("toy:")
    if size not in zoo["models"]:
        raise UserError(
            f"model {ref.path} is not a toy zoo model ({', '.join(sorted(zoo['models']))}); records are made of toy runs."
        )
    facts = zoo["models"][size]
    return {
        "name": ref.path,
        "params": facts["params"],
        "accuracy": round(facts["sampled_accuracy"], 4),
        "greedy": round(facts["greedy_accuracy"], 4),
    }


def zoo_models(zoo_root: Path | None = None) -> list[dict[str, Any]]:
    """Every model of a toy zoo as a record describes it (name, size, the zoo's figures)."""
    zoo = json.loads((resolve_zoo(zoo_root) / ZOO_FILE).read_text())
    out = []
    for size in sorted(zoo["models"]):
        facts = _model(ModelRef(name=size, path=f"toy:{size}"), zoo)
        assert facts is not None
        out.append(facts)
    return out


def other_zoo_models(models: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    """The toy models whose zoo figures differ from the same-named models of ``records``.

    The same build config trains other models on another CPU kind: runs of such a zoo
    are not the dataset's models, whatever their names say.
    """
    seen: dict[str, dict[str, Any]] = {}
    for r in records:
        for role in ("student", "teacher"):
            if r["world"] == "toy" and r.get(role):
                seen.setdefault(r[role]["name"], r[role])
    out = []
    for m in models:
        have = seen.get(m["name"])
        if have and (have["accuracy"], have["greedy"]) != (m["accuracy"], m["greedy"]):
            out.append(
                f"{m['name']} sampled / greedy {100 * m['accuracy']:.1f} / {100 * m['greedy']:.1f}%, "
                f"the dataset's {100 * have['accuracy']:.1f} / {100 * have['greedy']:.1f}%"
            )
    return sorted(set(out))


# The build config (``zoo.json`` key) and seed of the zoo the dataset's runs were made on.
DATASET_ZOO = ("e47634649d74eccb", 0)


def zoo_notice(zoo_root: Path, records: list[dict[str, Any]] | None = None) -> str | None:
    """A warning when the zoo at ``zoo_root`` is not the one the packaged dataset was made on.

    The shipped toy profiles were fitted (``toy_measured``, ``v2``) or scaled (``toy``) on
    runs of one zoo build; in another zoo the same names are other models, and the
    predictions miss by more than their band (the rebuilt zoo's runs, REBUILT_ZOO).
    """
    try:
        zoo = json.loads((resolve_zoo(zoo_root) / ZOO_FILE).read_text())
        models = zoo_models(zoo_root)
    except (OSError, ValueError, KeyError, UserError):
        return None  # not a readable zoo: whoever reads it next says why
    key, seed = DATASET_ZOO
    if (zoo.get("key"), zoo.get("seed")) != (key, seed):
        what = (
            f"was built from another config than the packaged measured runs' zoo (key "
            f"{zoo.get('key')}, seed {zoo.get('seed')}; theirs {key}, seed {seed}, the "
            "default preset): its models are not theirs"
        )
    else:
        differ = other_zoo_models(models, load_records() if records is None else records)
        if not differ:
            return None
        what = (
            "is another build of the packaged measured runs' zoo config, and trained other "
            f"models ({'; '.join(differ)}): the same config trains other models on another "
            "CPU kind"
        )
    return (
        f"the toy zoo at {zoo_root} {what}. The shipped toy profiles were fitted or scaled on "
        "those runs, so the planner's predictions on this zoo can miss by more than their "
        "band (on one rebuilt zoo the bridge measured 4.5-11.4 points under them). Calibrate "
        "on this zoo's own runs before trusting them: `s2d pilot SCENARIO`, or `s2d "
        "calibrate RUN_DIR...`."
    )


def record_from_run(run_dir: Path, setting: str, zoo_root: Path | None = None) -> dict[str, Any]:
    """One toy run directory (plan.yaml, events.jsonl) as a record; model facts from its zoo."""
    rd = RunDir(run_dir)
    plan = load_plan(rd.plan)
    full = from_scratch(plan)
    own = {s.id for s in plan.stages}
    zoo_root = resolve_zoo(zoo_root or plan.toy_zoo)
    zoo = json.loads((zoo_root / ZOO_FILE).read_text())
    measured: dict[str, Any] = {}
    spent: dict[str, Any] = {}
    # a run that starts from another run's student evaluates that checkpoint as its "base"
    inherited = [s.id for s in full.stages if s.id not in own and s.model == "student"]
    base = inherited[-1] if inherited else "base"
    for e in read_events(rd.events):
        if e.kind == "eval" and e.get("benchmark") == "toy":
            measured[base if e["stage"] == "base" else e["stage"]] = {
                "accuracy": e["accuracy"],
                "greedy": e.get("greedy_accuracy"),
                "n": e["n"],
                "k": e["k"],
            }
        elif e.kind == "stage_end" and e.get("spent"):
            s = Spend.from_dict(e["spent"])
            spent[e["stage"]] = {
                "cpu_seconds": round(s.cpu_seconds, 1),
                "wall_seconds": round(s.wall_seconds, 1),
                "gpu_hours": s.gpu_hours,
            }
    lab = full.labels
    return {
        "setting": setting,
        "arm": Path(run_dir).name,
        "world": "toy",
        "benchmark": "toy",
        "seed": plan.seed,
        "student": _model(full.student, zoo),
        "teacher": _model(full.teacher, zoo),
        "labels": {
            "pool": lab.pool,
            "stage1": lab.stage1,
            "stage3": lab.stage3,
            "prompts": lab.prompts,
        },
        "eval": {
            "k": plan.evaluation.k,
            "temperature": plan.evaluation.temperature,
            "max_problems": plan.evaluation.max_problems,
        },
        "stages": [stage_row(s, s.id in own) for s in full.stages],
        "measured": measured,
        "spent": spent,
    }


def finished_runs(root: Path, names: list[str] | None = None) -> list[Path]:
    """The run directories of a comparison (those with a plan and a log), optionally only ``names``."""
    from planner.calibrate.crossval import run_dirs

    return run_dirs(root, names)


def share_base_eval(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every record of a comparison its student's measured base accuracy (``base_eval``).

    The untrained student is evaluated by the runs that start from it (the workflow,
    direct GRPO, the raw bridge) on the very problems every stage is scored on; a
    run that starts from a checkpoint has no such eval, and the zoo's figure was
    measured on other problems. The mean over the runs that have one serves all.
    """
    seen = [r["measured"]["base"]["accuracy"] for r in recs if "base" in r["measured"]]
    if seen:
        for r in recs:
            r["student"]["base_eval"] = round(sum(seen) / len(seen), 5)
    return recs


def records_from_comparison(
    root: Path, setting: str, zoo_root: Path | None = None
) -> list[dict[str, Any]]:
    """A record for every finished run of a comparison directory (planner/calibrate/crossval.py)."""
    return share_base_eval([record_from_run(d, setting, zoo_root) for d in finished_runs(root)])


# ---------------------------------------------------------------------------
# PAPER.md's figures as records


def _paper_stage(
    sid: str, kind: str, model: str, data: str, steps: int, prompts: int, samples: int
) -> dict[str, Any]:
    role = {"grpo": "teacher_rl" if model == "teacher" else "student_rl"}.get(kind, sid)
    return {
        "id": sid,
        "kind": kind,
        "role": role,
        "model": model,
        "data": data,
        "own": True,
        "steps": steps,
        "prompts_per_step": prompts,
        "samples_per_prompt": samples,
        "max_new_tokens": 8192,
        "learning_rate": 1e-6,
        "replay": False,
    }


def paper_records() -> list[dict[str, Any]]:
    """PAPER.md's figures, each as the run it reports, in the reference allocation of planner/simulator/paper.py.

    GRPO 100 steps x 512 prompts x 8 rollouts over the 14,000 labels (the stage-3
    setting: half the labels and half the steps in each RL stage), the warmup on
    14,000 teacher rollouts (250 steps x 56), OPD 200 steps x 256. The 8B and 14B
    base accuracies are not measured figures (planner/profiles/models.yaml derives
    them), so their records say ``"base": "derived"``.
    """
    from planner.scenario.models import shipped_models
    from planner.simulator import paper as P

    models = shipped_models()

    def model(name: str, bench: str) -> dict[str, Any]:
        m = models[name]
        return {
            "name": name,
            "params": m.params,
            "accuracy": m.base_accuracy[bench],
            "greedy": None,
            "base": "measured" if name == "qwen3-1.7b" else "derived",
            "by_benchmark": dict(m.base_accuracy),
        }

    grpo_steps, grpo_prompts = 100, P.GRPO_VISITS // 100
    half = grpo_steps // 2
    t_rl = _paper_stage(
        "teacher_rl", "grpo", "teacher", "labels.stage1", grpo_steps, grpo_prompts, 8
    )
    t_half = {**t_rl, "steps": half}
    warm = _paper_stage(
        "warmup", "forward_kl", "student", "prompts", 250, P.WARMUP_SAMPLES // 250, 1
    )
    opd = _paper_stage("opd", "opd", "student", "prompts", 200, P.OPD_SAMPLES // 200, 1)
    s_rl = _paper_stage(
        "student_rl", "grpo", "student", "labels.stage1", grpo_steps, grpo_prompts, 8
    )
    s3 = {**s_rl, "data": "labels.stage3", "steps": half}
    replay = {**s3, "data": "labels.stage1", "replay": True}
    pool, halfpool, prompts = P.POOL, P.POOL // 2, P.WARMUP_SAMPLES
    runs = [
        # (arm, benchmark, student, teacher, labels (stage1, stage3), stages, {stage: accuracy})
        ("cold_grpo", "math", "qwen3-1.7b", None, (pool, 0), [s_rl], {"student_rl": 0.759}),
        ("cold_grpo", "aime24", "qwen3-1.7b", None, (pool, 0), [s_rl], {"student_rl": 0.198}),
        ("cold_grpo", "aime25", "qwen3-1.7b", None, (pool, 0), [s_rl], {"student_rl": 0.171}),
        ("bridge", "math", "qwen3-1.7b", "qwen3-8b", (pool, 0), [t_rl, warm, opd], {"opd": 0.793}),
        (
            "raw_teacher_bridge",
            "math",
            "qwen3-1.7b",
            "qwen3-8b",
            (0, 0),
            [warm, opd],
            {"opd": 0.715},
        ),
        ("no_warmup", "math", "qwen3-1.7b", "qwen3-8b", (pool, 0), [t_rl, opd], {"opd": 0.776}),
        ("no_opd", "math", "qwen3-1.7b", "qwen3-8b", (pool, 0), [t_rl, warm], {"warmup": 0.760}),
        (
            "stage3",
            "math",
            "qwen3-1.7b",
            "qwen3-8b",
            (halfpool, halfpool),
            [t_half, warm, opd, s3],
            {"opd": 0.754, "student_rl": 0.785},
        ),
        (
            "stage3_replay",
            "math",
            "qwen3-1.7b",
            "qwen3-8b",
            (halfpool, 0),
            [t_half, warm, opd, replay],
            {"student_rl": 0.757},
        ),
    ]
    for size in ("8b", "14b"):
        for bench, acc in zip(
            ("math", "aime24", "aime25"),
            {"8b": (0.884, 0.477, 0.367), "14b": (0.895, 0.471, 0.390)}[size],
            strict=True,
        ):
            runs.append(
                (
                    f"grpo_{size}",
                    bench,
                    f"qwen3-{size}",
                    None,
                    (pool, 0),
                    [s_rl],
                    {"student_rl": acc},
                )
            )
    out = []
    for arm, bench, student, teacher, (l1, l3), stages, measured in runs:
        n = 500 if bench == "math" else 30  # MATH-500; AIME has 30 problems a year
        out.append(
            {
                "setting": "paper",
                "arm": arm,
                "world": "paper",
                "benchmark": bench,
                "seed": None,
                "student": model(student, bench),
                "teacher": model(teacher, bench) if teacher else None,
                "labels": {"pool": pool, "stage1": l1, "stage3": l3, "prompts": prompts},
                "eval": {"k": 16, "temperature": 0.7, "max_problems": n},
                "stages": [dict(s) for s in stages],
                "measured": {
                    s: {"accuracy": a, "greedy": None, "n": n, "k": 16} for s, a in measured.items()
                },
                "spent": {},
            }
        )
    return out


# ---------------------------------------------------------------------------
# what a record's pipeline did, in the response model's terms


def pair_of(rec: dict[str, Any]) -> str:
    """``student-teacher`` of a toy setting (``student`` alone for direct GRPO's); ``paper`` for the paper."""
    return rec["setting"].split("/")[1] if rec["world"] == "toy" else rec["world"]


def points(rec: dict[str, Any]) -> list[str]:
    """The stages whose measured accuracy a response model predicts: the run's own, in order.

    A run that starts from another run's checkpoint measures that checkpoint again
    as its base; the origin's record already holds that point.
    """
    return [s["id"] for s in rec["stages"] if s["own"] and s["id"] in rec["measured"]]


def v1_inputs(rec: dict[str, Any], upto: str) -> Any:
    """The first response model's Inputs for a record's pipeline up to ``upto``."""
    import numpy as np

    from planner.simulator.response import Inputs

    a = allocation(rec, upto)
    s, t = rec["student"], rec["teacher"]
    one = lambda v: np.array([v])  # noqa: E731
    return Inputs(
        student_acc=one(s["accuracy"]),
        teacher_acc=one(t["accuracy"] if t else 0.0),
        has_teacher=one(t is not None),
        param_ratio=one((t["params"] if t else s["params"]) / s["params"]),
        labels1=one(a["labels1"]),
        visits1=one(a["visits1"]),
        warmup_samples=one(a["warmup_samples"]),
        opd_samples=one(a["opd_samples"]),
        labels3=one(a["labels3"]),
        visits3=one(a["visits3"]),
        replay_labels=one(a["replay_labels"]),
        interpolated=one(False),
    )
