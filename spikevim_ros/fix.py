"""
Message-like position fixes shared by the GNSS monitor, the localizer and the ROS layer.

Plain dataclasses that mirror ``sensor_msgs/NavSatFix`` without importing ROS, so every piece of
logic can be tested without a ROS installation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# sensor_msgs/NavSatStatus.status values (identical on Humble and Jazzy).
STATUS_NO_FIX = -1
STATUS_FIX = 0
STATUS_SBAS_FIX = 1
STATUS_GBAS_FIX = 2
STATUS_VALUES = (STATUS_NO_FIX, STATUS_FIX, STATUS_SBAS_FIX, STATUS_GBAS_FIX)

# sensor_msgs/NavSatStatus.service bits (GPS, GLONASS, COMPASS, GALILEO).
SERVICE_GPS = 1
SERVICE_BITS = 0b1111

# sensor_msgs/NavSatFix.position_covariance_type values.
COVARIANCE_TYPE_UNKNOWN = 0
COVARIANCE_TYPE_APPROXIMATED = 1
COVARIANCE_TYPE_DIAGONAL_KNOWN = 2
COVARIANCE_TYPE_KNOWN = 3
COVARIANCE_TYPES = (COVARIANCE_TYPE_UNKNOWN, COVARIANCE_TYPE_APPROXIMATED,
                    COVARIANCE_TYPE_DIAGONAL_KNOWN, COVARIANCE_TYPE_KNOWN)


@dataclass(frozen=True)
class GeoFix:
    """A latitude/longitude/altitude fix with an east-north-up covariance in metres squared."""

    stamp: float                       # seconds (message stamp, ROS or simulated time)
    latitude: float
    longitude: float
    altitude: float
    status: int = STATUS_FIX
    covariance_enu: np.ndarray = field(default_factory=lambda: np.full((3, 3), np.nan))
    covariance_type: int = COVARIANCE_TYPE_UNKNOWN
    frame_id: str = ''
    service: int = SERVICE_GPS

    @property
    def has_position(self) -> bool:
        """Return True when latitude and longitude are finite and in range."""
        return (math.isfinite(self.latitude) and math.isfinite(self.longitude)
                and abs(self.latitude) <= 90.0 and abs(self.longitude) <= 180.0)

    @property
    def horizontal_sigma_m(self) -> float:
        """Return the 1-sigma horizontal error (sqrt of the larger eigenvalue), NaN if unknown."""
        if self.covariance_type == COVARIANCE_TYPE_UNKNOWN:
            return math.nan
        horizontal = np.asarray(self.covariance_enu, dtype=np.float64)[:2, :2]
        if not np.all(np.isfinite(horizontal)):
            return math.nan
        return float(math.sqrt(max(np.linalg.eigvalsh(horizontal).max(), 0.0)))


def fix_from_navsat(msg) -> GeoFix:
    """
    Convert a ``sensor_msgs/NavSatFix`` to a GeoFix (NaNs kept, never replaced).

    One conversion for the node (rclpy messages) and the replay (rosbags messages): both carry
    the same fields.
    """
    stamp = msg.header.stamp
    return GeoFix(stamp=stamp.sec + stamp.nanosec * 1e-9, latitude=float(msg.latitude),
                  longitude=float(msg.longitude), altitude=float(msg.altitude),
                  status=int(msg.status.status),
                  covariance_enu=np.asarray(msg.position_covariance, dtype=np.float64
                                            ).reshape(3, 3),
                  covariance_type=int(msg.position_covariance_type),
                  frame_id=str(msg.header.frame_id), service=int(msg.status.service))
