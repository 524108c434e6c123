"""Consistency gate between a GNSS fix and a vision fix (possible spoofing or meaconing)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikevim_ros.fix import GeoFix
from spikevim_ros.geo import LocalFrame


@dataclass(frozen=True)
class GateResult:
    """Outcome of comparing a GNSS fix with a vision fix."""

    distance_m: float           # horizontal distance between the two fixes
    mahalanobis_sq: float       # squared Mahalanobis distance with both covariances
    passed: bool                # True when mahalanobis_sq <= the gate


def horizontal_covariance(fix: GeoFix, fallback_sigma_m: float) -> np.ndarray:
    """Return the 2 x 2 east-north covariance of a fix; isotropic when unknown, NaN or negative."""
    cov = np.asarray(fix.covariance_enu, dtype=np.float64)[:2, :2]
    if math.isnan(fix.horizontal_sigma_m):
        return np.eye(2) * fallback_sigma_m ** 2
    cov = 0.5 * (cov + cov.T)
    if np.linalg.eigvalsh(cov).min() < 0.0:
        return np.eye(2) * fallback_sigma_m ** 2
    return cov


def mahalanobis_gate(gnss: GeoFix, vision: GeoFix, gate_chi2: float, fallback_sigma_m: float,
                     motion_sigma_m: float = 0.0) -> GateResult:
    """
    Test whether ``gnss`` and ``vision`` can be the same position.

    The innovation covariance is the sum of both fix covariances plus an isotropic
    ``motion_sigma_m`` term for the motion between the two stamps. A GNSS fix whose covariance is
    unknown is given ``fallback_sigma_m``.
    """
    frame = LocalFrame(vision.latitude, vision.longitude)
    east, north = frame.to_en(gnss.latitude, gnss.longitude)
    delta = np.array([float(east), float(north)])
    innovation = (horizontal_covariance(gnss, fallback_sigma_m)
                  + horizontal_covariance(vision, fallback_sigma_m)
                  + np.eye(2) * motion_sigma_m ** 2)
    d2 = float(delta @ np.linalg.solve(innovation + np.eye(2) * 1e-9, delta))
    return GateResult(distance_m=float(np.hypot(*delta)), mahalanobis_sq=d2,
                      passed=math.isfinite(d2) and 0.0 <= d2 <= gate_chi2)
