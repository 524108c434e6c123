"""
The camera-tilt term of the vision covariance, learnt while GNSS is healthy.

A vision fix locates the ground point under the camera's computed nadir; an attitude error of
sigma moves it by height x tan(sigma) per axis. The configured sigma (``attitude_sigma``, or
``tilt_sigma`` without attitude) is a guess: an autopilot may be better or worse, a gimbal may
wobble. While GNSS is healthy each verified vision fix is compared with the GNSS position at its
stamp; whatever the two covariances do not explain (the difference's variance minus the
alignment, map and GNSS terms) is the tilt variance, normalised by the height squared. The
estimate starts at the configured value, which counts as ``PRIOR_SAMPLES`` observations, and
follows the last ``WINDOW`` pairs, so a calibration made at take-off carries into a GNSS outage.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

PRIOR_SAMPLES = 2.0     # weight of the configured sigma, in vision-GNSS pairs
WINDOW = 100            # pairs remembered (the newest)
OUTLIER_CHI2 = 13.8     # a pair beyond this squared Mahalanobis distance (2 dof, 99.9 %) under
#                         the current estimate is left out: a wrong match, a GNSS glitch
MIN_TILT_DEG = 0.05     # the learnt sigma never falls below this


class TiltCalibration:
    """Running estimate of the tilt 1-sigma (deg per axis) from vision-GNSS differences."""

    def __init__(self) -> None:
        # per pair: squared difference, explained variance per axis, height squared (m^2)
        self._pairs: deque[tuple[float, float, float]] = deque(maxlen=WINDOW)

    @property
    def pairs(self) -> int:
        """Return how many vision-GNSS pairs the estimate holds."""
        return len(self._pairs)

    def add(self, difference_en_m: np.ndarray, explained_cov_m2: np.ndarray,
            height_m: float) -> None:
        """
        Take one vision-minus-GNSS difference (east, north; m) at ``height_m`` above ground.

        ``explained_cov_m2`` is the 2 x 2 sum of the covariances that are not tilt (the fix's
        alignment and map terms, the GNSS covariance). Unusable inputs are ignored.
        """
        delta = np.asarray(difference_en_m, dtype=np.float64)
        explained = np.asarray(explained_cov_m2, dtype=np.float64)
        if not (math.isfinite(height_m) and height_m > 0.0 and np.all(np.isfinite(delta))
                and np.all(np.isfinite(explained))):
            return
        self._pairs.append((float(delta @ delta), 0.5 * float(np.trace(explained)),
                            height_m * height_m))

    def sigma_deg(self, configured_deg: float) -> float:
        """
        Return the tilt 1-sigma: the configured value blended with the pairs seen.

        The tilt variance over height squared is the mean, over the pairs and the configured
        value's ``PRIOR_SAMPLES``, of each pair's unexplained variance per axis; pairs that the
        estimate itself calls outliers are left out (a few fixed-point iterations).
        """
        prior = math.tan(math.radians(configured_deg)) ** 2
        floor = math.tan(math.radians(min(MIN_TILT_DEG, configured_deg))) ** 2
        estimate = max(prior, floor)
        for _ in range(10):
            kept = [(d2 / 2.0 - explained) / h2 for d2, explained, h2 in self._pairs
                    if d2 <= OUTLIER_CHI2 * (explained + h2 * estimate)]
            updated = max((PRIOR_SAMPLES * prior + sum(kept)) / (PRIOR_SAMPLES + len(kept)),
                          floor)
            if math.isclose(updated, estimate, rel_tol=1e-3):
                break
            estimate = updated
        return math.degrees(math.atan(math.sqrt(estimate)))
