"""GNSS monitor: loss causes, spoofing gate and hysteresis, driven by an explicit clock."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikevim_ros.fix import (COVARIANCE_TYPE_DIAGONAL_KNOWN, COVARIANCE_TYPE_KNOWN,
                              COVARIANCE_TYPE_UNKNOWN, STATUS_NO_FIX, GeoFix)
from spikevim_ros.geo import LocalFrame
from spikevim_ros.gnss import (GnssHealth, GnssMonitor, GnssMonitorConfig, mahalanobis_gate)

HOME = LocalFrame(55.5423, 38.2474)


def fix_at(stamp: float, east: float = 0.0, north: float = 0.0, sigma: float = 2.0,
           status: int = 0, altitude: float = 180.0, cov_type=COVARIANCE_TYPE_DIAGONAL_KNOWN
           ) -> GeoFix:
    lat, lon = HOME.to_latlon(east, north)
    return GeoFix(stamp=stamp, latitude=float(lat), longitude=float(lon), altitude=altitude,
                  status=status, covariance_enu=np.diag([sigma ** 2, sigma ** 2, 4 * sigma ** 2]),
                  covariance_type=cov_type, frame_id='gnss')


def healthy_monitor(**overrides) -> tuple[GnssMonitor, float]:
    """Return a monitor fed 10 Hz good fixes until OK, and the clock time reached."""
    config = GnssMonitorConfig(**{'recover_good_fixes': 3, 'recover_seconds': 0.5, **overrides})
    monitor = GnssMonitor(config)
    t = 100.0
    for _ in range(10):
        monitor.on_gnss(fix_at(t), t)
        t += 0.1
    assert monitor.evaluate(t).health is GnssHealth.OK
    return monitor, t


def test_starts_lost_and_needs_both_fix_count_and_duration():
    monitor = GnssMonitor(GnssMonitorConfig(recover_good_fixes=5, recover_seconds=1.0))
    status = monitor.evaluate(10.0)
    assert status.health is GnssHealth.LOST and 'no GNSS fix' in status.reason
    t = 10.0
    for i in range(5):  # five fixes within 0.4 s: count reached, duration not
        monitor.on_gnss(fix_at(t), t)
        assert monitor.evaluate(t).health is GnssHealth.LOST
        t += 0.1
    assert monitor.evaluate(10.9).health is GnssHealth.LOST   # duration 0.9 s < 1.0 s
    monitor.on_gnss(fix_at(11.0), 11.0)
    status = monitor.evaluate(11.0)
    assert status.health is GnssHealth.OK and status.since == 11.0
    assert status.last_good_fix.stamp == 11.0


@pytest.mark.parametrize('bad_fix, words', [
    (fix_at(0.0, status=STATUS_NO_FIX), 'no fix'),
    (GeoFix(0.0, math.nan, 38.0, 100.0, covariance_enu=np.eye(3),
            covariance_type=COVARIANCE_TYPE_DIAGONAL_KNOWN), 'non-finite'),
    (GeoFix(0.0, 55.0, 38.0, math.nan, covariance_enu=np.eye(3),
            covariance_type=COVARIANCE_TYPE_DIAGONAL_KNOWN), 'non-finite'),
    (fix_at(0.0, sigma=25.0), 'horizontal sigma 25.0 m'),
])
def test_bad_fix_makes_gnss_lost_at_once(bad_fix, words):
    monitor, t = healthy_monitor()
    bad = GeoFix(**{**bad_fix.__dict__, 'stamp': t})
    monitor.on_gnss(bad, t)
    status = monitor.evaluate(t)
    assert status.health is GnssHealth.LOST
    assert words in status.reason
    assert status.since == t
    assert status.last_good_fix.stamp < t  # the bad fix is never the last good one


def test_unknown_covariance_is_not_a_degraded_fix():
    monitor, t = healthy_monitor()
    monitor.on_gnss(fix_at(t, sigma=50.0, cov_type=COVARIANCE_TYPE_UNKNOWN), t)
    assert monitor.evaluate(t).health is GnssHealth.OK


def test_silence_beyond_timeout_follows_the_given_clock():
    monitor, t = healthy_monitor(timeout_s=1.0)
    last = t - 0.1
    assert monitor.evaluate(last + 0.99).health is GnssHealth.OK
    status = monitor.evaluate(last + 1.01)
    assert status.health is GnssHealth.LOST and 'no GNSS fix for 1.01 s' in status.reason
    assert status.last_good_age(last + 1.01) == pytest.approx(1.01)


def test_bad_fix_or_gap_restarts_the_recovery_streak():
    monitor, t = healthy_monitor(recover_good_fixes=3, recover_seconds=0.0, timeout_s=1.0)
    monitor.on_gnss(fix_at(t, status=STATUS_NO_FIX), t)
    monitor.on_gnss(fix_at(t + 0.1), t + 0.1)
    monitor.on_gnss(fix_at(t + 0.2), t + 0.2)
    monitor.on_gnss(fix_at(t + 0.3, sigma=30.0), t + 0.3)          # breaks the streak
    monitor.on_gnss(fix_at(t + 0.4), t + 0.4)
    monitor.on_gnss(fix_at(t + 0.5), t + 0.5)
    assert monitor.evaluate(t + 0.5).health is GnssHealth.LOST
    assert monitor.evaluate(t + 0.5).good_streak == 2
    monitor.on_gnss(fix_at(t + 2.0), t + 2.0)                       # after a 1.5 s gap
    assert monitor.evaluate(t + 2.0).good_streak == 1
    monitor.on_gnss(fix_at(t + 2.1), t + 2.1)
    monitor.on_gnss(fix_at(t + 2.2), t + 2.2)
    assert monitor.evaluate(t + 2.2).health is GnssHealth.OK


def test_confident_vision_far_from_gnss_flags_spoofing_and_latches():
    monitor, t = healthy_monitor(recover_good_fixes=2, recover_seconds=0.0)
    gnss_stamp = t - 0.1
    far_vision = fix_at(gnss_stamp, east=300.0, sigma=10.0)
    monitor.on_vision(far_vision, t, confident=False)
    assert monitor.evaluate(t).health is GnssHealth.OK              # unconfident: ignored
    monitor.on_vision(far_vision, t, confident=True)
    status = monitor.evaluate(t)
    assert status.health is GnssHealth.LOST
    assert status.reason.startswith('spoofing suspected: GNSS is 300 m')
    # good-looking fixes long after the vision fix cannot be checked: no recovery
    for k in range(1, 6):
        monitor.on_gnss(fix_at(t + 2 + 0.1 * k), t + 2 + 0.1 * k)
    assert monitor.evaluate(t + 2.5).health is GnssHealth.LOST
    # a confident vision fix that agrees clears the suspicion; then the hysteresis applies
    monitor.on_vision(fix_at(t + 2.5, east=3.0, sigma=5.0), t + 2.6, confident=True)
    monitor.on_gnss(fix_at(t + 2.6), t + 2.6)
    assert monitor.evaluate(t + 2.6).health is GnssHealth.LOST
    monitor.on_gnss(fix_at(t + 2.7), t + 2.7)
    assert monitor.evaluate(t + 2.7).health is GnssHealth.OK


def test_gnss_jump_away_from_recent_vision_is_caught_on_the_gnss_side():
    monitor, t = healthy_monitor()
    monitor.on_vision(fix_at(t, east=2.0, sigma=5.0), t, confident=True)
    monitor.on_gnss(fix_at(t + 0.1, east=2.0), t + 0.1)
    assert monitor.evaluate(t + 0.1).health is GnssHealth.OK      # agrees
    monitor.on_gnss(fix_at(t + 0.2, north=500.0), t + 0.2)          # jump
    status = monitor.evaluate(t + 0.2)
    assert status.health is GnssHealth.LOST and 'spoofing' in status.reason
    assert status.last_good_fix.stamp == pytest.approx(t + 0.1)


def test_stamp_gap_allows_for_motion_and_limits_comparison():
    # last GNSS stamp is t - 0.1; a vision fix 30 m away stamped 0.9 s later is consistent
    # thanks to 18 m of motion allowance, but the same offset at equal stamps is not
    monitor, t = healthy_monitor(spoof_speed_m_s=20.0, spoof_max_gap_s=1.0)
    monitor.on_vision(fix_at(t + 0.8, east=30.0, sigma=3.0), t, confident=True)
    assert monitor.evaluate(t).health is GnssHealth.OK
    monitor.on_vision(fix_at(t - 0.1, east=30.0, sigma=3.0), t, confident=True)
    assert monitor.evaluate(t).health is GnssHealth.LOST
    # beyond the stamp gap nothing is compared, even 1 km away
    monitor, t = healthy_monitor(spoof_max_gap_s=1.0)
    monitor.on_vision(fix_at(t + 5.0, east=1000.0, sigma=3.0), t, confident=True)
    assert monitor.evaluate(t).health is GnssHealth.OK


def test_gate_uses_both_covariances():
    gnss = fix_at(0.0, sigma=1.0)
    elongated = np.diag([400.0, 1.0, 1.0])   # vision uncertain east-west only
    east_off = GeoFix(**{**fix_at(0.0, east=40.0).__dict__, 'covariance_enu': elongated,
                         'covariance_type': COVARIANCE_TYPE_KNOWN})
    north_off = GeoFix(**{**fix_at(0.0, north=40.0).__dict__, 'covariance_enu': elongated,
                          'covariance_type': COVARIANCE_TYPE_KNOWN})
    along = mahalanobis_gate(gnss, east_off, 13.8, fallback_sigma_m=10.0)
    across = mahalanobis_gate(gnss, north_off, 13.8, fallback_sigma_m=10.0)
    assert along.distance_m == pytest.approx(40.0, rel=1e-3)
    assert along.passed and along.mahalanobis_sq == pytest.approx(1600 / 401, rel=1e-3)
    assert not across.passed and across.mahalanobis_sq == pytest.approx(800, rel=1e-3)


def test_clock_jump_back_resets_state():
    monitor, t = healthy_monitor()
    status = monitor.evaluate(t - 30.0)
    assert status.health is GnssHealth.LOST and 'clock jumped back' in status.reason
    assert status.last_good_fix is None


@pytest.mark.parametrize('field, value', [('timeout_s', 0.0), ('recover_seconds', -1.0),
                                          ('spoof_gate_chi2', math.nan)])
def test_config_refuses_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        GnssMonitorConfig(**{field: value})


def test_slow_inference_still_compares_with_the_gnss_fix_of_the_frame_time():
    monitor, t = healthy_monitor()
    frame_stamp = t
    for k in range(200):            # 20 s of 10 Hz GNSS while the frame is being processed
        monitor.on_gnss(fix_at(t + 0.1 * k, east=400.0 if k < 5 else 0.0), t + 0.1 * k)
    monitor.on_vision(fix_at(frame_stamp, sigma=3.0), t + 20.0, confident=True)
    status = monitor.evaluate(t + 20.0)
    assert status.health is GnssHealth.LOST and 'GNSS is 400 m' in status.reason


def with_fields(fix: GeoFix, **changes) -> GeoFix:
    return GeoFix(**{**fix.__dict__, **changes})


NAN_KNOWN = np.full((3, 3), np.nan)
NEGATIVE = np.diag([-4.0, -4.0, 16.0])


@pytest.mark.parametrize('changes, words', [
    ({'covariance_enu': NAN_KNOWN, 'covariance_type': COVARIANCE_TYPE_KNOWN}, 'not finite'),
    ({'covariance_enu': NEGATIVE, 'covariance_type': COVARIANCE_TYPE_DIAGONAL_KNOWN}, 'negative'),
    ({'covariance_enu': np.array([[1.0, 5.0, 0.0], [5.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
      'covariance_type': COVARIANCE_TYPE_KNOWN}, 'negative'),
    ({'covariance_type': 9}, 'covariance type 9'),
    ({'status': 7}, 'status 7'),
    ({'status': -5}, 'status -5'),
    ({'service': 0x100}, 'service 256'),
])
def test_malformed_fix_fields_make_gnss_lost(changes, words):
    monitor, t = healthy_monitor()
    monitor.on_gnss(with_fields(fix_at(t), **changes), t)
    status = monitor.evaluate(t)
    assert status.health is GnssHealth.LOST and words in status.reason
    assert status.last_good_fix.stamp < t


@pytest.mark.parametrize('offset, words', [(1e6, 'in the future'), (-1e6, 'stale'),
                                           (-5.0, 'stale'), (math.inf, 'in the future')])
def test_fix_stamped_far_from_the_clock_makes_gnss_lost(offset, words):
    monitor, t = healthy_monitor()
    monitor.on_gnss(fix_at(t + offset), t)
    status = monitor.evaluate(t)
    assert status.health is GnssHealth.LOST and words in status.reason


def test_repeated_bad_fixes_never_recover():
    monitor = GnssMonitor(GnssMonitorConfig(recover_good_fixes=2, recover_seconds=0.0))
    for k in range(20):
        t = 10.0 + 0.1 * k
        monitor.on_gnss(with_fields(fix_at(t), covariance_enu=NAN_KNOWN,
                                    covariance_type=COVARIANCE_TYPE_KNOWN), t)
        assert monitor.evaluate(t).health is GnssHealth.LOST


@pytest.mark.parametrize('covariance', [np.diag([-100.0, -100.0, 1.0]), NAN_KNOWN])
def test_gate_never_passes_a_far_fix_because_of_a_bad_covariance(covariance):
    far = with_fields(fix_at(0.0, east=5000.0), covariance_enu=covariance,
                      covariance_type=COVARIANCE_TYPE_KNOWN)
    result = mahalanobis_gate(far, fix_at(0.0, sigma=3.0), 13.8, fallback_sigma_m=10.0)
    assert not result.passed and result.mahalanobis_sq > 13.8


def test_gnss_position_at_a_frame_stamp_is_interpolated_between_good_fixes():
    monitor = GnssMonitor()
    monitor.on_gnss(fix_at(10.0, east=0.0, sigma=2.0), 10.0)
    monitor.on_gnss(fix_at(10.2, east=3.0, sigma=3.0), 10.2)
    between = monitor.gnss_at(10.15)
    east, north = HOME.to_en(between.latitude, between.longitude)
    assert (float(east), float(north)) == pytest.approx((2.25, 0.0), abs=1e-3)
    assert between.stamp == 10.15 and between.horizontal_sigma_m == pytest.approx(3.0)
    assert monitor.gnss_at(10.2).horizontal_sigma_m == pytest.approx(3.0)   # on a fix
    assert monitor.gnss_at(10.3) is None       # no fix after it yet: never extrapolated
    monitor.on_gnss(fix_at(12.0, east=30.0), 12.0)
    assert monitor.gnss_at(11.5) is None       # the fixes around it are too far apart
    monitor.on_gnss(fix_at(math.nan, east=30.0), 12.1)                      # refused fix
    assert monitor.gnss_at(12.05) is None
