"""GeoFix -> ``sensor_msgs/NavSatFix`` (the other way is ROS-free: ``fix.fix_from_navsat``)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import NavSatFix

from spikevim_ros.fix import GeoFix
from spikevim_ros.ros.time import seconds_to_stamp


def fix_to_msg(fix: GeoFix, service: int | None = None) -> NavSatFix:
    """Convert a GeoFix to a NavSatFix message (``service`` overrides the fix's own)."""
    msg = NavSatFix()
    msg.header.stamp = seconds_to_stamp(fix.stamp)
    msg.header.frame_id = fix.frame_id
    msg.status.status = int(fix.status)
    msg.status.service = int(fix.service if service is None else service)
    msg.latitude = float(fix.latitude)
    msg.longitude = float(fix.longitude)
    msg.altitude = float(fix.altitude)
    msg.position_covariance = [float(v) for v in np.asarray(fix.covariance_enu).reshape(9)]
    msg.position_covariance_type = int(fix.covariance_type)
    return msg
