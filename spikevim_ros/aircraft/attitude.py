"""
Camera attitude from the autopilot's body orientation and the camera mount.

Conventions (ROS REP 103 / REP 105): the world frame is ENU (x east, y north, z up) and the body
frame is FLU (x forward, y left, z up). ``sensor_msgs/Imu`` orientation from mavros
(``imu/data``) rotates body FLU vectors into ENU; mavros converts the autopilot's NED/FRD to this.

The mount describes the camera in the body frame with the localizer's camera convention
(:mod:`spikevim_ros.camera`) applied to the body instead of the world: (0, 0, 0) looks straight
down with the image top towards the nose; ``yaw_deg`` turns the image top clockwise (seen from
above) away from the nose, ``pitch_deg`` tilts the optical axis forward, ``roll_deg`` tilts it to
the image's right. A gimbal that holds nadir keeps the mount relative to a level frame that only
follows the body's heading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikevim_ros.camera import CameraPose

# body FLU from the (right, forward, up) frame in which the mount is written like a world pose
_FLU_FROM_RFU = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
MAX_QUATERNION_NORM_ERROR = 0.05


@dataclass(frozen=True)
class CameraMount:
    """The camera's orientation on the aircraft (degrees), see the module docstring."""

    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0
    gimbal_nadir: bool = False

    def body_from_camera(self) -> np.ndarray:
        """Return the rotation whose columns are the camera (OpenCV) axes in body FLU."""
        pose = CameraPose(0.0, 0.0, 1.0, self.yaw_deg, self.pitch_deg, self.roll_deg)
        return _FLU_FROM_RFU @ pose.world_from_camera()


def quaternion_problem(xyzw) -> str | None:
    """Return why an orientation quaternion (x, y, z, w) is unusable, or None."""
    q = np.asarray(xyzw, dtype=np.float64)
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        return f'orientation is not finite: {list(np.round(q, 4))}'
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > MAX_QUATERNION_NORM_ERROR:
        return f'orientation quaternion has norm {norm:.3f} (not a rotation)'
    return None


def rotation_from_quaternion(xyzw) -> np.ndarray:
    """Return the 3 x 3 rotation matrix of a (normalised) quaternion (x, y, z, w)."""
    x, y, z, w = np.asarray(xyzw, dtype=np.float64) / np.linalg.norm(xyzw)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def heading_only(world_from_body: np.ndarray) -> np.ndarray:
    """Return the level rotation (about up) with the body's heading."""
    forward = world_from_body[:, 0]
    yaw = math.atan2(forward[1], forward[0])
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def pose_angles_deg(world_from_camera: np.ndarray) -> tuple[float, float, float]:
    """Return (yaw, pitch, roll) in the convention of :class:`~spikevim_ros.camera.CameraPose`."""
    x_axis, y_axis, z_axis = world_from_camera.T
    pitch = math.asin(max(-1.0, min(1.0, -y_axis[2])))
    yaw = math.atan2(-y_axis[0], -y_axis[1])
    roll = math.atan2(x_axis[2], -z_axis[2])
    return math.degrees(yaw) % 360.0, math.degrees(pitch), math.degrees(roll)


def camera_attitude_deg(world_from_body: np.ndarray, mount: CameraMount
                        ) -> tuple[float, float, float]:
    """Return the camera's (yaw, pitch, roll) for the localizer from the ENU/FLU body rotation."""
    body = heading_only(world_from_body) if mount.gimbal_nadir else world_from_body
    return pose_angles_deg(body @ mount.body_from_camera())


def tilt_cosine(world_from_body: np.ndarray) -> float:
    """Return the cosine of the angle between the body's down axis and the vertical."""
    return float(world_from_body[2, 2])
