"""Response curves on hand-computed values, and the PAPER.md figures, one test each."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from planner.calibrate.map_fit import PAPER_FIT, fit_paper, paper_observations, predicted
from planner.simulator.paper import figures
from planner.simulator.response import (
    Inputs,
    gap_efficiency,
    label_ceiling,
    load_profile,
    predict,
    progress,
    with_values,
)

PROFILE = load_profile()
PARAMS = PROFILE.params


def test_curves_on_hand_computed_values():
    assert label_ceiling(1000, 1000) == pytest.approx(0.5)
    assert label_ceiling(3000, 1000) == pytest.approx(0.75)
    assert progress(16000, 16000, 1.5) == pytest.approx(0.5)
    assert progress(64000, 16000, 2.0) == pytest.approx(1 / (1 + 1 / 16))
    assert progress(0, 16000, 1.5) == 0.0
    assert gap_efficiency(4.0, 4.0, 0.15) == pytest.approx(1.0)
    assert gap_efficiency(2.0, 4.0, 0.15) == pytest.approx(
        1.0
    )  # smaller teachers are not penalised
    assert gap_efficiency(16.0, 4.0, 0.15) == pytest.approx(math.exp(-0.3))


@pytest.mark.parametrize("figure", figures(), ids=lambda f: f.key)
def test_default_profile_reproduces_paper_figure(figure):
    obs = next(o for o in paper_observations() if o.key == figure.key)
    assert abs(predicted(obs, PARAMS) - figure.accuracy) <= 0.005, figure.what


def test_the_shipped_paper_profile_is_what_fit_paper_makes_from_its_priors():
    # the profile's provenance: fit_paper, started from the documented prior of every value
    # the profile marks fitted, lands on the shipped values
    fitted = [n for n, meta in PROFILE.priors.items() if meta.get("fit")]
    assert set(fitted) == set(PAPER_FIT)
    start = with_values(PARAMS, {n: PROFILE.priors[n]["prior"] for n in fitted})
    assert start != PARAMS
    fit = fit_paper(start, PROFILE.priors)
    for name in fitted:
        assert getattr(fit.params, name) == pytest.approx(getattr(PARAMS, name), rel=1e-3), name
    assert max(abs(r["error"]) for r in fit.residuals) <= 0.5  # points, every figure


def _paper_inputs(key):
    return next(f for f in figures() if f.key == key).inputs


def test_replay_without_new_labels_gains_almost_nothing():
    half = _paper_inputs("stage3_bridge")
    bridge = predict(half, PARAMS).bridge
    replay = predict(_paper_inputs("stage3_replay"), PARAMS).final
    fresh = predict(_paper_inputs("stage3_rl"), PARAMS).final
    assert replay - bridge <= 0.005 < fresh - bridge


def test_teacher_rl_saturates_in_compute_and_its_ceiling_grows_with_labels():
    b = _paper_inputs("bridge")
    acc = [float(predict(replace(b, visits1=v), PARAMS).teacher) for v in (5e3, 5e4, 5e5, 5e6)]
    assert acc == sorted(acc) and acc[3] - acc[2] < acc[1] - acc[0]
    few = float(predict(replace(b, labels1=2000, visits1=5e6), PARAMS).teacher)
    many = float(predict(replace(b, labels1=14000, visits1=5e6), PARAMS).teacher)
    assert few < many


def test_band_widens_with_each_stage_and_for_interpolated_models():
    out = predict(_paper_inputs("stage3_rl"), PARAMS)
    assert 0 < out.sd_teacher < out.sd_bridge < out.sd_final
    wide = predict(replace(_paper_inputs("stage3_rl"), interpolated=True), PARAMS)
    assert wide.sd_final == pytest.approx(PARAMS.interpolated_sd_factor * out.sd_final)


def test_predict_is_vectorised():
    b = _paper_inputs("bridge")
    many = replace(b, visits1=np.array([0, 25600, 51200]), labels1=np.array([0, 14000, 14000]))
    out = predict(many, PARAMS)
    assert out.bridge.shape == (3,)
    assert out.bridge[0] == pytest.approx(0.715, abs=0.005) and out.bridge[2] == pytest.approx(
        0.793, abs=0.005
    )


def _raw_bridge_only(warmup_samples, opd_samples):
    """Student 10%, untrained teacher 30% at the reference size ratio: reach = eta_raw x 0.2."""
    return Inputs(
        student_acc=0.1,
        teacher_acc=0.3,
        has_teacher=True,
        param_ratio=PARAMS.gap_ref_ratio,
        labels1=0,
        visits1=0,
        warmup_samples=warmup_samples,
        opd_samples=opd_samples,
        labels3=0,
        visits3=0,
    )


def test_opd_without_warmup_gets_only_its_cold_share():
    p = replace(PARAMS, bridge_raw_eff=1.0, warmup_weight=0.6, opd_weight=0.8, opd_cold_share=0.25)
    w_mid, o_mid = p.warmup_mid_samples, p.opd_mid_samples  # progress 1/2 each (exponent 1)
    # OPD alone: progress 0.8 x 0.25 x 0.5 = 0.1 of a 0.2 room: 0.1 + 0.2 (1 - e^-0.1)
    alone = predict(_raw_bridge_only(0, o_mid), p).bridge
    assert float(alone) == pytest.approx(0.1 + 0.2 * 0.0951626, abs=1e-6)
    # behind half a warmup OPD has 0.25 + 0.75 x 0.5 of its weight:
    # progress 1 - (1 - 0.3)(1 - 0.8 x 0.625 x 0.5) = 0.475
    both = predict(_raw_bridge_only(w_mid, o_mid), p).bridge
    assert float(both) == pytest.approx(0.1 + 0.2 * 0.3781148, abs=1e-6)
    # a cold share of 1 is the plain noisy-or of the two stages
    plain = predict(_raw_bridge_only(w_mid, o_mid), replace(p, opd_cold_share=1.0)).bridge
    assert float(plain) == pytest.approx(0.1 + 0.2 * (1 - math.exp(-(1 - 0.7 * 0.6))), abs=1e-6)


def test_rl_signal_thins_below_the_reference_by_hand():
    from planner.simulator.response import rl_signal

    assert rl_signal(0.5, 0.5, 2.0) == pytest.approx(1.0)
    assert rl_signal(0.9, 0.5, 2.0) == pytest.approx(1.0)
    assert rl_signal(0.25, 0.5, 2.0) == pytest.approx(0.25)
    assert rl_signal(0.1, 0.5, 1.0) == pytest.approx(0.2)
    assert rl_signal(0.1, 0.5, 0.0) == pytest.approx(1.0)


def test_direct_grpo_gains_far_less_on_a_student_that_rarely_samples_right():
    import numpy as np

    from planner.scenario.models import PROFILE_DIR
    from planner.simulator.response import Inputs, load_profile, predict

    p = load_profile(PROFILE_DIR / "response_toy.yaml").params
    x = Inputs(
        student_acc=np.array([0.08, 0.26]),
        teacher_acc=0.0,
        has_teacher=False,
        param_ratio=1.0,
        labels1=0,
        visits1=0,
        warmup_samples=0,
        opd_samples=0,
        labels3=400,
        visits3=1760,
    )
    gain = predict(x, p, "toy").final - x.student_acc
    # (0.08 / 0.26)^2 of the signal, times the larger headroom: about a tenth of the gain
    assert gain[0] / gain[1] == pytest.approx((0.08 / 0.26) ** 2 * (0.92 / 0.74), rel=0.05)
    # a transfer benchmark (scored through benchmark_rl_scale) keeps the whole signal
    paper = load_profile(PROFILE_DIR / "response_paper.yaml").params
    assert p.signal_exponent("toy") == p.rl_signal_exponent > 0
    assert paper.signal_exponent("aime24") == 0.0
