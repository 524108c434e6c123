"""Validation of an odometry stream (``nav_msgs/Odometry``): finite, no jumps, plausible speed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikevim_ros.aircraft.attitude import quaternion_problem, rotation_from_quaternion

JUMP_MARGIN_M = 5.0   # position noise allowed on top of max speed x time between messages


@dataclass(frozen=True)
class Odometry:
    """Position in the odometry frame, velocity in ENU (metres, m/s), frame epoch."""

    position: np.ndarray
    velocity_enu: np.ndarray
    epoch: int = 0      # increases when the odometry frame jumped (reset): positions differ
    variance_m2: float = 0.0  # position variance accumulated beyond the drift the pipeline
    #                           assumes (visual odometry coasting); differences count
    source: str = 'odometry input'  # what measured it (frames.csv ``motion``, diagnostics)


def odometry_from_values(position, orientation_xyzw, body_velocity
                         ) -> tuple[Odometry | None, str | None]:
    """
    Return the odometry of one message, or None and why it is unusable.

    ``body_velocity`` is the twist's linear part, expressed in the child (body) frame as
    REP 105 and mavros specify; the pose orientation rotates it into the world (ENU) frame.
    """
    position = np.asarray(position, dtype=np.float64)
    velocity = np.asarray(body_velocity, dtype=np.float64)
    if not (np.all(np.isfinite(position)) and np.all(np.isfinite(velocity))):
        return None, 'odometry position or velocity is not finite'
    problem = quaternion_problem(orientation_xyzw)
    if problem is not None:
        return None, f'odometry {problem}'
    return Odometry(position, rotation_from_quaternion(orientation_xyzw) @ velocity), None


def odometry_problem(odometry: Odometry, stamp: float, previous: Odometry | None,
                     previous_stamp: float | None, max_speed_m_s: float) -> str | None:
    """Return why a (finite) odometry sample is implausible next to the previous one, or None."""
    speed = float(np.linalg.norm(odometry.velocity_enu))
    if speed > max_speed_m_s:
        return f'odometry speed {speed:.1f} m/s exceeds {max_speed_m_s:g} m/s'
    if previous is None or previous_stamp is None:
        return None
    moved = float(np.linalg.norm(odometry.position - previous.position))
    dt = abs(stamp - previous_stamp)
    if moved > max_speed_m_s * dt + JUMP_MARGIN_M:
        return f'odometry position jumped {moved:.1f} m in {dt:.2f} s'
    return None
