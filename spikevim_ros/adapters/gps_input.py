"""
MAVLink ``GPS_INPUT`` (ArduPilot ``GPS1_TYPE=14``) from a fix, published through mavros.

:func:`gps_input_fields` is pure Python; :func:`make_gps_input` fills a ``mavros_msgs/GPSINPUT``
and is only used when ``mavros_msgs`` imports. ``GPS_INPUT.alt`` is above mean sea level, hence
``geoid_separation_m``; velocities are not measured and are flagged as ignored.
"""

from __future__ import annotations

import math

import numpy as np

from spikevim_ros.fix import GeoFix

GPS_EPOCH_UNIX = 315964800          # 1980-01-06T00:00:00Z
GPS_LEAP_SECONDS = 18               # GPS - UTC since 2017-01-01
SECONDS_PER_WEEK = 604800
FIX_TYPE_NO_FIX = 1
FIX_TYPE_3D = 3
IGNORE_VEL_HORIZ = 8
IGNORE_VEL_VERT = 16
IGNORE_SPEED_ACCURACY = 32
IGNORE_VERTICAL_ACCURACY = 128


def gps_week_time(unix_seconds: float) -> tuple[int, int]:
    """Return (GPS week, milliseconds into the week) for a UTC Unix time."""
    gps = unix_seconds - GPS_EPOCH_UNIX + GPS_LEAP_SECONDS
    week = int(gps // SECONDS_PER_WEEK)
    return week, int(round((gps - week * SECONDS_PER_WEEK) * 1000.0))


def gps_input_fields(fix: GeoFix, satellites: int = 10, gps_id: int = 0,
                     geoid_separation_m: float = 0.0) -> dict[str, float | int]:
    """Return the ``GPSINPUT`` field values for ``fix`` (names as in mavros_msgs)."""
    cov = np.asarray(fix.covariance_enu, dtype=np.float64)
    sigma_h = fix.horizontal_sigma_m
    sigma_v = math.sqrt(cov[2, 2]) if math.isfinite(cov[2, 2]) and cov[2, 2] >= 0 else math.nan
    ignore = IGNORE_VEL_HORIZ | IGNORE_VEL_VERT | IGNORE_SPEED_ACCURACY
    if math.isnan(sigma_v):
        ignore |= IGNORE_VERTICAL_ACCURACY
    week, week_ms = gps_week_time(fix.stamp)
    usable = fix.has_position and math.isfinite(fix.altitude) and math.isfinite(sigma_h)
    return {
        'fix_type': FIX_TYPE_3D if usable else FIX_TYPE_NO_FIX,
        'gps_id': gps_id, 'ignore_flags': ignore, 'time_week': week, 'time_week_ms': week_ms,
        'lat': int(round(fix.latitude * 1e7)) if usable else 0,
        'lon': int(round(fix.longitude * 1e7)) if usable else 0,
        'alt': float(fix.altitude - geoid_separation_m) if usable else 0.0,
        'hdop': float(max(sigma_h * 0.2, 0.1)) if usable else 99.99,
        'vdop': float(max(sigma_v * 0.2, 0.1)) if math.isfinite(sigma_v) else 99.99,
        'vn': 0.0, 've': 0.0, 'vd': 0.0, 'speed_accuracy': 0.0,
        'horiz_accuracy': float(sigma_h) if usable else 0.0,
        'vert_accuracy': float(sigma_v) if math.isfinite(sigma_v) else 0.0,
        'satellites_visible': satellites if usable else 0,
    }


def make_gps_input(fix: GeoFix, **kwargs):
    """Return a ``mavros_msgs/GPSINPUT`` message (requires mavros_msgs)."""
    from mavros_msgs.msg import GPSINPUT

    from spikevim_ros.ros.time import seconds_to_stamp

    msg = GPSINPUT()
    msg.header.stamp = seconds_to_stamp(fix.stamp)
    msg.header.frame_id = fix.frame_id
    for name, value in gps_input_fields(fix, **kwargs).items():
        setattr(msg, name, value)
    return msg
