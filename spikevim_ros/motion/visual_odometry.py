"""
Frame-to-frame visual odometry over the ground: the aircraft's motion measured by its own camera.

Two consecutive frames see mostly the same ground, taken seconds apart by the same camera, so
they match where a years-old map does not (changed fields, water, low texture against an old
orthophoto). The motion between them is a similarity (shift, turn, small scale change) fitted
to ORB features with RANSAC; the shift of the image centre, in metres from the height above
ground and the focal length, is rotated to east/north by the heading of the image "up" axis,
which verified vision fixes measure and the fitted turn carries forward. Chained, these give an
odometry in the same form as the autopilot's, so the pipeline moves its search prior with it.

Where consecutive frames do not match (open water, a blurred or blank frame) the chain coasts on
the last measured velocity for up to ``coast_s``, and the odometry's accumulated variance grows
with the coast (a velocity error and a manoeuvre of ``coast_accel_m_s2``), so the pipeline widens
its search as honestly as it moves it. A longer break starts a new epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from spikevim_ros.aircraft.odometry import Odometry
from spikevim_ros.camera import PinholeCamera


@dataclass(frozen=True)
class VisualOdometryConfig:
    """How frames are matched (pixels of the shrunk frame, seconds)."""

    max_side: int = 480           # frames are shrunk to this long side first
    features: int = 1000          # ORB features per frame
    fast_threshold: int = 7       # corner contrast (OpenCV's default 20 finds too few corners
    #                               on orthophotos upsampled to the camera's finer resolution)
    min_inliers: int = 30         # matches that must agree with one motion
    ransac_px: float = 2.0
    max_gap_s: float = 5.0        # frames further apart are not chained
    coast_s: float = 10.0         # an unmeasured motion is carried on the last velocity this long
    coast_velocity_sigma_m_s: float = 0.5  # 1-sigma of that velocity (one frame-to-frame step)
    coast_accel_m_s2: float = 1.0  # 1-sigma manoeuvre while coasting (a 4 deg/s turn at 15 m/s)


@dataclass
class _Frame:
    keypoints: np.ndarray     # (n, 2) pixel positions in the shrunk frame
    descriptors: np.ndarray
    time: float
    metres_per_px: float
    centre: np.ndarray        # (2,) image centre in the shrunk frame


class VisualOdometry:
    """Chain ground-plane motions between consecutive frames into an ENU odometry."""

    def __init__(self, config: VisualOdometryConfig | None = None) -> None:
        self.config = config or VisualOdometryConfig()
        self._orb = cv2.ORB_create(self.config.features,
                                   fastThreshold=self.config.fast_threshold)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
        self._previous: _Frame | None = None
        self._position = np.zeros(3)
        self._velocity = np.zeros(3)
        self._heading_deg = math.nan
        self._epoch = 0
        self._variance_m2 = 0.0        # accumulated by coasting (Odometry.variance_m2)
        self._measured: tuple[float, float] | None = None   # (time, variance) of the last
        #                                                     measured step of this epoch
        self.problem: str | None = 'no frame yet'

    @property
    def heading_deg(self) -> float:
        """Return the image-up heading carried to the latest frame (NaN before any is known)."""
        return self._heading_deg

    def set_heading(self, heading_deg: float) -> None:
        """Take the image-up heading (degrees clockwise from north) of the latest frame."""
        if math.isfinite(heading_deg):
            self._heading_deg = float(heading_deg) % 360.0

    def update(self, image_rgb: np.ndarray, now: float, altitude_agl: float | None,
               camera: PinholeCamera | None) -> Odometry | None:
        """
        Take the next frame; return the odometry at it, or None before any heading is known.

        When the motion since the previous frame cannot be measured (too few agreeing features,
        no height or camera, frames too far apart) the chain coasts (:meth:`_coast`) or, past
        ``coast_s``, restarts: a new epoch, whose positions are not comparable with the earlier
        ones. ``problem`` (and the odometry's ``source``) says which and why.
        """
        frame = self._describe(image_rgb, now, altitude_agl, camera)
        previous, self._previous = self._previous, frame
        self.problem = self._step(previous, frame)
        if self.problem is None:
            if math.isfinite(self._heading_deg):
                self._measured = (now, self._variance_m2)
        elif self._coast(previous, now):
            self.problem += f'; coasting on the last velocity for {now - self._measured[0]:.1f} s'
        else:
            self.problem += '; a new odometry frame'
            self._epoch += 1
            self._velocity = np.zeros(3)
            self._variance_m2, self._measured = 0.0, None
        if not math.isfinite(self._heading_deg):
            return None
        source = 'visual odometry' if self.problem is None else \
            f'visual odometry ({self.problem})'
        return Odometry(self._position.copy(), self._velocity.copy(), epoch=self._epoch,
                        variance_m2=self._variance_m2, source=source)

    def _coast(self, previous: _Frame | None, now: float) -> bool:
        """
        Carry the position to ``now`` on the last measured velocity; False when it may not.

        The variance added since the last measured step is (sigma_v t + a t^2 / 2)^2 for a coast
        of t seconds: the velocity's own error and an unseen manoeuvre.
        """
        if self._measured is None or previous is None:
            return False
        since, variance = self._measured
        coasted = now - since
        if not 0.0 < coasted <= self.config.coast_s or now <= previous.time:
            return False
        self._position = self._position + self._velocity * (now - previous.time)
        sigma = (self.config.coast_velocity_sigma_m_s * coasted
                 + 0.5 * self.config.coast_accel_m_s2 * coasted ** 2)
        self._variance_m2 = variance + sigma ** 2
        return True

    def _describe(self, image_rgb: np.ndarray, now: float, altitude_agl: float | None,
                  camera: PinholeCamera | None) -> _Frame:
        gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.config.max_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        keypoints, descriptors = self._orb.detectAndCompute(gray, None)
        points = np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2)
        known = camera is not None and altitude_agl is not None and altitude_agl > 0.0
        metres = altitude_agl / (camera.fx * scale) if known else math.nan
        centre = np.array([gray.shape[1] / 2.0, gray.shape[0] / 2.0])
        return _Frame(points, descriptors, now, metres, centre)

    def _step(self, previous: _Frame | None, frame: _Frame) -> str | None:
        """Advance position and heading by the motion from ``previous``; return why not."""
        if previous is None:
            return 'no previous frame'
        gap = frame.time - previous.time
        if not 0.0 < gap <= self.config.max_gap_s:
            return f'frames {gap:.1f} s apart'
        if not math.isfinite(previous.metres_per_px):
            return 'height above ground or camera unknown'
        if previous.descriptors is None or frame.descriptors is None:
            return 'no features'
        matches = self._matcher.match(previous.descriptors, frame.descriptors)
        if len(matches) < self.config.min_inliers:
            return f'{len(matches)} feature matches'
        src = previous.keypoints[[m.queryIdx for m in matches]]
        dst = frame.keypoints[[m.trainIdx for m in matches]]
        motion, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                      ransacReprojThreshold=self.config.ransac_px)
        agreeing = int(inliers.sum()) if inliers is not None else 0
        if motion is None or agreeing < self.config.min_inliers:
            return f'{agreeing} matches agree on one motion'
        if math.isfinite(self._heading_deg):
            # the camera is now over the ground that the previous frame saw at `seen`
            back = cv2.invertAffineTransform(motion)
            seen = back[:, :2] @ frame.centre + back[:, 2]
            right, down = (seen - previous.centre) * previous.metres_per_px
            up = -down
            heading = math.radians(self._heading_deg)
            step = np.array([up * math.sin(heading) + right * math.cos(heading),
                             up * math.cos(heading) - right * math.sin(heading), 0.0])
            self._position = self._position + step
            self._velocity = step / gap
            turned = math.degrees(math.atan2(motion[1, 0], motion[0, 0]))
            self._heading_deg = (self._heading_deg - turned) % 360.0
        return None
