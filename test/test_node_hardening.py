"""localizer_node under hostile inputs: a wild altitude and malformed GNSS fixes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('rclpy')
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from std_msgs.msg import Float64  # noqa: E402

from fallback_world import view  # noqa: E402
from ros_feeder import diagnostic, latest_health  # noqa: E402
from sim_scenarios import gnss_fix  # noqa: E402
from spikevim_ros.fix import COVARIANCE_TYPE_KNOWN, GeoFix  # noqa: E402
from test_node_fallback import feeder, world  # noqa: E402, F401 - the node tests' fixtures


def value(status, key: str) -> str | None:
    """Return the diagnostic value under ``key`` (None when absent)."""
    return next((item.value for item in status.values if item.key == key), None) \
        if status is not None else None


def malformed(fix: GeoFix, mode: str) -> GeoFix:
    """Return ``fix`` broken the way ``mode`` says."""
    changes = {
        'nan_covariance': {'covariance_enu': np.full((3, 3), np.nan),
                           'covariance_type': COVARIANCE_TYPE_KNOWN},
        'negative_covariance': {'covariance_enu': np.diag([-4.0, -4.0, 16.0])},
        'future': {'stamp': fix.stamp + 1e6},
        'past': {'stamp': fix.stamp - 1e6},
        'status': {'status': 9},
        'service': {'service': 4096},
    }[mode]
    return GeoFix(**{**fix.__dict__, **changes})


def test_wild_altitude_and_malformed_gnss_fixes(world, feeder, ros_process):  # noqa: F811
    gallery_dir, raster = world
    args = ['--ros-args']
    for param in (f'gallery_dir:={gallery_dir}', 'recover_good_fixes:=3', 'recover_seconds:=0.5',
                  'gnss_timeout:=0.5', 'camera_hfov_deg:=60.0', 'diagnostics_period:=0.3'):
        args += ['-p', param]
    proc = ros_process('spikevim_ros.ros.localizer_node', *args)
    assert feeder.transition('configure'), proc.stdout.read() if proc.poll() else 'configure'
    assert feeder.transition('activate')
    image, lat, lon = view(raster, 15.0, -10.0)

    # an altitude of 1e9 m: rejected at the input with the reason; the frame is still processed
    # (with the fallback height, never with 1e9 m) and the node keeps running
    altitude = feeder.node.create_publisher(Float64, 'altitude_agl', qos_profile_sensor_data)
    assert feeder.spin_until(lambda: altitude.get_subscription_count() > 0, 30.0)
    altitude.publish(Float64(data=1e9))

    def rejected():
        status = diagnostic(feeder, 'aircraft')
        return status is not None and 'rel_alt rejected: height 1000000000.0 m outside' \
            in status.message

    assert feeder.spin_until(rejected, 30.0), diagnostic(feeder, 'aircraft')
    assert value(diagnostic(feeder, 'aircraft'), 'height_source') != 'rel_alt'
    feeder.publish_frame(image, 'rgb8')
    assert feeder.spin_until(
        lambda: value(diagnostic(feeder, 'inference'), 'frames_processed') == '1', 30.0)
    assert proc.poll() is None

    # every malformed GNSS fix makes GNSS LOST and is never forwarded on ~/fix_selected
    mode = {'now': 'good'}
    feeder.gnss_source = lambda stamp: (gnss_fix(stamp, lat, lon) if mode['now'] == 'good'
                                        else malformed(gnss_fix(stamp, lat, lon), mode['now']))
    selected = feeder.received['fix_selected']
    words = {'nan_covariance': 'not finite', 'negative_covariance': 'negative',
             'future': 'in the future', 'past': 'stale', 'status': 'status 9',
             'service': 'service 4096'}
    for bad, reason in words.items():
        mode['now'] = 'good'
        assert feeder.spin_until(lambda: latest_health(feeder) == 'OK', 20.0), bad
        mode['now'] = bad
        assert feeder.spin_until(lambda: latest_health(feeder) == 'LOST', 10.0), bad
        assert reason in feeder.received['gnss_state'][-1].message, bad
        feeder.spin_for(0.5)                     # fixes already in flight arrive
        before = len(selected)
        feeder.spin_for(1.5)
        assert len(selected) == before, f'{bad} fixes were forwarded on ~/fix_selected'
        assert latest_health(feeder) == 'LOST' and proc.poll() is None
