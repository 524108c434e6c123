"""
Physical plausibility ranges of every numeric input (one table for the CLI, node and pipeline).

A value outside its range is refused with a reason instead of being used: an altitude of 1e9 m
would otherwise make the map resampling blur with a kernel of millions of pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of one physical quantity."""

    low: float
    high: float
    unit: str
    what: str


RANGES: dict[str, Range] = {
    'altitude_agl': Range(1.0, 10000.0, 'm', 'height above ground'),
    'hfov_deg': Range(1.0, 170.0, 'deg', 'horizontal field of view'),
    'vfov_deg': Range(0.5, 170.0, 'deg', 'vertical field of view'),
    'prior_radius': Range(1.0, 100000.0, 'm', 'prior radius'),
    'latitude': Range(-90.0, 90.0, 'deg', 'latitude'),
    'longitude': Range(-180.0, 180.0, 'deg', 'longitude'),
    'image_side': Range(1.0, 20000.0, 'px', 'camera image side'),
}


def problem(name: str, value, label: str | None = None) -> str | None:
    """Return why ``value`` is not a plausible ``name`` (a key of RANGES), or None."""
    span = RANGES[name]
    label = label or span.what
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f'{label} must be a number, got {value!r}'
    if not math.isfinite(value):
        return f'{label} is non-finite ({value})'
    if not span.low <= value <= span.high:
        return f'{label} {value:g} {span.unit} is outside {span.low:g}..{span.high:g} {span.unit}'
    return None


def require(name: str, value, label: str | None = None) -> float:
    """Return ``value`` as a float, or raise ValueError with the reason (naming ``label``)."""
    reason = problem(name, value, label)
    if reason is not None:
        raise ValueError(reason)
    return float(value)


def camera_problem(camera) -> str | None:
    """Return why pinhole intrinsics are implausible (size, focal lengths, principal point)."""
    for label, value in (('camera width', camera.width), ('camera height', camera.height)):
        reason = problem('image_side', value, label)
        if reason:
            return reason
    values = (camera.fx, camera.fy, camera.cx, camera.cy)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return f'camera intrinsics are non-finite or not numbers: fx, fy, cx, cy = {values}'
    if camera.fx <= 0.0 or camera.fy <= 0.0:
        return f'camera focal lengths must be positive, got fx={camera.fx:g} fy={camera.fy:g}'
    hfov = math.degrees(2.0 * math.atan(0.5 * camera.width / camera.fx))
    vfov = math.degrees(2.0 * math.atan(0.5 * camera.height / camera.fy))
    reason = problem('hfov_deg', hfov, 'camera horizontal field of view (from fx)') or \
        problem('vfov_deg', vfov, 'camera vertical field of view (from fy)')
    if reason:
        return reason
    if not (0.0 <= camera.cx <= camera.width and 0.0 <= camera.cy <= camera.height):
        return (f'camera principal point ({camera.cx:g}, {camera.cy:g}) lies outside the '
                f'{camera.width}x{camera.height} image')
    return None
