"""A package node publishes a NavSatFix over real DDS; a node in this process receives it."""

from __future__ import annotations

import math
import time

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import NavSatFix  # noqa: E402


def test_fix_publisher_reaches_another_process(rclpy_context, ros_process):
    proc = ros_process('spikevim_ros.ros.fix_publisher', '--ros-args',
                       '-p', 'latitude:=55.5423', '-p', 'longitude:=38.2474',
                       '-p', 'altitude:=181.5', '-p', 'sigma_m:=3.0', '-p', 'rate_hz:=20.0',
                       '-p', 'frame_id:=gnss_antenna')
    node = rclpy.create_node('roundtrip_listener', context=rclpy_context)
    received: list[NavSatFix] = []
    node.create_subscription(NavSatFix, 'gnss/fix', received.append, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    deadline = time.monotonic() + 20.0
    while not received and time.monotonic() < deadline and proc.poll() is None:
        executor.spin_once(timeout_sec=0.1)
    node.destroy_node()
    assert proc.poll() is None, proc.stdout.read()
    assert received, 'no NavSatFix arrived from the fix_publisher process'
    msg = received[0]
    assert msg.header.frame_id == 'gnss_antenna'
    assert (msg.latitude, msg.longitude, msg.altitude) == (55.5423, 38.2474, 181.5)
    assert msg.status.status == 0
    assert msg.position_covariance_type == NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN
    assert math.isclose(msg.position_covariance[0], 9.0)
    assert math.isclose(msg.position_covariance[8], 36.0)
    assert msg.header.stamp.sec > 0
