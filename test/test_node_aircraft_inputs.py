"""
localizer_node with the aircraft's inputs over real DDS: the in-flight path, and bad inputs.

With a camera, an IMU attitude and a rangefinder the node takes the in-flight search path (one
scale, one heading). A bad message on each input (NaN quaternion, negative range, odometry jump,
stale stamp) is rejected with a /diagnostics warning while the node keeps publishing ~/fix.
"""

from __future__ import annotations

import math

import pytest

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from fallback_world import ALTITUDE_AGL, view  # noqa: E402

from ros_feeder import AircraftPublisher, diagnostic  # noqa: E402
from sim_scenarios import gnss_fix  # noqa: E402
import test_node_fallback  # noqa: E402
from test_node_fallback import start_node, wait_output  # noqa: E402

world, feeder = test_node_fallback.world, test_node_fallback.feeder   # the same fixtures


BAD_INPUTS = {
    'nan_quaternion': ({'orientation': (math.nan, 0.0, 0.0, 1.0)}, 'attitude rejected',
                       'not finite'),
    'negative_range': ({'distance': -4.0}, 'rangefinder rejected', 'negative range'),
    'odometry_jump': ({'position': (900.0, 0.0, ALTITUDE_AGL)}, 'odometry rejected', 'jumped'),
    'stale_stamps': ({'age': 30.0}, 'attitude rejected', 'stale stamp'),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_warns_while_node_keeps_publishing(case, world, feeder, ros_process):
    gallery_dir, raster = world
    proc = start_node(ros_process, f'gallery_dir:={gallery_dir}', 'max_frame_rate:=0.0',
                      'camera_hfov_deg:=60.0', 'diagnostics_period:=0.3',
                      'attitude_timeout:=2.0')
    assert feeder.transition('configure'), proc.stdout.read() if proc.poll() else 'configure'
    assert feeder.transition('activate')
    image, lat, lon = view(raster, 15.0, -10.0)
    feeder.gnss_source = lambda stamp: gnss_fix(stamp, lat, lon)
    aircraft = AircraftPublisher(feeder)

    feeder.spin_for(0.5)
    stamp = feeder.publish_frame(image)
    wait_output(feeder, 'fix', stamp, proc)

    def inference() -> dict:
        status = diagnostic(feeder, 'inference')
        return {} if status is None else {v.key: v.value for v in status.values}
    # the diagnostics that follow the frame (every 0.3 s; later on a loaded machine)
    assert feeder.spin_until(lambda: inference().get('frames_processed', '0') != '0', 30.0)
    assert inference()['search_path'] == 'in_flight', inference()
    assert diagnostic(feeder, 'aircraft').level == DiagnosticStatus.OK

    bad, prefix, words = BAD_INPUTS[case]

    def warned():
        status = diagnostic(feeder, 'aircraft')
        return status is not None and status.level == DiagnosticStatus.WARN \
            and prefix in status.message
    if case == 'stale_stamps':
        aircraft.values = bad          # the whole stream turns stale
        assert feeder.spin_until(warned, 30.0), diagnostic(feeder, 'aircraft')
    else:                              # one bad message in a good stream, sent again each
        for _ in range(10):            # 3 s: sensor-data QoS is best effort, it may be lost
            aircraft.publish(**bad)
            if feeder.spin_until(warned, 3.0):
                break
        assert warned(), diagnostic(feeder, 'aircraft')
    assert words in diagnostic(feeder, 'aircraft').message
    stamp = feeder.publish_frame(image)           # still localizing
    wait_output(feeder, 'fix', stamp, proc)
    assert proc.poll() is None
