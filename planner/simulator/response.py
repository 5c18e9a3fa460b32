"""Response model: predicted accuracy after each stage of an allocation, with a band.

Built from what PAPER.md measured, vectorised over a population of plans (every
input is a numpy array of one value per plan):

* sparse RL (GRPO) closes a fraction of a model's headroom ``1 - a``:
  ``gain = (1 - a) * g * k_bench * h(labels) * s(prompt_visits)``, with a label
  ceiling ``h(L) = L / (L + L_half)`` (only labels actually visited count) and a
  saturating curve in compute ``s(x) = 1 / (1 + (x_mid / x)^B)`` (ScaleRL's
  sigmoid in log-compute). The teacher and the student have their own ``g`` and
  ``L_half`` (a small model's RL gains saturate in fewer problems; results track
  optimisation steps more than unique problems, arXiv 2509.25300); RL after
  the bridge moves toward its own ``g_warm`` as far as the bridge went and as
  much as its gain came from a reward-shaped teacher; replaying stage-1 labels keeps only a
  fraction ``replay_fraction`` of it (new labels are what stage 3 feeds on).
  GRPO learns only from groups whose samples disagree, so a model that rarely
  samples a right answer gets little signal: below ``a_sig`` the gain is scaled
  by ``(a / a_sig)^kappa`` (the paper's models all sit above it; a toy student
  at 8% sampled accuracy gains 3 points where one at 26% gains 28). The signal
  is judged on the distribution RL trains on: a benchmark scored through a
  ``benchmark_rl_scale`` other than 1 (AIME after training on MATH-style
  problems) keeps it whole.
* the bridge moves the student toward the teacher: its reach is
  ``E_gap * (eta_raw * (a_T0 - a_S) + eta_rl * dT)`` where ``dT`` is what
  teacher RL added (C1: a reward-shaped teacher transfers far more than its own
  accuracy gain), ``E_gap`` shrinks it for a teacher much larger than the one
  the paper used (capacity gap). Warmup and OPD progress combine as a noisy-or
  ``1 - (1 - w_w s_w)(1 - w_o (c + (1 - c) s_w) s_o)`` (their gains overlap,
  C2); OPD samples the student's own rollouts, so how much of its weight it
  can use depends on how close the warmup brought the student: a share ``c``
  without a warmup, all of it behind a finished one (the paper's OPD alone
  does more than its warmup alone; on the toy world, with a far weaker
  student, OPD alone does almost nothing). The result saturates toward the
  teacher's accuracy, never past it.
* stage-3 RL after the bridge overlaps with the raw-teacher part of the
  bridge's gain (``raw_overlap``): imitation of an unshaped teacher teaches
  what GRPO would find anyway, so only the reward-shaped part stacks with RL.
  This is our reading of "a bridge is worth it only behind a reward-shaped
  teacher" (the raw-teacher bridge lands below direct GRPO).

Departures from the paper: the paper reports end points, not curves; the
curve shapes (midpoints, exponents, gap decay) are documented priors, and the
PAPER.md figures pin the fitted parameters (see planner/simulator/paper.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from planner.contracts.errors import UserError, ValidationError, excerpt
from planner.contracts.files import load_yaml_text, read_text
from planner.contracts.schema import FieldProblems, Rule, number
from planner.scenario.models import PROFILE_DIR
from planner.simulator.response_v2 import SecondParams, second_from_dict

DEFAULT_PROFILE = PROFILE_DIR / "response_paper.yaml"


@dataclass(frozen=True)
class ResponseParams:
    teacher_rl_gain: float  # g_T: fraction of the teacher's headroom its RL can close
    teacher_label_half: float  # labels at which the teacher's RL ceiling is half its maximum
    student_rl_gain: float  # g_S: the same for GRPO on a cold (un-bridged) student
    student_label_half: float  # labels at which the student's RL ceiling is half its maximum
    rl_mid_prompts: float  # prompt visits at half of RL's compute progress
    rl_exponent: float  # B of the compute sigmoid
    rl_signal_ref: float  # a_sig: accuracy below which GRPO's signal thins out
    rl_signal_exponent: float  # kappa: how fast it thins below a_sig
    warm_rl_gain: float  # g_warm: RL efficiency after the bridge (may exceed g; the product g h s is capped at 1)
    replay_fraction: float  # share of g_warm left when stage 3 replays stage-1 labels
    bridge_raw_eff: float  # eta_raw: reach per point of raw teacher-student gap
    bridge_rl_eff: float  # eta_rl: reach per point the teacher gained from RL
    warmup_weight: float  # w_w: share of the reach the warmup alone attains
    opd_weight: float  # w_o: share of the reach OPD attains behind a finished warmup
    opd_cold_share: (
        float  # c: share of OPD's weight available with no warmup (grows to 1 with warmup progress)
    )
    warmup_mid_samples: float  # teacher rollouts at half warmup progress
    opd_mid_samples: float  # student rollouts at half OPD progress
    bridge_exponent: float
    raw_overlap: (
        float  # share of the raw-teacher part of the bridge's gain that later RL would find anyway
    )
    gap_ref_ratio: float  # teacher/student parameter ratio the figures were measured at
    gap_decay: float  # reach lost per doubling of the ratio beyond gap_ref_ratio
    sd_base: float  # band: sd (accuracy units) every trained stage adds
    sd_rel: float  # band: sd per unit of a stage's predicted gain
    band_z: float  # half-width of the band in sd (1.645: a 90% band)
    interpolated_sd_factor: float  # band multiplier for models without measured figures
    benchmark_rl_scale: dict[str, float] = field(default_factory=dict)

    def rl_scale(self, benchmark: str) -> float:
        return self.benchmark_rl_scale.get(benchmark, 1.0)

    def signal_exponent(self, benchmark: str) -> float:
        """kappa where the benchmark is the distribution RL trains on, else 0 (no thinning)."""
        return self.rl_signal_exponent if self.rl_scale(benchmark) == 1.0 else 0.0


SCALAR_PARAMS = tuple(f.name for f in fields(ResponseParams) if f.name != "benchmark_rl_scale")


@dataclass
class Profile:
    """A response profile file: parameter values with their priors and sources."""

    name: str
    params: ResponseParams | SecondParams  # the first model's, or a fit of the second's
    priors: dict[str, dict[str, Any]]  # name -> {prior, sd_log, fit, source, calibration_sd_log}
    source: str = ""
    hardware_overrides: dict[str, float] = field(default_factory=dict)
    fit_report: list[dict[str, Any]] = field(default_factory=list)


_FRACTION = Rule(ge=0, le=1)
_POSITIVE = Rule(gt=0)
_NON_NEGATIVE = Rule(ge=0)
# What each parameter may be (every value must also be finite): shares of something are
# fractions, halves, midpoints, exponents and ratios are positive, gains and decays are not negative.
PARAM_RULES: dict[str, Rule] = {
    **dict.fromkeys(SCALAR_PARAMS, _NON_NEGATIVE),
    **dict.fromkeys(
        (
            "teacher_label_half",
            "student_label_half",
            "rl_mid_prompts",
            "rl_exponent",
            "warmup_mid_samples",
            "opd_mid_samples",
            "bridge_exponent",
            "gap_ref_ratio",
            "band_z",
            "interpolated_sd_factor",
        ),
        _POSITIVE,
    ),
    **dict.fromkeys(
        ("replay_fraction", "warmup_weight", "opd_weight", "opd_cold_share", "raw_overlap"),
        _FRACTION,
    ),
    "rl_signal_ref": Rule(gt=0, le=1),
}
# The numbers a parameter's entry may carry beside its value (priors of `s2d calibrate`).
PRIOR_RULES: dict[str, Rule | None] = {
    "prior": None,
    "sd_log": _POSITIVE,
    "calibration_sd_log": _POSITIVE,
}


def _number_table(raw: dict[str, Any], key: str, problems: FieldProblems) -> dict[str, float]:
    """``raw[key]``: a mapping of names to positive numbers (each problem recorded)."""
    out: dict[str, float] = {}
    table = raw.get(key) or {}
    if not isinstance(table, dict):
        problems.add(key, f"expected a mapping, got {type(table).__name__}")
        return out
    for k, v in table.items():
        out[str(k)] = number(v, f"{key}.{str(k)[:80]}", problems, _POSITIVE)
    return out


def _profile_from_dict(raw: Any, source: str) -> Profile:
    """Check a profile document whole (every problem at once, each field named) and build it."""
    problems = FieldProblems()
    if isinstance(raw, dict) and raw.get("model") == "response_v2":
        overrides = _number_table(raw, "hardware_overrides", problems)
        if problems:
            raise ValidationError(source, problems)
        return Profile(
            name=str(raw.get("name", Path(source).stem)),
            params=second_from_dict(raw, source),
            priors={},
            source=str(raw.get("source", "")),
            hardware_overrides=overrides,
            fit_report=list(raw.get("fit_report") or []),
        )
    if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict):
        problems.add(
            "params",
            "missing" if isinstance(raw, dict) else f"expected a mapping, got {type(raw).__name__}",
            f"a response profile has params: {{name: {{value: ...}}}} for {', '.join(SCALAR_PARAMS)}",
        )
        raise ValidationError(source, problems)
    values: dict[str, float] = {}
    priors: dict[str, dict[str, Any]] = {}
    for name, entry in raw["params"].items():
        at = f"params.{excerpt(name) if not isinstance(name, str) else name[:80]}"
        if name not in PARAM_RULES:
            problems.add(at, "unknown parameter", f"known: {', '.join(SCALAR_PARAMS)}")
            continue
        if not isinstance(entry, dict) or "value" not in entry:
            problems.add(at, f"expected a mapping with a value, got {excerpt(entry)}")
            continue
        values[name] = number(entry["value"], f"{at}.value", problems, PARAM_RULES[name])
        for key, limits in PRIOR_RULES.items():
            if key in entry:
                number(entry[key], f"{at}.{key}", problems, limits)
        if "fit" in entry and not isinstance(entry["fit"], bool):
            problems.add(f"{at}.fit", f"expected true or false, got {excerpt(entry['fit'])}")
        priors[name] = {k: v for k, v in entry.items() if k != "value"}
    for name in SCALAR_PARAMS:
        if name not in raw["params"]:
            problems.add(f"params.{name}", "missing", "give it a value: params.NAME.value")
    scales = _number_table(raw, "benchmark_rl_scale", problems)
    overrides = _number_table(raw, "hardware_overrides", problems)
    fit_report = raw.get("fit_report") or []
    if not isinstance(fit_report, list):
        problems.add("fit_report", f"expected a list, got {type(fit_report).__name__}")
    if problems:
        raise ValidationError(source, problems)
    return Profile(
        name=str(raw.get("name", Path(source).stem)),
        params=ResponseParams(**values, benchmark_rl_scale=scales),
        priors=priors,
        source=str(raw.get("source", "")),
        hardware_overrides=overrides,
        fit_report=list(fit_report),
    )


def shipped_profiles() -> list[str]:
    """Names ``--profile`` accepts for the profiles shipped in planner/profiles/ (``v2``: the second model)."""
    return sorted(p.stem.removeprefix("response_") for p in PROFILE_DIR.glob("response_*.yaml"))


def load_profile(path: str | Path | None = None) -> Profile:
    """A response profile YAML (duplicate keys refused), every number finite and in its range.

    ``path`` is a file, or the name of a shipped profile (``v2``, ``toy``, ``paper``, ...).
    """
    path = Path(path) if path else DEFAULT_PROFILE
    shipped = PROFILE_DIR / f"response_{path}.yaml"
    if not path.exists() and path.name == str(path) and shipped.is_file():
        path = shipped
    if not path.is_file() and not path.is_dir():
        raise UserError(
            f"response profile {path} does not exist; give a file written by `s2d calibrate --out`, a shipped profile's name ({', '.join(shipped_profiles())}), or leave --profile out for the default."
        )
    raw = load_yaml_text(read_text(path, "response profile"), str(path))
    return _profile_from_dict(raw, str(path))


def dump_profile(profile: Profile) -> str:
    p = profile.params
    if isinstance(p, SecondParams):
        second: dict[str, Any] = {
            "name": profile.name,
            "model": "response_v2",
            "source": profile.source,
            "band_z": p.band_z,
            "interpolated_sd_factor": p.interpolated_sd_factor,
            # for reading: the fitted values; the fit below is what predictions use
            "values": {k: float(f"{v:.6g}") for k, v in p.fitted.values.items()},
            "fit": p.fitted.to_dict(),
        }
        return _dump_with_calibration(second, profile)
    data: dict[str, Any] = {"name": profile.name, "source": profile.source, "params": {}}
    for name in SCALAR_PARAMS:
        data["params"][name] = {
            "value": float(f"{getattr(p, name):.6g}"),
            **profile.priors.get(name, {}),
        }
    data["benchmark_rl_scale"] = dict(p.benchmark_rl_scale)
    return _dump_with_calibration(data, profile)


def _dump_with_calibration(data: dict[str, Any], profile: Profile) -> str:
    """``data`` with what a calibration added (hardware overrides, the fit report), as YAML."""
    if profile.hardware_overrides:
        data["hardware_overrides"] = {
            k: float(f"{v:.6g}") for k, v in profile.hardware_overrides.items()
        }
    if profile.fit_report:
        data["fit_report"] = profile.fit_report
    return yaml.safe_dump(data, sort_keys=False, width=100)


def with_values(params: ResponseParams, values: dict[str, float]) -> ResponseParams:
    return replace(params, **values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# the curves (pure functions, tested on hand-computed values)


def label_ceiling(labels: Any, label_half: float) -> Any:
    labels = np.asarray(labels, dtype=float)
    return labels / (labels + label_half)


def progress(x: Any, mid: float, exponent: float) -> Any:
    """Saturating curve in compute: 0 at x = 0, 1/2 at x = mid, toward 1 beyond."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        ratio = np.where(x > 0, mid / np.maximum(x, 1e-300), np.inf)
    return 1.0 / (1.0 + ratio**exponent)


def gap_efficiency(param_ratio: Any, ref_ratio: float, decay: float) -> Any:
    """Capacity gap: 1 up to the reference teacher/student ratio, then lose ``decay`` per doubling."""
    doublings = np.log2(np.maximum(np.asarray(param_ratio, dtype=float), 1e-9) / ref_ratio)
    return np.exp(-decay * np.maximum(doublings, 0.0))


def rl_signal(accuracy: Any, ref: float, exponent: float) -> Any:
    """Share of GRPO's signal left at ``accuracy``: 1 from ``ref`` up, ``(a / ref)^exponent`` below."""
    a = np.clip(np.asarray(accuracy, dtype=float), 0.0, None)
    return np.minimum(a / ref, 1.0) ** exponent


def rl_gain(
    accuracy: Any,
    efficiency: Any,
    labels: Any,
    prompt_visits: Any,
    label_half: float,
    p: ResponseParams,
    signal_exponent: float = 0.0,
) -> Any:
    """Accuracy GRPO adds to a model at ``accuracy`` (only labels actually visited count)."""
    visited = np.minimum(labels, prompt_visits)
    closed = (
        efficiency
        * label_ceiling(visited, label_half)
        * progress(prompt_visits, p.rl_mid_prompts, p.rl_exponent)
        * rl_signal(accuracy, p.rl_signal_ref, signal_exponent)
    )
    return (1.0 - accuracy) * np.minimum(closed, 1.0)


# ---------------------------------------------------------------------------
# the whole workflow, vectorised


@dataclass
class Inputs:
    """One value per plan (numpy arrays of equal length; floats broadcast)."""

    student_acc: Any  # student accuracy before training
    teacher_acc: Any  # teacher accuracy before training (ignored where has_teacher is false)
    has_teacher: Any  # bool
    param_ratio: Any  # teacher params / student params
    labels1: Any  # labels teacher RL reads
    visits1: Any  # teacher RL prompt visits (steps x prompts per step)
    warmup_samples: Any  # teacher rollouts the warmup trains on
    opd_samples: Any  # student rollouts OPD trains on
    labels3: Any  # new labels student RL reads (direct GRPO: all its labels)
    visits3: Any  # student RL prompt visits
    replay_labels: Any = 0.0  # labels a replay-control stage 3 re-reads (0: not a replay)
    interpolated: Any = False  # some model lacks measured figures


@dataclass
class Outputs:
    teacher: Any  # teacher accuracy after stage 1
    bridge: Any  # student accuracy after the bridge (= before training when there is none)
    final: Any  # student accuracy after stage 3 (or after direct GRPO)
    sd_teacher: Any
    sd_bridge: Any
    sd_final: Any


def predict(x: Inputs, p: ResponseParams, benchmark: str = "math") -> Outputs:
    k = p.rl_scale(benchmark)
    kappa = p.signal_exponent(benchmark)
    has_t = np.asarray(x.has_teacher, dtype=bool)
    a_s = np.asarray(x.student_acc, dtype=float)
    a_t0 = np.where(has_t, np.asarray(x.teacher_acc, dtype=float), 0.0)

    # stage 1: teacher RL
    d_t = np.where(
        has_t,
        rl_gain(a_t0, p.teacher_rl_gain * k, x.labels1, x.visits1, p.teacher_label_half, p, kappa),
        0.0,
    )
    a_t = a_t0 + d_t

    # stages 2a + 2b: the dense bridge
    s_w = progress(x.warmup_samples, p.warmup_mid_samples, p.bridge_exponent)
    s_o = progress(x.opd_samples, p.opd_mid_samples, p.bridge_exponent)
    opd_share = p.opd_cold_share + (1.0 - p.opd_cold_share) * s_w
    bridge_progress = 1.0 - (1.0 - p.warmup_weight * s_w) * (1.0 - p.opd_weight * opd_share * s_o)
    e_gap = gap_efficiency(x.param_ratio, p.gap_ref_ratio, p.gap_decay)
    reach_raw = e_gap * p.bridge_raw_eff * np.maximum(a_t0 - a_s, 0.0)
    reach = reach_raw + e_gap * p.bridge_rl_eff * d_t
    room = np.maximum(a_t - a_s, 1e-6)  # distillation does not pass the teacher
    d_b = np.where(has_t, room * (1.0 - np.exp(-reach * bridge_progress / room)), 0.0)
    bridged = has_t & (bridge_progress > 0)
    a_b = a_s + d_b
    d_raw = d_b * reach_raw / np.maximum(reach, 1e-12)  # the part an unshaped teacher would give

    # stage 3 (or direct GRPO on a cold student)
    # RL is more efficient on a bridged student, in proportion to how far the bridge
    # went and how much of it came from a reward-shaped teacher (a stub bridge is no bridge)
    full_progress = 1.0 - (1.0 - p.warmup_weight) * (1.0 - p.opd_weight)
    shaped = np.where(d_b > 0, 1.0 - d_raw / np.maximum(d_b, 1e-12), 0.0)
    warmth = np.where(bridged, bridge_progress / full_progress * shaped, 0.0)
    eff = (p.student_rl_gain + (p.warm_rl_gain - p.student_rl_gain) * warmth) * k
    new = rl_gain(a_b, eff, x.labels3, x.visits3, p.student_label_half, p, kappa)
    replay = rl_gain(
        a_b, eff * p.replay_fraction, x.replay_labels, x.visits3, p.student_label_half, p, kappa
    )
    d_3 = np.where(np.asarray(x.replay_labels) > 0, replay, new)
    # RL after the bridge first re-finds what the raw teacher's imitation already gave
    d_3 = np.where(bridged, d_3 - p.raw_overlap * np.minimum(d_raw, d_3), d_3)
    a_f = a_b + d_3

    # band: each trained stage adds sd_base plus sd_rel of its gain, in quadrature
    scale = np.where(np.asarray(x.interpolated, dtype=bool), p.interpolated_sd_factor, 1.0)

    def stage_var(gain: Any, trained: Any) -> Any:
        return np.where(trained, p.sd_base**2 + (p.sd_rel * gain) ** 2, 0.0)

    v_t = stage_var(d_t, has_t & (np.asarray(x.visits1) > 0))
    v_b = v_t + stage_var(d_b, bridged)
    v_f = v_b + stage_var(d_3, np.asarray(x.visits3) > 0)
    return Outputs(
        teacher=a_t,
        bridge=a_b,
        final=a_f,
        sd_teacher=scale * np.sqrt(v_t),
        sd_bridge=scale * np.sqrt(v_b),
        sd_final=scale * np.sqrt(v_f),
    )
