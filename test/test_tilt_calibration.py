"""The tilt sigma learnt from vision-GNSS differences (spikevim_ros/tilt_calibration.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikevim_ros.tilt_calibration import PRIOR_SAMPLES, TiltCalibration

HEIGHT_M = 600.0
EXPLAINED = np.diag([1.5 ** 2 + 1.8 ** 2, 1.5 ** 2 + 1.8 ** 2])   # alignment+map, GNSS


def differences(tilt_deg: float, count: int, seed: int) -> np.ndarray:
    """Draw vision-minus-GNSS differences whose tilt part has ``tilt_deg`` per axis."""
    rng = np.random.default_rng(seed)
    tilt_m = HEIGHT_M * math.tan(math.radians(tilt_deg))
    explained = rng.multivariate_normal(np.zeros(2), EXPLAINED, count)
    return explained + rng.normal(0.0, tilt_m, (count, 2))


@pytest.mark.parametrize('truth_deg', [0.15, 1.0, 2.0])
def test_learns_an_attitude_error_other_than_the_configured_one(truth_deg):
    calibration = TiltCalibration()
    assert calibration.sigma_deg(0.5) == pytest.approx(0.5)     # no pairs yet: the set value
    for delta in differences(truth_deg, 100, seed=int(truth_deg * 100)):
        calibration.add(delta, EXPLAINED, HEIGHT_M)
    assert calibration.pairs == 100
    # 100 pairs plus the set value counting as 2: within 25 % of the truth
    assert calibration.sigma_deg(0.5) == pytest.approx(truth_deg, rel=0.25)


def test_the_set_value_weighs_as_a_few_pairs_and_the_window_forgets():
    calibration = TiltCalibration()
    tan2 = math.tan(math.radians(1.0)) ** 2       # pairs that say exactly 1 deg
    exact = np.array([math.sqrt(np.trace(EXPLAINED) + 2.0 * HEIGHT_M ** 2 * tan2), 0.0])
    for _ in range(int(PRIOR_SAMPLES)):
        calibration.add(exact, EXPLAINED, HEIGHT_M)
    halfway = math.degrees(math.atan(math.sqrt(0.5 * (math.tan(math.radians(0.5)) ** 2 + tan2))))
    assert calibration.sigma_deg(0.5) == pytest.approx(halfway, rel=1e-3)   # ~0.79 deg
    for delta in differences(0.2, 400, seed=2):                 # conditions changed
        calibration.add(delta, EXPLAINED, HEIGHT_M)
    assert calibration.pairs == 100
    assert calibration.sigma_deg(0.5) == pytest.approx(0.2, rel=0.3)


def test_one_wrong_pair_cannot_blow_the_sigma_up_and_bad_input_is_ignored():
    calibration = TiltCalibration()
    for delta in differences(0.3, 50, seed=3):
        calibration.add(delta, EXPLAINED, HEIGHT_M)
    before = calibration.sigma_deg(0.5)
    calibration.add(np.array([5000.0, 0.0]), EXPLAINED, HEIGHT_M)     # a wrong match
    assert calibration.sigma_deg(0.5) < 2.0 * before
    for bad in ((np.array([math.nan, 0.0]), HEIGHT_M), (np.array([1.0, 1.0]), 0.0),
                (np.array([1.0, 1.0]), math.inf)):
        calibration.add(bad[0], EXPLAINED, bad[1])
    assert calibration.pairs == 51


def test_differences_explained_by_the_other_terms_leave_only_the_floor():
    calibration = TiltCalibration()
    for delta in differences(0.0, 200, seed=4):
        calibration.add(delta, EXPLAINED, HEIGHT_M)
    assert calibration.sigma_deg(0.5) < 0.15
