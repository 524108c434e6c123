"""
A bench-test GNSS: publishes a fixed NavSatFix at a set rate on ``gnss/fix``.

Useful to exercise the localizer node on a bench without a receiver, and to check a ROS 2
installation (``ros2 run spikevim_ros fix_publisher --ros-args -p latitude:=55.54``).
"""

from __future__ import annotations

import sys

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import NavSatFix

from spikevim_ros.fix import COVARIANCE_TYPE_DIAGONAL_KNOWN, STATUS_FIX, GeoFix
from spikevim_ros.ros.navsat import fix_to_msg


class FixPublisher(Node):
    """Publish the fix given by parameters at ``rate_hz``."""

    def __init__(self) -> None:
        super().__init__('fix_publisher')
        self.declare_parameter('latitude', 0.0)
        self.declare_parameter('longitude', 0.0)
        self.declare_parameter('altitude', 0.0)
        self.declare_parameter('sigma_m', 2.0)
        self.declare_parameter('status', STATUS_FIX)
        self.declare_parameter('frame_id', 'gnss')
        self.declare_parameter('rate_hz', 5.0)
        self.publisher = self.create_publisher(NavSatFix, 'gnss/fix', qos_profile_sensor_data)
        rate = self.get_parameter('rate_hz').value
        self.timer = self.create_timer(1.0 / max(rate, 1e-3), self.publish_fix)

    def publish_fix(self) -> None:
        """Publish one fix stamped with the node clock."""
        p = {name: self.get_parameter(name).value
             for name in ('latitude', 'longitude', 'altitude', 'sigma_m', 'status', 'frame_id')}
        sigma = p['sigma_m']
        fix = GeoFix(stamp=self.get_clock().now().nanoseconds * 1e-9, latitude=p['latitude'],
                     longitude=p['longitude'], altitude=p['altitude'], status=p['status'],
                     covariance_enu=np.diag([sigma ** 2, sigma ** 2, (2 * sigma) ** 2]),
                     covariance_type=COVARIANCE_TYPE_DIAGONAL_KNOWN, frame_id=p['frame_id'])
        self.publisher.publish(fix_to_msg(fix))


def main(args: list[str] | None = None) -> int:
    """Run the node until shut down."""
    rclpy.init(args=args)
    try:
        rclpy.spin(FixPublisher())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
