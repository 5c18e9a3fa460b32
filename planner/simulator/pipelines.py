"""A pipeline as the second response model reads it: stages as rows, counted, then points.

A *record* (planner/calibrate/records.py) is a run: its models, label split
and from-scratch pipeline, one row per stage (``stage_row``). ``allocation``
counts a pipeline up to a stage the way planner/simulator/plans.py's
``plan_inputs`` counts a plan; ``features`` turns (record, stage) pairs into
the :class:`~planner.simulator.response_v2.Points` the model predicts. The
measured-runs fit, its validation and ``s2d simulate`` on a plan all go
through here, so a plan is read exactly as the runs the model was fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from planner.contracts.kinds import kind_of
from planner.simulator import response_v2 as M

OUTPUT = {"teacher_rl": 0, "warmup": 1, "opd": 1, "student_rl": 2}
SLOPE = {"aime24": 1, "aime25": 2}


def stage_row(stage: Any, own: bool) -> dict[str, Any]:
    """A plan stage as a record's row: kind, role, data, budget; ``own`` where the run trains it."""
    b = stage.budget
    row: dict[str, Any] = {
        "id": stage.id,
        "kind": stage.kind,
        "role": kind_of(stage).role(stage),
        "model": stage.model,
        "data": stage.data,
        "own": own,
    }
    if b is not None:
        row.update(
            steps=b.steps,
            prompts_per_step=b.prompts_per_step,
            samples_per_prompt=b.samples_per_prompt,
            max_new_tokens=b.max_new_tokens,
            learning_rate=stage.optim.learning_rate,
            replay=bool(getattr(stage.options, "replay", False)),
        )
    return row


def allocation(rec: dict[str, Any], upto: str) -> dict[str, float]:
    """The pipeline up to and including stage ``upto``, counted as the response model reads a plan.

    The counting rules are planner/simulator/plans.py's ``plan_inputs``: RL visits are
    steps x prompts per step, bridge samples steps x prompts x samples; a student GRPO
    stage that re-reads stage-1 labels behind a bridge (or says ``replay``) is the
    replay control. ``group1``/``group3`` are the RL stages' samples per prompt.
    """
    ids = [s["id"] for s in rec["stages"]]
    stages = rec["stages"][: ids.index(upto) + 1]
    lab = rec["labels"]
    has_teacher = rec["teacher"] is not None
    out = dict.fromkeys(
        ("visits1", "warmup_samples", "opd_samples", "visits3", "labels3", "replay_labels"), 0.0
    )
    out.update(group1=8.0, group3=8.0, labels1=0.0, prompts=float(lab.get("prompts", 0)))
    for s in stages:
        role = s["role"]
        if "steps" not in s:
            continue  # an eval stage: no budget, nothing trained
        if role == "teacher_rl":
            out["visits1"] += s["steps"] * s["prompts_per_step"]
            out["group1"] = float(s["samples_per_prompt"])
        elif role in ("warmup", "opd"):
            key = "warmup_samples" if role == "warmup" else "opd_samples"
            out[key] += s["steps"] * s["prompts_per_step"] * s["samples_per_prompt"]
        elif role == "student_rl":
            out["visits3"] += s["steps"] * s["prompts_per_step"]
            out["group3"] = float(s["samples_per_prompt"])
            bridged = out["warmup_samples"] + out["opd_samples"] > 0
            source = (s["data"] or "").removeprefix("labels.")
            if s.get("replay") or (has_teacher and bridged and source == "stage1"):
                out["replay_labels"] = float(lab["stage1"])
            elif source in ("stage1", "stage3"):
                out["labels3"] += float(lab[source])
    if out["visits1"]:
        out["labels1"] = float(lab["stage1"])
    if out["replay_labels"]:
        out["labels3"] = 0.0  # a pipeline with a replay stage is the replay control (plan_inputs)
    return out


def reference_accuracy(model: dict[str, Any] | None, world: str) -> float:
    """Accuracy before training on the world's reference benchmark (the run's own eval where known)."""
    if model is None:
        return 0.5
    if "base_eval" in model:
        return float(model["base_eval"])
    return float(model.get("by_benchmark", {}).get(M.REFERENCE[world], model["accuracy"]))


def greedy_accuracy(model: dict[str, Any] | None) -> float:
    g = model.get("greedy") if model else None
    return float(g) if g is not None else float("nan")


def features(rows: Sequence[tuple[dict[str, Any], str]], shifted: Sequence[str] = ()) -> M.Points:
    """The model's inputs for (record, stage) pairs; ``shifted``: models with a fitted base shift."""
    cols: dict[str, list[Any]] = {f: [] for f in M.Points.__dataclass_fields__}

    def shift(m: dict[str, Any] | None, bench: str | None = None) -> int:
        if m is None or m.get("base") != "derived":
            return -1  # a measured base is read as it is
        key = m["name"]
        if bench is not None and bench != M.REFERENCE[world]:
            key = f"{key}@{bench}"
        return list(shifted).index(key) if key in shifted else -1

    for rec, stage in rows:
        world = rec["world"]
        s, t = rec["student"], rec["teacher"]
        a = allocation(rec, stage)
        role = next(x["role"] for x in rec["stages"] if x["id"] == stage)
        vals = {
            "world": M.WORLDS.index(world),
            "slope": SLOPE.get(rec["benchmark"], 0),
            "output": OUTPUT[role],
            "base_ref_s": reference_accuracy(s, world),
            "base_b_s": float(s.get("base_eval", s["accuracy"])),
            "greedy_s": greedy_accuracy(s),
            "n_s": float(s["params"]),
            "has_t": t is not None,
            "base_ref_t": reference_accuracy(t, world),
            "base_b_t": float(t["accuracy"]) if t else 0.5,
            "greedy_t": greedy_accuracy(t),
            "n_t": float(t["params"]) if t else float(s["params"]),
            "labels1": a["labels1"],
            "visits1": a["visits1"],
            "group1": a["group1"],
            "warmup": a["warmup_samples"],
            "opd": a["opd_samples"],
            "prompts": max(a["prompts"], 1.0),
            "labels3": a["labels3"] or a["replay_labels"],
            "visits3": a["visits3"],
            "group3": a["group3"],
            "replay": a["replay_labels"] > 0,
            "shift_s": shift(s),
            "shift_t": shift(t),
            "shift_bs": shift(s, rec["benchmark"]),
            "shift_bt": shift(t, rec["benchmark"]),
        }
        for k, v in vals.items():
            cols[k].append(v)
    return M.Points(**{k: np.asarray(v) for k, v in cols.items()})
