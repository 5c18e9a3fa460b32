"""Cross-validation figures on hand-computed values and on tiny synthetic comparisons."""

from __future__ import annotations

from dataclasses import replace

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


def profile_by_training_set(problem):
    """A stand-in calibration: a profile that says which comparison it was fitted on.

    Trained on c0 the OPD cold share becomes 0.2, on c1 0.9, on both 0.5: the held-out rows
    are then predicted differently depending on which runs the fold calibrated on.
    """
    seen: list[list[str]] = []

    def calibrate(prob, dirs):
        seen.append(sorted(f"{d.parent.name}/{d.name}" for d in dirs))
        comparisons = {d.parent.name for d in dirs}
        share = {frozenset({"c0"}): 0.2, frozenset({"c1"}): 0.9}.get(frozenset(comparisons), 0.5)
        params = replace(prob.profile.params, opd_cold_share=share)
        return replace(prob.profile, params=params)

    return calibrate, seen


def with_share(problem, share):
    params = replace(problem.profile.params, opd_cold_share=share)
    return replace(problem, profile=replace(problem.profile, params=params))


def test_spearman_of_four_by_hand():
    # one swapped pair: 1 - 6 * (1 + 1) / (4 * (16 - 1)) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([0.1, 0.4, 0.2, 0.3], [10, 40, 20, 30]) == pytest.approx(1.0)


def test_leave_one_out_scores_each_comparison_with_the_profile_fitted_on_the_others(
    tmp_path, toy_problem
):
    roots = [tmp_path / "c0", tmp_path / "c1"]
    comparison(roots[0])
    comparison(roots[1], lift=0.02)
    calibrate, seen = profile_by_training_set(toy_problem)

    v = leave_one_out(toy_problem, roots, calibrate=calibrate)

    runs = ["{}/opd_only", "{}/replay", "{}/workflow"]
    assert seen == [[r.format("c1") for r in runs], [r.format("c0") for r in runs]]
    expected = []
    for root, share in ((roots[0], 0.9), (roots[1], 0.2)):  # c0 by c1's fit, c1 by c0's
        predicted = predicted_rows(with_share(toy_problem, share), root)
        expected += [
            (f"{root.name}:{k}", predicted[k], m) for k, m in measured_rows(root, "toy").items()
        ]
    assert v.pairs == expected and v.n == 10
    assert v.mae_points == pytest.approx(100 * np.mean([abs(p - m) for _, p, m in expected]))
    # the two profiles predict OPD alone differently, so a fold scored with the wrong one shows
    assert predicted_rows(with_share(toy_problem, 0.2), roots[0])["opd_only"] != pytest.approx(
        predicted_rows(with_share(toy_problem, 0.9), roots[0])["opd_only"]
    )


def test_leave_one_out_with_the_real_calibration_beats_the_uncalibrated_profile(
    tmp_path, toy_problem
):
    # Both comparisons measured far above what the uncalibrated toy profile predicts.
    roots = [tmp_path / "c0", tmp_path / "c1"]
    comparison(roots[0], lift=0.05)
    comparison(roots[1], lift=0.07)
    uncalibrated = leave_one_out(toy_problem, roots, calibrate=lambda prob, dirs: prob.profile)
    calibrated = leave_one_out(toy_problem, roots)
    assert uncalibrated.mae_points > 10
    assert calibrated.mae_points < uncalibrated.mae_points / 4


def test_held_out_arms_calibrate_on_the_training_arms_and_predict_the_others(tmp_path, toy_problem):
    roots = [tmp_path / "c0", tmp_path / "c1"]
    comparison(roots[0])
    comparison(roots[1], lift=0.02)
    calibrate, seen = profile_by_training_set(toy_problem)

    v = held_out_arms(
        toy_problem,
        roots,
        train_runs=("workflow",),
        test_rows=("replay", "opd_only"),
        calibrate=calibrate,
    )

    assert seen == [["c0/workflow", "c1/workflow"]]  # one fit on every comparison's workflow
    both = with_share(toy_problem, 0.5)
    expected = []
    for root in roots:
        predicted = predicted_rows(both, root, ["replay", "opd_only"])
        expected += [
            (f"{root.name}:replay", predicted["replay"], measured_rows(root, "toy")["replay"]),
            (
                f"{root.name}:opd_only",
                predicted["opd_only"],
                measured_rows(root, "toy")["opd_only"],
            ),
        ]
    assert v.pairs == expected
    assert [m for _, _, m in v.pairs] == pytest.approx([0.31, 0.10, 0.33, 0.12])
