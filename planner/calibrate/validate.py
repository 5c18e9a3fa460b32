"""Out-of-sample checks of a response model on the measured-runs dataset (planner/calibrate/records.py).

A *response model* here is anything that can be fitted to records and then
predict a record's accuracy after one of its stages with a standard deviation
(:class:`ResponseModel`). Three checks of its predictions, each scored by the
mean absolute error in points, Spearman's rank correlation of predicted
against measured, and the share of measured accuracies inside the predicted
90% band, and one of the decisions it would make:

* leave one pair out: fit on every toy record of the other teacher/student
  pairs, predict every measured stage of the held-out pair's runs. Direct
  GRPO reads no teacher, so its runs belong to the student: held out with
  every pair of that student, scored once. Teacher RL reads no student, so
  another pair's identical teacher-RL stage (same teacher, labels, seed and
  budget) is left out of the fit too;
* leave one arm out: fit on every other arm of every setting, predict the
  held-out arm's runs;
* in sample: fit on everything, predict everything (the paper's figures are
  scored this way: each one is a point the fit saw);
* decisions: per setting, the workflow a fit that never saw its pair predicts
  best against the one measured best (the regret, in points).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from planner.calibrate.crossval import spearman
from planner.calibrate.records import pair_of, points, record_key

Z90 = 1.645


class Fitted(Protocol):
    def predict(self, rec: dict[str, Any], stage: str) -> tuple[float, float]:
        """Predicted accuracy (0..1) after ``stage`` and its standard deviation."""
        ...


class ResponseModel(Protocol):
    name: str

    def fit(self, records: Sequence[dict[str, Any]]) -> Fitted: ...


@dataclass
class Scored:
    """Predicted against measured, one row per (record, stage)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, rec: dict[str, Any], stage: str, mean: float, sd: float, group: str) -> None:
        measured = float(rec["measured"][stage]["accuracy"])
        self.rows.append(
            {
                "setting": rec["setting"],
                "arm": rec["arm"],
                "benchmark": rec["benchmark"],
                "stage": stage,
                "group": group,
                "measured": measured,
                "predicted": mean,
                "sd": sd,
                "inside": abs(mean - measured) <= Z90 * sd,
            }
        )

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def mae_points(self) -> float:
        return 100.0 * float(np.mean([abs(r["predicted"] - r["measured"]) for r in self.rows]))

    @property
    def max_points(self) -> float:
        return 100.0 * max(abs(r["predicted"] - r["measured"]) for r in self.rows)

    @property
    def spearman(self) -> float:
        return spearman([r["predicted"] for r in self.rows], [r["measured"] for r in self.rows])

    @property
    def coverage(self) -> float:
        return float(np.mean([r["inside"] for r in self.rows]))

    def summary(self) -> dict[str, Any]:
        if not self.rows:
            return {"n": 0}
        return {
            "n": self.n,
            "mae_points": round(self.mae_points, 2),
            "max_points": round(self.max_points, 2),
            "spearman": round(self.spearman, 3) if not math.isnan(self.spearman) else None,
            "coverage_90": round(self.coverage, 3),
        }


def toy_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["world"] == "toy"]


def _held_pair(rec: dict[str, Any], pair: str) -> bool:
    """In the held-out pair: its own runs, and every direct GRPO run on its student
    (direct GRPO reads no teacher, so it is the same experiment for every pair of that student)."""
    if rec["arm"] == "direct":
        return rec["student"]["name"].removeprefix("toy:") == pair.split("-")[0]
    return pair_of(rec) == pair


def _teacher_rl_key(rec: dict[str, Any]) -> tuple[Any, ...] | None:
    """What makes two teacher-RL stages the same experiment: teacher, labels, seed and budget."""
    stage = next((s for s in rec["stages"] if s["role"] == "teacher_rl"), None)
    if stage is None or rec["teacher"] is None:
        return None
    budget = tuple(stage.get(k) for k in ("steps", "prompts_per_step", "samples_per_prompt"))
    return rec["teacher"]["name"], rec["labels"]["stage1"], rec.get("seed"), budget


def _without_copies(
    train: Sequence[dict[str, Any]], held: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``train`` with the teacher-RL points that repeat a held-out one taken out.

    Teacher RL depends on the teacher, its labels and the seed only: the same stage
    of another pair with that teacher is the held-out measurement again.
    """
    held_keys = {
        _teacher_rl_key(r) for r in held if any(s["id"] == "teacher_rl" for s in r["stages"])
    } - {None}
    out = []
    for r in train:
        if _teacher_rl_key(r) in held_keys and "teacher_rl" in r["measured"]:
            r = {**r, "measured": {k: v for k, v in r["measured"].items() if k != "teacher_rl"}}
        out.append(r)
    return out


def pairs(records: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({pair_of(r) for r in toy_records(records) if "-" in pair_of(r)})


def _score(fitted: Fitted, held: Sequence[dict[str, Any]], group: str, into: Scored) -> None:
    rows = [(rec, stage) for rec in held for stage in points(rec)]
    many = getattr(fitted, "predict_many", None)  # one batched pass where the model offers it
    if many is not None and rows:
        means, sds = many(rows)
        predicted = list(zip(means.tolist(), sds.tolist(), strict=True))
    else:
        predicted = [fitted.predict(rec, stage) for rec, stage in rows]
    for (rec, stage), (mean, sd) in zip(rows, predicted, strict=True):
        into.add(rec, stage, mean, sd, group)


def leave_one_pair_out(
    model: ResponseModel, records: Sequence[dict[str, Any]], extra: Sequence[dict[str, Any]] = ()
) -> Scored:
    """Fit on the other pairs' toy records (plus ``extra``, e.g. the paper's), predict the held-out pair."""
    out = Scored()
    data = toy_records(records)
    scored: set[tuple[str, str, str]] = set()
    for pair in pairs(data):
        held = [r for r in data if _held_pair(r, pair)]
        train = _without_copies([r for r in data if not _held_pair(r, pair)], held)
        # a direct run is held out with every pair of its student, but scored once
        new = [r for r in held if record_key(r) not in scored]
        scored |= {record_key(r) for r in new}
        _score(model.fit(train + list(extra)), new, pair, out)
    return out


def leave_one_arm_out(
    model: ResponseModel, records: Sequence[dict[str, Any]], extra: Sequence[dict[str, Any]] = ()
) -> Scored:
    out = Scored()
    data = toy_records(records)
    for arm in sorted({r["arm"] for r in data}):
        held = [r for r in data if r["arm"] == arm]
        train = _without_copies([r for r in data if r["arm"] != arm], held) + list(extra)
        _score(model.fit(train), held, arm, out)
    return out


def transfer(
    model: ResponseModel, records: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]]
) -> Scored:
    """Fit on every record, score ``other``: runs the fit never saw, e.g. on another zoo build."""
    out = Scored()
    _score(model.fit(records), other, "transfer", out)
    return out


def in_sample(
    model: ResponseModel,
    records: Sequence[dict[str, Any]],
    which: Callable[[dict[str, Any]], bool] = lambda r: True,
) -> Scored:
    """Fit on every record, score those ``which`` selects."""
    out = Scored()
    _score(model.fit(records), [r for r in records if which(r)], "in sample", out)
    return out


@dataclass
class _FittedV1:
    params: Any

    def predict(self, rec: dict[str, Any], stage: str) -> tuple[float, float]:
        from planner.calibrate.records import v1_inputs
        from planner.simulator.plans import ROLE_OUTPUT
        from planner.simulator.response import predict

        role = next(s["role"] for s in rec["stages"] if s["id"] == stage)
        which = ROLE_OUTPUT[role]
        out = predict(v1_inputs(rec, stage), self.params, rec["benchmark"])
        return float(getattr(out, which)[0]), float(getattr(out, f"sd_{which}")[0])


@dataclass
class FirstModel:
    """The first response model (planner/simulator/response.py), refitted as ``s2d calibrate`` does.

    Starts from a profile (the uncalibrated toy one by default) and refits its
    ``fit`` parameters to the records with the profile's values as log-normal priors.
    """

    profile: str | None = None
    name: str = "response model v1 (s2d calibrate)"

    def fit(self, records: Sequence[dict[str, Any]]) -> _FittedV1:
        from planner.calibrate.fit_v2 import measurement_sd
        from planner.calibrate.from_runs import calibration_priors
        from planner.calibrate.map_fit import Observation, fit_response
        from planner.calibrate.records import v1_inputs
        from planner.contracts.errors import UserError
        from planner.scenario.models import PROFILE_DIR
        from planner.simulator.plans import ROLE_OUTPUT
        from planner.simulator.response import ResponseParams, load_profile

        start = load_profile(self.profile or PROFILE_DIR / "response_toy.yaml")
        obs = []
        for rec in records:
            roles = {s["id"]: s["role"] for s in rec["stages"]}
            for stage in points(rec):
                m = rec["measured"][stage]
                obs.append(
                    Observation(
                        f"{rec['setting']}:{rec['arm']}:{stage}",
                        v1_inputs(rec, stage),
                        ROLE_OUTPUT[roles[stage]],
                        float(m["accuracy"]),
                        measurement_sd(rec, stage),
                        rec["benchmark"],
                    )
                )
        names, priors = calibration_priors(start)
        if not isinstance(start.params, ResponseParams):
            raise UserError(
                f"{start.name}: the first model's refit starts from a first-model profile"
            )
        return _FittedV1(fit_response(start.params, obs, names, priors, max_evals=3000).params)


# The workflows a user decides between at equal labels (planner/calibrate/arms.py's rows):
# row -> (the run it is measured in, the stage it is read after)
DECISIONS = {
    "direct": ("direct", "student_rl"),
    "raw_bridge": ("raw_bridge", "opd"),
    "rl_bridge": ("workflow", "opd"),
    "full": ("workflow", "student_rl"),
}


@dataclass
class Decision:
    setting: str
    chosen: str  # the row the model predicts best
    best: str  # the row measured best
    measured: dict[str, float]  # row -> measured accuracy
    predicted: dict[str, float]

    @property
    def regret_points(self) -> float:
        return 100.0 * (self.measured[self.best] - self.measured[self.chosen])


def _direct_of(rec: dict[str, Any], data: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Direct GRPO for a setting: in the setting itself, or the student's own (same labels and seed)."""
    parts = rec["setting"].split("/")
    own = [r for r in data if r["setting"] == rec["setting"] and r["arm"] == "direct"]
    student = parts[1].split("-")[0]
    shared = "/".join([parts[0], student, *parts[2:]])
    found = own or [r for r in data if r["setting"] == shared and r["arm"] == "direct"]
    return found[0] if found else None


def _is_four_stage(rec: dict[str, Any]) -> bool:
    """A workflow run whose evals are the RL-teacher bridge and the bridge + stage 3 rows
    (a workflow of another shape, say a raw bridge then stage 3, answers another question)."""
    roles = tuple(s["role"] for s in rec["stages"])
    return rec["arm"] == "workflow" and roles == ("teacher_rl", "warmup", "opd", "student_rl")


def decisions(
    model: ResponseModel, records: Sequence[dict[str, Any]], extra: Sequence[dict[str, Any]] = ()
) -> list[Decision]:
    """For every toy setting with a workflow run: which workflow a fit that never saw the
    setting's pair would choose, against the one measured best (leave one pair out)."""
    data = toy_records(records)
    out = []
    for pair in pairs(data):
        held = [r for r in data if _held_pair(r, pair)]
        train = _without_copies([r for r in data if not _held_pair(r, pair)], held)
        fitted = model.fit(train + list(extra))
        for wf in (r for r in data if pair_of(r) == pair and _is_four_stage(r)):
            runs = {r["arm"]: r for r in data if r["setting"] == wf["setting"]}
            direct = _direct_of(wf, data)
            if direct is not None:
                runs["direct"] = direct
            measured, predicted = {}, {}
            for row, (arm, stage) in DECISIONS.items():
                rec = runs.get(arm)
                if rec is None or stage not in rec["measured"]:
                    continue
                measured[row] = float(rec["measured"][stage]["accuracy"])
                predicted[row] = fitted.predict(rec, stage)[0]
            if len(measured) < 2:
                continue
            out.append(
                Decision(
                    wf["setting"],
                    max(predicted, key=predicted.__getitem__),
                    max(measured, key=measured.__getitem__),
                    measured,
                    predicted,
                )
            )
    return out
