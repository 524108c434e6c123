"""Conversion between ROS time stamps and float seconds."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time


def stamp_to_seconds(stamp: Time) -> float:
    """Return a ``builtin_interfaces/Time`` as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    """Return float seconds as a ``builtin_interfaces/Time`` (negative or NaN -> zero)."""
    if not math.isfinite(seconds) or seconds < 0.0:
        return Time()
    sec = int(seconds)
    nanosec = min(int(round((seconds - sec) * 1e9)), 999_999_999)
    return Time(sec=sec, nanosec=nanosec)
