"""EER, minDCF and the DET curve of zoo.metrics on known cases and against independent references."""

import numpy as np
import pytest
import torch

from zoo.metrics import det_curve, eer, min_dcf

# targets 0.9, 0.7, 0.4; non-targets 0.8, 0.3, 0.2: at "accept >= 0.55" one target is missed and one
# non-target accepted, 1/3 each
HAND_SCORES = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2]
HAND_LABELS = [1, 0, 1, 1, 0, 0]


def test_separable_scores_give_zero_errors_and_a_threshold_between_the_classes():
    rate, threshold = eer([0.9, 0.8, 0.75, 0.2, 0.1], [1, 1, 1, 0, 0])
    assert rate == 0.0
    assert 0.2 < threshold < 0.75
    assert min_dcf([0.9, 0.8, 0.75, 0.2, 0.1], [1, 1, 1, 0, 0]) == 0.0


def test_reversed_scores_give_100_percent():
    rate, _ = eer([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])
    assert rate == 100.0
    assert min_dcf([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 1.0


def test_hand_computed_case():
    rate, threshold = eer(HAND_SCORES, HAND_LABELS)
    assert rate == pytest.approx(100 / 3)
    assert threshold == pytest.approx(0.55)
    # p_target 0.5: best point accepts >= 0.4 (fpr 1/3, fnr 0): 0.5 * 1/3 / 0.5
    assert min_dcf(HAND_SCORES, HAND_LABELS, p_target=0.5) == pytest.approx(1 / 3)
    # p_target 0.01: best point accepts only 0.9 (fnr 2/3, fpr 0): 0.01 * 2/3 / 0.01
    assert min_dcf(HAND_SCORES, HAND_LABELS) == pytest.approx(2 / 3)


def test_eer_interpolates_between_operating_points():
    # targets 0.9, 0.6; non-targets 0.7, 0.2, 0.1, 0.05: fpr stays 1/4 while fnr falls from 1/2 to 0 -> crossing at 1/4
    rate, threshold = eer([0.9, 0.7, 0.6, 0.2, 0.1, 0.05], [1, 0, 1, 0, 0, 0])
    assert rate == pytest.approx(25.0)
    assert 0.4 < threshold < 0.65


def test_ties_share_one_operating_point():
    fpr, fnr, thresholds = det_curve([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])
    assert thresholds.tolist() == [0.5]
    assert fpr.tolist() == [1.0] and fnr.tolist() == [0.0]
    assert eer([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])[0] == pytest.approx(50.0)


def test_det_curve_is_monotonic_and_matches_a_brute_force_sweep():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(1, 1, 60), rng.normal(0, 1, 200)].round(1)
    labels = np.r_[np.ones(60), np.zeros(200)]
    fpr, fnr, thresholds = det_curve(scores, labels)
    assert np.all(np.diff(thresholds) < 0) and np.all(np.diff(fpr) >= 0) and np.all(np.diff(fnr) <= 0)
    for t, a, r in zip(thresholds, fpr, fnr):
        assert a == pytest.approx(np.mean(scores[labels == 0] >= t))
        assert r == pytest.approx(np.mean(scores[labels == 1] < t))
    brute = min(
        (0.01 * np.mean(scores[labels == 1] < t) + 0.99 * np.mean(scores[labels == 0] >= t)) / 0.01
        for t in np.r_[np.inf, thresholds]
    )
    assert min_dcf(scores, labels) == pytest.approx(brute)


def test_eer_matches_the_voxceleb_reference_computation():
    """VoxCeleb / CryCeleb compute the EER as the root of 1 - x - tpr(x) on the linearly interpolated ROC."""
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq

    rng = np.random.default_rng(1)
    scores = np.r_[rng.normal(2, 1, 300), rng.normal(0, 1, 3000)]
    labels = np.r_[np.ones(300), np.zeros(3000)]
    fpr, fnr, _ = det_curve(scores, labels)
    fpr, tpr = np.r_[0.0, fpr], np.r_[0.0, 1 - fnr]
    reference = 100 * brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
    rate, threshold = eer(scores, labels)
    assert rate == pytest.approx(reference, abs=1e-6)
    # at the threshold both error rates are close to the EER
    miss, false_alarm = np.mean(scores[labels == 1] < threshold), np.mean(scores[labels == 0] >= threshold)
    assert abs(100 * miss - rate) < 1.0 and abs(100 * false_alarm - rate) < 1.0


def test_sklearn_and_fallback_agree(monkeypatch):
    pytest.importorskip("sklearn")
    import sys

    rng = np.random.default_rng(2)
    scores = np.r_[rng.normal(1, 1, 50), rng.normal(0, 1, 300)].round(2)
    labels = np.r_[np.ones(50), np.zeros(300)]
    with_sklearn = eer(scores, labels), min_dcf(scores, labels), det_curve(scores, labels)
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # import fails -> the sorted-scores fallback
    without = eer(scores, labels), min_dcf(scores, labels), det_curve(scores, labels)
    assert with_sklearn[:2] == without[:2]
    for a, b in zip(with_sklearn[2], without[2]):
        np.testing.assert_allclose(a, b)


def test_accepts_torch_tensors_and_booleans():
    rate, threshold = eer(torch.tensor(HAND_SCORES), torch.tensor(HAND_LABELS).bool())
    assert rate == pytest.approx(100 / 3) and threshold == pytest.approx(0.55)


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        ([0.1, 0.2], [1], "2 scores but 1 labels"),
        ([0.1, 0.2], [1, 1], "both target"),
        ([0.1, 0.2], [0, 0], "both target"),
        ([0.1, float("nan")], [1, 0], "NaN"),
        ([0.1, 0.2], [1, 2], "0/1"),
    ],
)
def test_bad_trials_are_refused_with_the_reason(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        eer(scores, labels)


def test_min_dcf_refuses_a_bad_prior():
    with pytest.raises(ValueError, match="p_target"):
        min_dcf(HAND_SCORES, HAND_LABELS, p_target=1.0)
