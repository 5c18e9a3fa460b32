"""Turn one evaluated allocation into a runnable Plan carrying its prediction.

Stage ids and data follow the paper's workflow: ``teacher_rl`` (GRPO on the
teacher, stage-1 labels), ``warmup`` (forward KL on teacher rollouts),
``opd`` (on-policy distillation), ``student_rl`` (GRPO on the student,
held-out labels). Direct GRPO is one ``student_rl`` stage reading the stage-1
labels. The emitted plan is validated by ``plan_from_dict`` like any user plan.
Each stage carries the accuracy of the pipeline up to it: the warmup's is the
bridge without OPD (as ``s2d simulate`` predicts it), when the response
parameters are given, and the least memory a device needs for it with the
sharding that takes (planner/simulator/memory.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.contracts.data import ref_plain
from planner.contracts.plan import Plan, plan_from_dict
from planner.contracts.schema import to_plain
from planner.scenario.spec import Scenario
from planner.simulator.memory import GIB, stage_memories
from planner.simulator.population import NONE, Evaluated, Population, predict_population
from planner.simulator.response import ResponseParams
from planner.simulator.response_v2 import SecondParams

KIND = {"teacher_rl": "grpo", "warmup": "forward_kl", "opd": "opd", "student_rl": "grpo"}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


def warmup_only(
    sc: Scenario, pop: Population, params: ResponseParams | SecondParams
) -> tuple[np.ndarray, np.ndarray]:
    """The students' predicted accuracy (and sd) after the warmup, before OPD and stage 3.

    For every allocation of ``pop`` at once (one array each).
    """
    n = len(pop)
    out = predict_population(sc, params, pop, bridge_only=True)
    return np.broadcast_to(out.bridge, (n,)), np.broadcast_to(out.sd_bridge, (n,))


def plan_for(
    sc: Scenario,
    ev: Evaluated,
    i: int,
    profile_name: str,
    name: str | None = None,
    band_z: float = 1.645,
    params: ResponseParams | SecondParams | None = None,
    warmup: tuple[np.ndarray, np.ndarray] | None = None,
) -> Plan:
    """Allocation ``i`` of ``ev`` as a plan; ``warmup``: :func:`warmup_only` of ``ev.pop``, if at hand."""
    pop = ev.pop
    t = int(pop.teacher[i])
    teacher = sc.teachers[t] if t != NONE else None
    steps = {s: int(v[i]) for s, v in pop.steps.items()}
    bridged = teacher is not None and (steps["warmup"] + steps["opd"]) > 0
    direct = teacher is None
    labels1 = sc.labels if direct else int(pop.labels1[i])
    labels3 = 0 if direct else int(pop.labels3[i])
    z = band_z
    stages: list[dict[str, Any]] = []
    predictions: dict[str, Any] = {}
    memory = stage_memories(sc.student, teacher, sc.shapes, sc.hardware)

    def add(stage: str, model: str, data: str, acc: float, sd: float) -> None:
        shape = sc.shapes[stage]
        entry: dict[str, Any] = {
            "id": stage,
            "kind": KIND[stage],
            "model": model,
            "data": data,
            "budget": {
                "steps": steps[stage],
                "prompts_per_step": shape.prompts_per_step,
                "samples_per_prompt": shape.samples_per_prompt,
                "max_new_tokens": shape.max_new_tokens,
            },
            "optim": {"learning_rate": sc.learning_rates[stage]},
        }
        stages.append(entry)
        predictions[stage] = {
            "accuracy": float(acc),
            "low": float(max(acc - z * sd, 0.0)),
            "high": float(min(acc + z * sd, 1.0)),
            "compute": float(ev.stage_compute[stage][i]),
            "memory_gib": float(f"{memory[stage].needed / GIB:.4g}"),
            "sharding": memory[stage].sharding,
        }

    if teacher is not None and steps["teacher_rl"] > 0:
        add("teacher_rl", "teacher", "labels.stage1", ev.teacher_acc[i], ev.sd_teacher[i])
    warmup_acc, warmup_sd = ev.bridge_acc[i], ev.sd_bridge[i]
    if bridged and steps["warmup"] > 0 and steps["opd"] > 0 and params is not None:
        acc, sd = warmup if warmup is not None else warmup_only(sc, pop.row(i), params)
        j = i if warmup is not None else 0
        warmup_acc, warmup_sd = float(acc[j]), float(sd[j])
    if bridged and steps["warmup"] > 0:
        add("warmup", "student", "prompts", warmup_acc, warmup_sd)
    if bridged and steps["opd"] > 0:
        add("opd", "student", "prompts", ev.bridge_acc[i], ev.sd_bridge[i])
    if steps["student_rl"] > 0:
        add(
            "student_rl",
            "student",
            "labels.stage1" if direct else "labels.stage3",
            ev.final_acc[i],
            ev.sd_final[i],
        )

    bridge_prompts = (
        sum(steps[s] * sc.shapes[s].prompts_per_step for s in ("warmup", "opd")) if bridged else 0
    )
    prompt_pool = sc.prompts if sc.prompts > 0 else sc.labels - labels1 - labels3
    real = sc.world == "real"
    data: dict[str, Any] = {
        "name": name or _slug(f"{sc.name}-{teacher.name if teacher else 'direct-grpo'}"),
        "student": {"name": sc.student.name, "path": sc.student.path},
        "teacher": {"name": teacher.name, "path": teacher.path} if teacher else None,
        "datasets": {
            "labeled": ref_plain(sc.datasets.labeled),
            "prompts": ref_plain(sc.datasets.prompts) if sc.datasets.prompts else None,
            "eval": [ref_plain(e) for e in sc.datasets.eval],
        },
        "prompt": to_plain(sc.prompt),
        "labels": {
            "pool": sc.labels,
            "stage1": labels1,
            "stage3": labels3,
            "prompts": int(min(bridge_prompts, max(prompt_pool, 0))),
            "seed": sc.seed,
        },
        "stages": stages,
        "evaluation": {
            "k": 16,
            "temperature": 0.7,
            "top_p": 0.8,
            "max_new_tokens": sc.shapes["student_rl"].max_new_tokens,
        }
        if real
        else {"k": 4, "temperature": 1.0, "max_new_tokens": sc.shapes["student_rl"].max_new_tokens},
        "rollout": {"engine": sc.hardware.engine},
        "seed": sc.seed,
        "toy_zoo": sc.zoo if sc.world == "toy" else None,
        "prediction": {
            "compute_unit": sc.compute_unit,
            "stages": predictions,
            "labels_used": labels1 + labels3,
            "total_compute": float(ev.total_compute[i]),
            "final_accuracy": float(ev.final_acc[i]),
            "benchmark": sc.benchmark,
            "source": profile_name,
        },
    }
    if data["teacher"] is None:
        del data["teacher"]
    return plan_from_dict(data, source=f"plan emitted for {sc.name}")
