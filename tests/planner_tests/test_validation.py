"""Cross-validation figures on hand-computed values and on tiny synthetic comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from planner.calibrate.crossval import (
    Validation,
    held_out_arms,
    leave_one_out,
    measured_rows,
    predicted_rows,
    spearman,
)
from tests.planner_tests.plans_for_tests import comparison


def test_spearman_on_hand_computed_ranks():
    assert spearman([1, 2, 3], [10, 30, 20]) == pytest.approx(0.5)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(1.5 / np.sqrt(3))  # ties share 1.5
    assert spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 1], [1, 2]))


def test_validation_reports_mae_in_points():
    v = Validation([("a", 0.30, 0.25), ("b", 0.10, 0.12), ("c", 0.20, 0.20)])
    assert v.n == 3 and v.mae_points == pytest.approx((5 + 2 + 0) / 3)
    assert v.spearman == pytest.approx(1.0)


def test_measured_rows_read_each_rows_stage(tmp_path):
    comparison(tmp_path / "c0")
    got = measured_rows(tmp_path / "c0", "toy")
    assert got == {
        "rl_bridge": 0.29,
        "full": 0.30,
        "replay": 0.31,
        "opd_only": 0.10,
        "warmup_only": 0.24,
    }


def test_leave_one_out_trains_on_the_other_comparisons_and_scores_the_held_one(
    tmp_path, toy_problem
):
    roots = [tmp_path / "c0", tmp_path / "c1"]
    comparison(roots[0])
    comparison(roots[1], lift=0.02)
    seen: list[set[str]] = []

    def keep_profile(prob, dirs):
        seen.append({d.parent.name for d in dirs})
        return prob.profile

    v = leave_one_out(toy_problem, roots, calibrate=keep_profile)
    assert seen == [{"c1"}, {"c0"}]
    assert v.n == 10
    pred = predicted_rows(toy_problem, roots[0])
    expected = [abs(pred[k] - m) for root in roots for k, m in measured_rows(root, "toy").items()]
    assert v.mae_points == pytest.approx(100 * np.mean(expected))


def test_held_out_arms_calibrate_on_some_arms_and_predict_the_others(tmp_path, toy_problem):
    roots = [tmp_path / "c0"]
    comparison(roots[0])
    v = held_out_arms(
        toy_problem, roots, train_runs=("workflow",), test_rows=("replay", "opd_only")
    )
    assert [k for k, _, _ in v.pairs] == ["c0:replay", "c0:opd_only"]
    assert all(0.0 < p < 1.0 for _, p, _ in v.pairs)
