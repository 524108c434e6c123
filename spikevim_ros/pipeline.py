"""
The GNSS fallback pipeline: localizer + GNSS monitor + search prior + altitude -> outputs.

ROS-free and clock-agnostic: the node, ``spikevim replay`` and the tests drive the same object with
message stamps and ROS, simulated or bag time. Calls may come from several threads (GNSS callbacks
while a frame is being localized); the monitor is only touched under a lock, and the slow
localization runs outside it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, fields, replace

import numpy as np

from spikevim_ros.aircraft.odometry import Odometry
from spikevim_ros.camera import PinholeCamera
from spikevim_ros.fix import COVARIANCE_TYPE_APPROXIMATED, STATUS_FIX, GeoFix
from spikevim_ros.geo import LocalFrame, horizontal_distance_m
from spikevim_ros.gnss import GnssMonitor, GnssStatus
from spikevim_ros.localization.query import search_path
from spikevim_ros.localization.types import LocalizationResult, Prior
from spikevim_ros.motion import VisualOdometry
from spikevim_ros.tilt_calibration import TiltCalibration


@dataclass(frozen=True)
class PipelineConfig:
    """How the prior and the vision fix altitude are formed (metres, seconds)."""

    prior_radius_m: float = 100.0       # search radius around a fresh anchor (+3 sigma of it)
    prior_growth_m_s: float = 15.0      # radius growth per second since the anchor (max speed)
    prior_max_radius_m: float = 3000.0  # beyond this radius the whole gallery is searched
    ground_altitude_m: float = 0.0      # ellipsoidal ground height, when no GNSS altitude yet
    vertical_sigma_m: float = 10.0      # altitude 1-sigma written into vision fixes
    tilt_sigma_deg: float = 1.0         # camera tilt from nadir per axis, attitude unknown
    attitude_sigma_deg: float = 0.5     # error of a given attitude per axis
    learn_tilt_sigma: bool = True       # learn the two sigmas above from vision-GNSS differences
    #                                     while GNSS is healthy (tilt_calibration.py)
    odometry_drift: float = 0.05        # prior radius growth per metre of odometry motion
    confirm_above_radius_m: float = 500.0  # a match found with no prior or a wider one is
    #                                        published only once a second frame agrees with it
    confirm_within_s: float = 10.0      # ... within this time
    confirm_after_gap_s: float = 10.0   # ... and so is a match this long after the newest
    #                                     trusted position (the track was lost meanwhile)
    visual_odometry: bool = True        # without an odometry input, measure the motion between
    #                                     frames with the camera (motion/visual_odometry.py)
    publish_dead_reckoning: bool = False  # a frame without a vision fix gives the last verified
    #                                       fix moved by the odometry, its covariance grown

    def __post_init__(self) -> None:
        """Refuse non-finite values and non-positive radii or sigmas, naming the field."""
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f'PipelineConfig.{item.name} must be finite, got {value!r}')
        for name in ('prior_radius_m', 'prior_max_radius_m', 'vertical_sigma_m',
                     'confirm_above_radius_m'):
            if getattr(self, name) <= 0.0:
                raise ValueError(f'PipelineConfig.{name} must be > 0, got {getattr(self, name)}')
        for name in ('prior_growth_m_s', 'tilt_sigma_deg', 'attitude_sigma_deg',
                     'odometry_drift', 'confirm_within_s', 'confirm_after_gap_s'):
            if getattr(self, name) < 0.0:
                raise ValueError(f'PipelineConfig.{name} must be >= 0, got {getattr(self, name)}')


@dataclass(frozen=True)
class FrameOutput:
    """What one processed frame produces."""

    result: LocalizationResult
    vision_fix: GeoFix | None       # published on ~/fix
    selected: GeoFix | None         # published on ~/fix_selected (the vision fix while LOST)
    gnss_status: GnssStatus
    prior: Prior | None = None      # the search prior that was used
    covariance_terms_m: dict[str, float] = field(default_factory=dict)  # vision fix, 1-sigma
    search_path: str = ''           # in_flight, heading_search or scale_search (query.py)
    dead_reckoned: GeoFix | None = None  # published on ~/fix when enabled and no vision fix
    tilt_sigma_deg: float = math.nan    # the tilt sigma the vision fix covariance used
    motion: str = 'none'                # what moved the prior: Odometry.source, or none

    @property
    def own_fix(self) -> GeoFix | None:
        """Return what ~/fix carries: the vision fix, else the dead-reckoned one (or None)."""
        return self.vision_fix if self.vision_fix is not None else self.dead_reckoned


ODOMETRY_BIAS_M_S = 0.5   # odometry velocity error allowed on top of the drift (prior growth)
CONFIRM_GATE_SIGMAS = 2.45  # two matches of one place agree within this (95 % of a 2-D normal)


@dataclass(frozen=True)
class _Anchor:
    latitude: float
    longitude: float
    sigma_m: float
    time: float
    odometry: Odometry | None = None    # the odometry when this position was trusted


def _moved(anchor: _Anchor, odometry: Odometry | None
           ) -> tuple[float, float, float, float] | None:
    """
    Return (lat, lon, distance moved, variance added) of ``anchor`` carried by the odometry.

    The variance is what the odometry accumulated beyond its drift since the anchor was trusted
    (visual odometry coasting). None when either odometry is missing or the odometry frame
    changed (another epoch) since.
    """
    then = anchor.odometry
    if odometry is None or then is None or odometry.epoch != then.epoch:
        return None
    east, north = (float(v) for v in odometry.position[:2] - then.position[:2])
    lat, lon = LocalFrame(anchor.latitude, anchor.longitude).to_latlon(east, north)
    added = max(odometry.variance_m2 - then.variance_m2, 0.0)
    return float(lat), float(lon), math.hypot(east, north), added


def _combine_discs(a: tuple[float, float, float], b: tuple[float, float, float],
                   a_is_newer: bool = False) -> tuple[float, float, float]:
    """
    Return one search disc (lat, lon, radius) from two trusted discs ``a`` and ``b``.

    When one disc lies inside the other, the position is in both, hence in the smaller one
    (a fresh vision fix inside the growing disc of an old GNSS fix keeps the search small during
    a long outage). The same holds when ``a`` comes from a verified vision fix newer than ``b``
    (GNSS has gone quiet since) and the discs overlap: an aircraft flying away at full speed
    keeps its fixes at the edge of the old disc, never inside it. When they disagree, the
    smallest disc containing both is searched (a GNSS jump never hides the true position).
    """
    frame = LocalFrame(a[0], a[1])
    east, north = (float(v) for v in frame.to_en(b[0], b[1]))
    distance = math.hypot(east, north)
    if distance + b[2] <= a[2]:
        return b
    if distance + a[2] <= b[2] or (a_is_newer and distance <= a[2] + b[2]):
        return a
    radius = 0.5 * (distance + a[2] + b[2])
    along = (radius - a[2]) / distance
    lat, lon = frame.to_latlon(east * along, north * along)
    return float(lat), float(lon), radius


class FallbackPipeline:
    """Run frames through the localizer and decide what to publish, GNSS or vision."""

    def __init__(self, localizer, monitor: GnssMonitor,
                 config: PipelineConfig | None = None) -> None:
        self.localizer = localizer
        self.monitor = monitor
        self.config = config or PipelineConfig()
        self._lock = threading.Lock()
        self._vision_anchor: _Anchor | None = None
        self._candidate: _Anchor | None = None   # an unconfirmed match awaiting a second frame
        self.visual_odometry = VisualOdometry()
        self.tilt_calibration = {True: TiltCalibration(), False: TiltCalibration()}  # by
        #                                                         whether attitude was given
        self._status: GnssStatus | None = None
        self._latest_now = -math.inf
        self._gnss_odometry: tuple[float, Odometry | None] = (math.nan, None)

    @property
    def status(self) -> GnssStatus | None:
        """Return the newest status computed (None before the first call)."""
        return self._status

    def on_gnss(self, fix: GeoFix, now: float, odometry: Odometry | None = None
                ) -> GeoFix | None:
        """Take a primary GNSS fix; return it when it may be published as the selected fix."""
        with self._lock:
            self._latest_now = max(self._latest_now, now)
            self.monitor.on_gnss(fix, now)
            self._status = self.monitor.evaluate(now)
            if self._status.last_good_time == now:
                self._gnss_odometry = (now, odometry)
            return fix if self._status.ok else None

    def tick(self, now: float) -> GnssStatus:
        """Re-evaluate the GNSS (timeouts) without new input."""
        with self._lock:
            self._latest_now = max(self._latest_now, now)
            self._status = self.monitor.evaluate(now)
            return self._status

    def prior(self, now: float, odometry: Odometry | None = None) -> Prior | None:
        """
        Return the search prior at ``now``.

        Each trusted position (last good GNSS fix, last verified vision fix) gives a disc whose
        radius grows with its age, or, when a validated ``odometry`` of the same frame epoch was
        recorded with it, moves with the odometry displacement since then and grows with
        ``odometry_drift`` x displacement + 0.5 m/s x age + 3 sigma of the variance the odometry
        added (visual odometry coasting). The prior is the inner disc when one holds the other,
        else the smallest disc holding both (so a GNSS jump never hides the true position from
        the search), or None beyond ``prior_max_radius_m``.
        """
        with self._lock:
            return self._prior(now, self.monitor.evaluate(now), odometry)

    def on_frame(self, image_rgb: np.ndarray, stamp: float, now: float,
                 altitude_agl: float | None = None, camera: PinholeCamera | None = None,
                 attitude_deg: tuple[float, float, float] | None = None,
                 frame_id: str = 'camera', odometry: Odometry | None = None) -> FrameOutput:
        """Localize one RGB frame stamped ``stamp`` (processed at clock time ``now``)."""
        result, prior, odometry = self.localize(image_rgb, now, altitude_agl, camera,
                                                attitude_deg, odometry)
        return self.conclude(result, prior, stamp, now, altitude_agl,
                             attitude_known=attitude_deg is not None, frame_id=frame_id,
                             odometry=odometry,
                             path=search_path(altitude_agl, camera, attitude_deg))

    def localize(self, image_rgb: np.ndarray, now: float, altitude_agl: float | None = None,
                 camera: PinholeCamera | None = None,
                 attitude_deg: tuple[float, float, float] | None = None,
                 odometry: Odometry | None = None
                 ) -> tuple[LocalizationResult, Prior | None, Odometry | None]:
        """
        First half of :meth:`on_frame`: the slow localization with the prior at ``now``.

        Without an ``odometry`` input the frame's visual odometry stands in (when enabled);
        returns the result, the prior and the odometry used, which :meth:`conclude` takes.
        """
        odometry_ms = None
        if odometry is None and self.config.visual_odometry:
            started = time.perf_counter()
            odometry = self.visual_odometry.update(image_rgb, now, altitude_agl, camera)
            if attitude_deg is not None:     # the camera yaw is the image-up heading
                self.visual_odometry.set_heading(attitude_deg[0])
            odometry_ms = (time.perf_counter() - started) * 1000.0
        with self._lock:
            self._latest_now = max(self._latest_now, now)
            prior = self._prior(now, self.monitor.evaluate(now), odometry)
        result = self.localizer.localize(image_rgb, prior=prior, altitude_agl=altitude_agl,
                                         camera=camera, attitude_deg=attitude_deg)
        if odometry_ms is not None:
            result.timings_ms['visual_odometry'] = odometry_ms
        return result, prior, odometry

    def conclude(self, result: LocalizationResult, prior: Prior | None, stamp: float,
                 now: float, altitude_agl: float | None = None, attitude_known: bool = False,
                 frame_id: str = 'camera', odometry: Odometry | None = None,
                 path: str = '') -> FrameOutput:
        """Second half of :meth:`on_frame`: the vision fix and the monitor at ``now`` (done)."""
        with self._lock:
            # GNSS callbacks may have advanced the clock while the frame was being localized
            now = max(now, self._latest_now)
            height = self._height_agl(altitude_agl, result)
            tilt_deg = self.tilt_sigma_deg(attitude_known)
            tilt_m2 = (height * math.tan(math.radians(tilt_deg))) ** 2
            vision = self._vision_fix(result, stamp, frame_id, altitude_agl, tilt_m2)
            if vision is not None and result.verified and self._needs_confirmation(prior, now):
                unconfirmed = self._confirm(vision, now, odometry)
                if unconfirmed:
                    result = replace(result, fix=False, reason=unconfirmed)
                    vision = None
            if vision is not None and result.verified and not attitude_known:
                self.visual_odometry.set_heading(result.heading_deg)   # of the image's up axis
            if vision is not None:
                self.monitor.on_vision(vision, now, confident=bool(result.verified))
                if result.verified:
                    self._vision_anchor = _Anchor(vision.latitude, vision.longitude,
                                                  vision.horizontal_sigma_m, now, odometry)
            self._status = self.monitor.evaluate(now)
            if vision is not None and result.verified and self._status.ok:
                self._learn_tilt(vision, result, height, attitude_known)
            dead = None
            if vision is None and self.config.publish_dead_reckoning:
                dead = self._dead_reckoned(stamp, now, odometry, frame_id, altitude_agl, result)
            terms = {} if vision is None else \
                dict(result.covariance_terms_m, tilt=math.sqrt(tilt_m2))
            output = FrameOutput(result=result, vision_fix=vision, selected=None,
                                 gnss_status=self._status, prior=prior, covariance_terms_m=terms,
                                 search_path=path, dead_reckoned=dead,
                                 tilt_sigma_deg=tilt_deg if vision is not None else math.nan,
                                 motion=odometry.source if odometry is not None else 'none')
            return output if self._status.ok else replace(output, selected=output.own_fix)

    def _dead_reckoned(self, stamp: float, now: float, odometry: Odometry | None,
                       frame_id: str, altitude_agl: float | None,
                       result: LocalizationResult) -> GeoFix | None:
        """
        Return the last verified fix moved by the odometry since, or None without one.

        Its 1-sigma grows from the fix's by ``odometry_drift`` x the distance moved and
        0.5 m/s x the time since (added in quadrature), the rates the search prior uses.
        """
        anchor = self._vision_anchor
        carried = self._carried(anchor, anchor.sigma_m, now, odometry) \
            if anchor is not None else None
        if carried is None:
            return None
        lat, lon, sigma = carried
        cov = np.diag([sigma ** 2, sigma ** 2, self.config.vertical_sigma_m ** 2])
        return GeoFix(stamp=stamp, latitude=float(lat), longitude=float(lon),
                      altitude=self._altitude(altitude_agl, result), status=STATUS_FIX,
                      covariance_enu=cov, covariance_type=COVARIANCE_TYPE_APPROXIMATED,
                      frame_id=frame_id)

    def _needs_confirmation(self, prior: Prior | None, now: float) -> bool:
        """
        Return True when a match cannot be trusted on its own.

        That is without a prior or with a wide one (the encoder compared the frame with much of
        the map), and after a gap of ``confirm_after_gap_s`` without any trusted position: over
        changed ground the track is lost for a while, and the first match after it is the one
        most likely to be a wrong place inside the grown search disc.
        """
        if prior is None or prior.radius_m > self.config.confirm_above_radius_m:
            return True
        newest = max((a.time for a in self._anchors(self.monitor.evaluate(now))),
                     default=-math.inf)
        return now - newest > self.config.confirm_after_gap_s

    def _confirm(self, vision: GeoFix, now: float, odometry: Odometry | None) -> str | None:
        """
        Return why a match found without a tight prior is not trusted yet (None: confirmed).

        Re-acquisition compares the frame with the whole map, where a wrong place can verify
        once; the match is trusted when the next match (within ``confirm_within_s``) lies where
        the previous one predicts through the motion (:meth:`_agreement_disc`). Each unconfirmed
        match becomes the candidate the next one is checked with. Two frames over changed ground
        can be off the same way (both fit the map's old shoreline), so where a trusted position
        can be carried here by the odometry, a match must also agree with that dead-reckoned
        position (:meth:`_dead_reckoning_disagrees`); one that does not is set aside.
        """
        disagreement = self._dead_reckoning_disagrees(vision, now, odometry)
        if disagreement:
            return f'unconfirmed match, set aside ({disagreement})'
        candidate, self._candidate = self._candidate, None
        if candidate is not None and now - candidate.time <= self.config.confirm_within_s:
            lat, lon, radius = self._agreement_disc(candidate, vision, now, odometry)
            apart = horizontal_distance_m(lat, lon, vision.latitude, vision.longitude)
            if apart <= radius:
                return None
            why = f'{apart:.0f} m from the previous match (allowed {radius:.0f} m)'
        else:
            why = 'no earlier match to compare with'
        self._candidate = _Anchor(vision.latitude, vision.longitude, vision.horizontal_sigma_m,
                                  now, odometry)
        return f'unconfirmed match, waiting for a second frame that agrees ({why})'

    def _dead_reckoning_disagrees(self, vision: GeoFix, now: float, odometry: Odometry | None
                                  ) -> str | None:
        """
        Return how ``vision`` contradicts the dead-reckoned position, or None where it agrees.

        Each trusted position (last verified vision fix, last good GNSS fix) whose odometry
        frame is still current is carried to ``now``; the tightest of them must lie within
        CONFIRM_GATE_SIGMAS x the combined 1-sigma of it and the match (its sigma grows with
        ``odometry_drift`` x distance and 0.5 m/s x time). None also when nothing can be carried.
        """
        carried = [self._carried(anchor, math.hypot(anchor.sigma_m, vision.horizontal_sigma_m),
                                 now, odometry)
                   for anchor in self._anchors(self.monitor.evaluate(now))]
        best = min((c for c in carried if c is not None), key=lambda c: c[2], default=None)
        if best is None:
            return None
        apart = horizontal_distance_m(best[0], best[1], vision.latitude, vision.longitude)
        allowed = CONFIRM_GATE_SIGMAS * best[2]
        if apart <= allowed:
            return None
        return f'{apart:.0f} m from the dead-reckoned position (allowed {allowed:.0f} m)'

    def _agreement_disc(self, candidate: _Anchor, vision: GeoFix, now: float,
                        odometry: Odometry | None) -> tuple[float, float, float]:
        """
        Return the disc (lat, lon, radius) where ``vision`` must lie to confirm ``candidate``.

        With valid odometry: the candidate moved by it, radius CONFIRM_GATE_SIGMAS x the
        combined 1-sigma of both matches and the odometry since. The search margin
        (``prior_radius_m``) is left out: two fixes of one place agree to within their sigmas,
        and a looser gate lets a second wrong match confirm the first. Without odometry the
        aircraft may have gone anywhere within ``prior_growth_m_s`` x the time between them.
        """
        matches = math.hypot(candidate.sigma_m, vision.horizontal_sigma_m)
        carried = self._carried(candidate, matches, now, odometry)
        if carried is None:
            speed = self.config.prior_growth_m_s * max(now - candidate.time, 0.0)
            return (candidate.latitude, candidate.longitude,
                    CONFIRM_GATE_SIGMAS * matches + speed)
        lat, lon, sigma = carried
        return lat, lon, CONFIRM_GATE_SIGMAS * sigma

    def _carried(self, anchor: _Anchor, sigma_m: float, now: float,
                 odometry: Odometry | None) -> tuple[float, float, float] | None:
        """
        Return (lat, lon, 1-sigma) of ``anchor`` carried to ``now`` by the odometry, or None.

        The 1-sigma grows from ``sigma_m`` by ``odometry_drift`` x the distance moved,
        0.5 m/s x the time since and the odometry's own added variance (in quadrature). None
        when the odometry cannot carry it.
        """
        moved = _moved(anchor, odometry)
        if moved is None:
            return None
        lat, lon, distance, added = moved
        sigma = math.sqrt(sigma_m ** 2 + (self.config.odometry_drift * distance) ** 2
                          + (ODOMETRY_BIAS_M_S * max(now - anchor.time, 0.0)) ** 2 + added)
        return lat, lon, sigma

    def _prior(self, now: float, status: GnssStatus, odometry: Odometry | None
               ) -> Prior | None:
        anchors = self._anchors(status)          # the vision anchor first, if any
        discs = [self._disc(a, now, odometry) for a in anchors]
        if not discs:
            return None
        lat, lon, radius = discs[0]
        if len(discs) == 2:
            lat, lon, radius = _combine_discs(discs[0], discs[1],
                                              a_is_newer=anchors[0].time > anchors[1].time)
        if radius > self.config.prior_max_radius_m:
            return None
        return Prior(lat, lon, radius)

    def _anchors(self, status: GnssStatus) -> list[_Anchor]:
        anchors = [] if self._vision_anchor is None else [self._vision_anchor]
        good = status.last_good_fix
        if good is not None and status.last_good_time is not None:
            sigma = good.horizontal_sigma_m
            recorded, odometry = self._gnss_odometry
            anchors.append(_Anchor(good.latitude, good.longitude,
                                   sigma if math.isfinite(sigma) else 0.0, status.last_good_time,
                                   odometry if recorded == status.last_good_time else None))
        return anchors

    def _disc(self, anchor: _Anchor, now: float, odometry: Odometry | None
              ) -> tuple[float, float, float]:
        age = max(now - anchor.time, 0.0)
        base = self.config.prior_radius_m + 3.0 * anchor.sigma_m
        moved = _moved(anchor, odometry)
        if moved is None:
            return anchor.latitude, anchor.longitude, base + self.config.prior_growth_m_s * age
        lat, lon, distance, added = moved
        return lat, lon, (base + self.config.odometry_drift * distance + ODOMETRY_BIAS_M_S * age
                          + 3.0 * math.sqrt(added))

    def _altitude(self, altitude_agl: float | None, result: LocalizationResult) -> float:
        good = self._status.last_good_fix if self._status is not None else None
        if good is not None and math.isfinite(good.altitude):
            return float(good.altitude)
        for agl in (altitude_agl, result.altitude_agl_m):
            if agl is not None and math.isfinite(agl):
                return self.config.ground_altitude_m + float(agl)
        return self.config.ground_altitude_m

    def tilt_sigma_deg(self, attitude_known: bool) -> float:
        """Return the camera tilt 1-sigma (deg per axis) the vision covariance uses now."""
        configured = self.config.attitude_sigma_deg if attitude_known else \
            self.config.tilt_sigma_deg
        if not self.config.learn_tilt_sigma:
            return configured
        return self.tilt_calibration[attitude_known].sigma_deg(configured)

    @staticmethod
    def _height_agl(altitude_agl: float | None, result: LocalizationResult) -> float:
        """
        Return the height above ground that turns a tilt into metres (0 when unknown).

        The localizer measures where the optical axis (or, with attitude, the computed nadir)
        meets the ground; an unknown or imperfectly known tilt moves that point by
        height x tan(tilt) away from the point under the drone.
        """
        for agl in (altitude_agl, result.altitude_agl_m):
            if agl is not None and math.isfinite(agl) and agl > 0.0:
                return float(agl)
        return 0.0

    def _learn_tilt(self, vision: GeoFix, result: LocalizationResult, height: float,
                    attitude_known: bool) -> None:
        """Compare a verified vision fix with the healthy GNSS at its stamp (tilt sigma)."""
        gnss = self.monitor.gnss_at(vision.stamp)
        if gnss is None or not math.isfinite(gnss.horizontal_sigma_m):
            return
        frame = LocalFrame(gnss.latitude, gnss.longitude)
        east, north = frame.to_en(vision.latitude, vision.longitude)
        explained = (np.asarray(result.covariance_en_m2, np.float64)
                     + np.asarray(gnss.covariance_enu, np.float64)[:2, :2])
        self.tilt_calibration[attitude_known].add(np.array([float(east), float(north)]),
                                                  explained, height)

    def _vision_fix(self, result: LocalizationResult, stamp: float, frame_id: str,
                    altitude_agl: float | None, tilt_m2: float) -> GeoFix | None:
        cov_en = np.asarray(result.covariance_en_m2, dtype=np.float64)
        if not (result.fix and math.isfinite(result.latitude) and math.isfinite(result.longitude)
                and cov_en.shape == (2, 2) and np.all(np.isfinite(cov_en))):
            return None
        cov = np.zeros((3, 3))
        cov[:2, :2] = 0.5 * (cov_en + cov_en.T) + tilt_m2 * np.eye(2)
        cov[2, 2] = self.config.vertical_sigma_m ** 2
        return GeoFix(stamp=stamp, latitude=float(result.latitude),
                      longitude=float(result.longitude),
                      altitude=self._altitude(altitude_agl, result), status=STATUS_FIX,
                      covariance_enu=cov, covariance_type=COVARIANCE_TYPE_APPROXIMATED,
                      frame_id=frame_id)
