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
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Imu, Range  # noqa: E402

from fallback_world import ALTITUDE_AGL, view  # noqa: E402
from spikevim_ros.ros.time import seconds_to_stamp  # noqa: E402

from ros_feeder import Feeder, diagnostic, gnss_fix  # noqa: E402
import test_node_fallback  # noqa: E402
from test_node_fallback import start_node, wait_output  # noqa: E402

world, feeder = test_node_fallback.world, test_node_fallback.feeder   # the same fixtures
NORTH = (0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5))   # ENU/FLU: nose north, level


class AircraftPublisher:
    """Publishes the autopilot's topics (mavros-like, 10 Hz) from the feeder node."""

    def __init__(self, feeder: Feeder) -> None:
        self.feeder = feeder
        node = feeder.node
        self.imu = node.create_publisher(Imu, 'imu/data', qos_profile_sensor_data)
        self.range = node.create_publisher(Range, 'rangefinder', qos_profile_sensor_data)
        self.odom = node.create_publisher(Odometry, 'odom', qos_profile_sensor_data)
        self.values: dict = {}            # publish() arguments of the 10 Hz stream
        node.create_timer(0.1, lambda: self.publish(**self.values))

    def publish(self, orientation=NORTH, distance: float = ALTITUDE_AGL,
                position=(0.0, 0.0, ALTITUDE_AGL), age: float = 0.0) -> None:
        """Publish one message on each input, stamped ``age`` seconds ago."""
        stamp = seconds_to_stamp(self.feeder.now() - age)
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, 'base_link'
        imu.orientation.x, imu.orientation.y, imu.orientation.z, imu.orientation.w = orientation
        self.imu.publish(imu)
        rng = Range(radiation_type=Range.INFRARED, field_of_view=0.05, min_range=0.2,
                    max_range=200.0, range=float(distance))
        rng.header.stamp, rng.header.frame_id = stamp, 'rangefinder'
        self.range.publish(rng)
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, 'odom', 'base_link'
        pose = odom.pose.pose
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
        pose.orientation.z, pose.orientation.w = NORTH[2], NORTH[3]
        odom.twist.twist.linear.x = 5.0
        self.odom.publish(odom)


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
    feeder.spin_for(0.7)
    values = {v.key: v.value for v in diagnostic(feeder, 'inference').values}
    assert values['search_path'] == 'in_flight', values
    assert diagnostic(feeder, 'aircraft').level == DiagnosticStatus.OK

    bad, prefix, words = BAD_INPUTS[case]
    if case == 'stale_stamps':
        aircraft.values = bad          # the whole stream turns stale
    else:
        aircraft.publish(**bad)        # one bad message in a good stream

    def warned():
        status = diagnostic(feeder, 'aircraft')
        return status is not None and status.level == DiagnosticStatus.WARN \
            and prefix in status.message
    assert feeder.spin_until(warned, 10.0), diagnostic(feeder, 'aircraft')
    assert words in diagnostic(feeder, 'aircraft').message
    stamp = feeder.publish_frame(image)           # still localizing
    wait_output(feeder, 'fix', stamp, proc)
    assert proc.poll() is None
