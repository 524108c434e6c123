"""
The aircraft's own knowledge, validated: camera attitude, height above ground, odometry.

ROS-free and clock-agnostic (the node and ``spikevim replay`` feed it plain numbers with message
stamps and their clock). Every input is optional and never trusted blindly: a message is rejected
(and counted, with its reason, for diagnostics) when it is not finite, out of range, a jump from
the previous message, or stamped too far from the clock; an accepted value is used only while it
is younger than its timeout.

Height above ground comes from the first fresh source in :data:`HEIGHT_SOURCES`: a rangefinder
(measured to the ground under the aircraft), the autopilot's height above home
(mavros ``global_position/rel_alt``), then, while the primary GNSS is healthy and
``height_from_gnss`` is on, the GNSS altitude minus the ground elevation.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

import numpy as np

from spikevim_ros.aircraft.attitude import (CameraMount, camera_attitude_deg, quaternion_problem,
                                            rotation_from_quaternion, tilt_cosine)
from spikevim_ros.aircraft.channel import Health, InputChannel
from spikevim_ros.aircraft.odometry import Odometry, odometry_from_values, odometry_problem

HEIGHT_SOURCES = ('rangefinder', 'rel_alt', 'gnss')
MAX_HEIGHT_M = 10000.0
MAX_ANGULAR_RATE_DEG_S = 400.0   # faster attitude changes between two messages are jumps
ATTITUDE_JUMP_MARGIN_DEG = 10.0
MAX_VERTICAL_SPEED_M_S = 50.0    # rel_alt / GNSS height steps beyond this are jumps
HEIGHT_JUMP_MARGIN_M = 20.0


@dataclass(frozen=True)
class AircraftInputsConfig:
    """Timeouts, camera mount and limits of the aircraft inputs (seconds, metres, degrees)."""

    attitude_timeout_s: float = 0.5
    height_timeout_s: float = 2.0
    odometry_timeout_s: float = 1.0
    mount: CameraMount = CameraMount()
    height_from_gnss: bool = False
    ground_altitude_m: float = 0.0
    odometry_max_speed_m_s: float = 60.0


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cosine = (float(np.trace(a.T @ b)) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


class AircraftInputs:
    """Validated attitude, height and odometry; thread-safe (callbacks vs. inference)."""

    def __init__(self, config: AircraftInputsConfig | None = None) -> None:
        self.config = config or AircraftInputsConfig()
        self._lock = threading.Lock()
        self._odometry_epoch = 0
        c = self.config
        self.channels = {'attitude': InputChannel('attitude', c.attitude_timeout_s),
                         'rangefinder': InputChannel('rangefinder', c.height_timeout_s),
                         'rel_alt': InputChannel('rel_alt', c.height_timeout_s),
                         'gnss': InputChannel('gnss height', c.height_timeout_s),
                         'odometry': InputChannel('odometry', c.odometry_timeout_s)}

    def configure(self, config: AircraftInputsConfig) -> None:
        """Apply new settings (timeouts, mount...) keeping the received samples."""
        with self._lock:
            self.config = config
            for name, channel in self.channels.items():
                channel.timeout_s = {'attitude': config.attitude_timeout_s,
                                     'odometry': config.odometry_timeout_s}.get(
                                         name, config.height_timeout_s)

    # ------------------------------------------------------------ inputs

    def on_orientation(self, xyzw, stamp: float, now: float) -> bool:
        """Take a body orientation quaternion (ENU from FLU); return whether it was accepted."""
        with self._lock:
            channel = self.channels['attitude']
            problem = quaternion_problem(xyzw)
            rotation = rotation_from_quaternion(xyzw) if problem is None else None
            previous = channel.previous
            if problem is None and previous is not None and previous.value is not None:
                turned = _angle_deg(previous.value, rotation)
                dt = abs(stamp - previous.stamp)
                if turned > MAX_ANGULAR_RATE_DEG_S * dt + ATTITUDE_JUMP_MARGIN_DEG:
                    problem = f'attitude jumped {turned:.0f} deg in {dt:.2f} s'
            return channel.offer(rotation, stamp, now, problem)

    def on_range(self, distance: float, min_range: float, max_range: float, stamp: float,
                 now: float) -> bool:
        """Take a downward rangefinder reading (metres along the sensor axis)."""
        problem = None
        if not math.isfinite(distance):
            problem = f'range is not finite ({distance})'
        elif distance < 0.0:
            problem = f'negative range {distance:g} m'
        elif distance < min_range or (max_range > min_range and distance > max_range):
            problem = f'range {distance:g} m outside the sensor limits [{min_range:g}, ' \
                      f'{max_range:g}] m'
        with self._lock:
            return self.channels['rangefinder'].offer(distance, stamp, now, problem)

    def on_relative_altitude(self, height: float, stamp: float, now: float) -> bool:
        """Take the autopilot's height above home (mavros ``global_position/rel_alt``)."""
        with self._lock:
            return self._offer_height('rel_alt', height, stamp, now)

    def on_gnss_altitude(self, altitude: float, stamp: float, now: float,
                         healthy: bool) -> bool:
        """Take a primary GNSS ellipsoidal altitude (used only while GNSS is healthy)."""
        if not (self.config.height_from_gnss and healthy):
            return False
        with self._lock:
            return self._offer_height('gnss', altitude - self.config.ground_altitude_m, stamp,
                                      now)

    def _offer_height(self, name: str, height: float, stamp: float, now: float) -> bool:
        channel = self.channels[name]
        problem = None
        if not (math.isfinite(height) and 0.0 < height <= MAX_HEIGHT_M):
            problem = f'height {height} m outside (0, {MAX_HEIGHT_M:g}]'
        elif channel.previous is not None and math.isfinite(channel.previous.value):
            step = abs(height - channel.previous.value)
            dt = abs(stamp - channel.previous.stamp)
            if step > MAX_VERTICAL_SPEED_M_S * dt + HEIGHT_JUMP_MARGIN_M:
                problem = f'height jumped {step:.0f} m in {dt:.2f} s'
        return channel.offer(height, stamp, now, problem)

    def on_odometry(self, position, orientation_xyzw, body_velocity, stamp: float,
                    now: float) -> bool:
        """Take an odometry message (position, orientation, body-frame linear velocity)."""
        odometry, problem = odometry_from_values(position, orientation_xyzw, body_velocity)
        with self._lock:
            channel = self.channels['odometry']
            if odometry is not None:
                previous = channel.previous
                problem = odometry_problem(
                    odometry, stamp if stamp > 0 else now,
                    previous.value if previous is not None else None,
                    previous.stamp if previous is not None else None,
                    self.config.odometry_max_speed_m_s)
                if problem is not None and 'jumped' in problem:
                    self._odometry_epoch += 1
                odometry = replace(odometry, epoch=self._odometry_epoch)
            return channel.offer(odometry, stamp, now, problem)

    def reject(self, name: str, problem: str, now: float) -> None:
        """Count a message of input ``name`` that was unusable before any value was read."""
        with self._lock:
            self.channels[name].reject(problem, now)

    # ------------------------------------------------------------ outputs

    def camera_attitude(self, now: float) -> tuple[float, float, float] | None:
        """Return the camera (yaw, pitch, roll) for the localizer, or None when not fresh."""
        with self._lock:
            sample = self.channels['attitude'].fresh(now)
            return None if sample is None else camera_attitude_deg(sample.value,
                                                                   self.config.mount)

    def height(self, now: float) -> tuple[float, str] | None:
        """Return (height above ground, source) from the first fresh source, or None."""
        with self._lock:
            for name in HEIGHT_SOURCES:
                sample = self.channels[name].fresh(now)
                if sample is None:
                    continue
                value = float(sample.value)
                attitude = self.channels['attitude'].fresh(now)
                if name == 'rangefinder' and attitude is not None:
                    value *= max(tilt_cosine(attitude.value), 0.0)   # slant range to height
                if value > 0.0:
                    return value, name
            return None

    def odometry(self, now: float) -> Odometry | None:
        """Return the newest fresh odometry sample (velocity in ENU), or None."""
        with self._lock:
            sample = self.channels['odometry'].fresh(now)
            return None if sample is None else sample.value

    def health(self, now: float) -> dict[str, Health]:
        """Return every input's health for diagnostics."""
        with self._lock:
            return {name: channel.health(now) for name, channel in self.channels.items()}
