"""
Simulated autopilot topics (what mavros publishes) with realistic noise, bias and dropouts.

* ``imu/data``: body orientation ENU/FLU with white noise and a slowly drifting yaw bias;
* ``rangefinder``: slant range along the body's down axis, noise, a range limit (+inf beyond, as
  REP 117 says) and random dropouts (+inf);
* ``global_position/rel_alt``: height above home (flat ground: the true height) with a slowly
  wandering barometric bias;
* ``local_position/odom``: position drifting from the truth and body-frame velocity with noise.

The body is derived from the true camera pose and the camera mount, so the attitude the node
reconstructs from ``imu/data`` and the mount is exactly the rendered camera's, up to the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikevim_ros.aircraft.attitude import CameraMount
from spikevim_ros.camera import CameraPose

RANGEFINDER_MIN_M = 0.2


@dataclass(frozen=True)
class AircraftSensorConfig:
    """Which autopilot topics are written, their rate and their errors."""

    imu: bool = True
    rangefinder: bool = True
    rel_alt: bool = True
    odometry: bool = True
    rate_hz: float = 10.0
    attitude_noise_deg: float = 0.3        # white, per axis
    yaw_drift_deg_per_min: float = 0.5     # slow heading bias growth (magnetometer-free EKF)
    range_noise_m: float = 0.1             # plus 0.5 % of the range
    range_max_m: float = 300.0
    range_dropout: float = 0.05            # fraction of readings lost (+inf)
    baro_bias_sigma_m: float = 2.0         # slow wander of rel_alt
    baro_noise_m: float = 0.3
    odometry_drift_m_s: float = 0.05       # velocity bias integrated into the position
    velocity_noise_m_s: float = 0.1


def rotation_about(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Return the rotation matrix about a unit axis (Rodrigues)."""
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1.0 - math.cos(angle_rad)) * (k @ k)


class AircraftSensors:
    """Turn true camera poses into noisy autopilot measurements (reproducible from the seed)."""

    def __init__(self, config: AircraftSensorConfig, mount: CameraMount, seed: int = 0) -> None:
        self.config = config
        self._body_from_camera = mount.body_from_camera()
        self._rng = np.random.default_rng(seed)
        self._yaw_rate = math.radians(config.yaw_drift_deg_per_min) / 60.0 \
            * self._rng.choice((-1.0, 1.0))
        self._baro_bias = self._rng.normal(0.0, config.baro_bias_sigma_m)
        self._velocity_bias = self._rng.normal(0.0, config.odometry_drift_m_s, 2)

    def world_from_body(self, pose: CameraPose, t: float) -> np.ndarray:
        """Return the measured body orientation (ENU from FLU) at ``t`` seconds of flight."""
        truth = pose.world_from_camera() @ self._body_from_camera.T
        noise = self._rng.normal(0.0, math.radians(self.config.attitude_noise_deg), 3)
        angle = float(np.linalg.norm(noise))
        error = rotation_about(noise / angle, angle) if angle > 0.0 else np.eye(3)
        drift = rotation_about(np.array([0.0, 0.0, 1.0]), self._yaw_rate * t)
        return drift @ error @ truth

    def range(self, pose: CameraPose, world_from_body: np.ndarray) -> float:
        """Return the rangefinder reading along the true body's down axis (+inf: none)."""
        c = self.config
        tilt_cos = max(float(world_from_body[2, 2]), 1e-3)
        distance = pose.altitude_agl / tilt_cos
        if distance > c.range_max_m or self._rng.random() < c.range_dropout:
            return math.inf
        return distance + self._rng.normal(0.0, c.range_noise_m + 0.005 * distance)

    def rel_alt(self, pose: CameraPose, dt: float) -> float:
        """Return the height above home (flat ground) with a wandering barometric bias."""
        c = self.config
        decay = math.exp(-dt / 60.0)
        self._baro_bias = decay * self._baro_bias + self._rng.normal(
            0.0, c.baro_bias_sigma_m * math.sqrt(1.0 - decay * decay))
        return pose.altitude_agl + self._baro_bias + self._rng.normal(0.0, c.baro_noise_m)

    def odometry(self, position_enu: np.ndarray, velocity_enu: np.ndarray, t: float,
                 world_from_body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the drifting odometry position (ENU) and the body-frame (FLU) velocity."""
        bias = np.append(self._velocity_bias, 0.0)
        noise = np.append(self._rng.normal(0.0, self.config.velocity_noise_m_s, 2), 0.0)
        return position_enu + bias * t, world_from_body.T @ (velocity_enu + bias + noise)
