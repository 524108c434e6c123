"""
Pinhole camera geometry over flat ground.

Conventions used everywhere in the package:

* World frame: local east/north/up metres (:class:`~spikevim_ros.geo.LocalFrame`), ground at up=0.
* Camera frame: OpenCV (x right, y down, z along the optical axis).
* Attitude of a downward-looking camera: ``yaw_deg`` is the heading of the image's "up" direction,
  clockwise from north; ``pitch_deg`` tilts the optical axis from nadir towards that heading;
  ``roll_deg`` tilts it sideways towards the image's right. (0, 0, 0) is a nadir, north-up view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of an undistorted pinhole camera."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> 'PinholeCamera':
        """Build a camera with square pixels from its horizontal field of view."""
        if not 1.0 <= hfov_deg <= 170.0:
            raise ValueError(f'horizontal field of view {hfov_deg} deg is outside [1, 170]')
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width, height, f, f, width / 2.0, height / 2.0)

    @property
    def matrix(self) -> np.ndarray:
        """Return the 3 x 3 intrinsic matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> 'PinholeCamera':
        """Return the same camera for an image resized to (width, height)."""
        sx, sy = width / self.width, height / self.height
        return PinholeCamera(width, height, self.fx * sx, self.fy * sy, self.cx * sx,
                             self.cy * sy)


@dataclass(frozen=True)
class CameraPose:
    """Camera position (local metres, height above ground) and attitude (degrees)."""

    east: float
    north: float
    altitude_agl: float
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0

    def world_from_camera(self) -> np.ndarray:
        """Return the rotation whose columns are the camera axes in world coordinates."""
        yaw, pitch, roll = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg,
                                                      self.roll_deg))
        s, c = math.sin(yaw), math.cos(yaw)
        x_axis = np.array([c, -s, 0.0])
        y_axis = np.array([-s, -c, 0.0])
        z_axis = np.array([0.0, 0.0, -1.0])
        cp, sp = math.cos(pitch), math.sin(pitch)
        y_axis, z_axis = cp * y_axis + sp * z_axis, cp * z_axis - sp * y_axis
        cr, sr = math.cos(roll), math.sin(roll)
        x_axis, z_axis = cr * x_axis - sr * z_axis, cr * z_axis + sr * x_axis
        return np.stack([x_axis, y_axis, z_axis], axis=1)


def ground_to_image(camera: PinholeCamera, pose: CameraPose) -> np.ndarray:
    """
    Return the homography mapping ground (east, north, 1) to image pixels (u, v, 1).

    Pixel coordinates are continuous, (0, 0) being the top-left corner of the first pixel.
    """
    if pose.altitude_agl <= 0.0:
        raise ValueError(f'camera altitude above ground must be positive, got {pose.altitude_agl}')
    rotation = pose.world_from_camera()
    off_nadir = math.degrees(math.acos(min(1.0, -rotation[2, 2])))
    half_diag = math.degrees(math.atan(math.hypot(camera.width / camera.fx,
                                                  camera.height / camera.fy) / 2.0))
    if off_nadir + half_diag >= 85.0:
        raise ValueError(f'view reaches the horizon: {off_nadir:.1f} deg off nadir with a '
                         f'{half_diag:.1f} deg half-diagonal field of view')
    cam_from_world = rotation.T
    centre = np.array([pose.east, pose.north, pose.altitude_agl])
    t = -cam_from_world @ centre
    h = camera.matrix @ np.column_stack([cam_from_world[:, 0], cam_from_world[:, 1], t])
    return h / h[2, 2]


def image_to_ground(camera: PinholeCamera, pose: CameraPose, u, v):
    """Project image pixels (continuous coordinates) to ground east/north metres."""
    inv = np.linalg.inv(ground_to_image(camera, pose))
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    w = inv[2, 0] * u + inv[2, 1] * v + inv[2, 2]
    return (inv[0, 0] * u + inv[0, 1] * v + inv[0, 2]) / w, \
        (inv[1, 0] * u + inv[1, 1] * v + inv[1, 2]) / w


def footprint_side_m(camera: PinholeCamera, altitude_agl: float) -> float:
    """Return the ground width seen by a nadir camera at an altitude (metres)."""
    return altitude_agl * camera.width / camera.fx
