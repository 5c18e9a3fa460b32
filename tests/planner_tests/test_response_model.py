"""Response curves on hand-computed values, and the PAPER.md figures, one test each."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from planner.calibration import paper_observations, predicted
from planner.paper import figures
from planner.response import gap_efficiency, label_ceiling, load_profile, predict, progress

PARAMS = load_profile().params


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
