"""
A GNSS receiver model with the failure modes a GNSS-denied drone meets.

Healthy fixes carry white noise plus a slowly wandering bias and an honest covariance. A fault
schedule injects, over time windows:

* ``no_fix``   - messages keep coming with status NO_FIX (position still filled in, stale),
* ``silence``  - no messages at all (receiver or link dead),
* ``nan``      - status FIX but latitude/longitude NaN (driver bug, seen in the field),
* ``degraded`` - status FIX, noise and covariance inflated by ``magnitude`` (multipath, jamming),
* ``drift``    - spoofing: status FIX, honest-looking covariance, position pulled away at
  ``magnitude`` m/s along ``bearing_deg``,
* ``jump``     - spoofing: status FIX, position offset by ``magnitude`` metres at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

import numpy as np

from spikevim_ros.fix import (COVARIANCE_TYPE_DIAGONAL_KNOWN, STATUS_FIX, STATUS_NO_FIX,
                              GeoFix)
from spikevim_ros.geo import LocalFrame

FAULT_KINDS = ('no_fix', 'silence', 'nan', 'degraded', 'drift', 'jump')
# Faults after which the receiver cannot be trusted: vision must take over.
DENIED_KINDS = ('no_fix', 'silence', 'nan', 'drift', 'jump')
_DEFAULT_MAGNITUDE = {'degraded': 10.0, 'drift': 2.0, 'jump': 200.0}


@dataclass(frozen=True)
class GnssFault:
    """One injected failure: ``kind`` from ``start_s`` for ``duration_s`` (flight time)."""

    kind: str
    start_s: float
    duration_s: float
    magnitude: float = 0.0
    bearing_deg: float = 45.0

    def __post_init__(self) -> None:
        """Check the fault is one the model knows and has a sensible window."""
        if self.kind not in FAULT_KINDS:
            raise ValueError(f'unknown GNSS fault {self.kind!r}; choose from {FAULT_KINDS}')
        if not (math.isfinite(self.start_s) and self.duration_s > 0.0):
            raise ValueError(f'GNSS fault {self.kind} needs a finite start and a positive '
                             f'duration, got start={self.start_s} duration={self.duration_s}')

    @property
    def end_s(self) -> float:
        """Return the end of the fault window."""
        return self.start_s + self.duration_s

    def active(self, t: float) -> bool:
        """Return True while the fault is in effect."""
        return self.start_s <= t < self.end_s

    @property
    def effective_magnitude(self) -> float:
        """Return the magnitude, or the kind's default when none was given."""
        return self.magnitude or _DEFAULT_MAGNITUDE.get(self.kind, 0.0)

    def to_dict(self) -> dict:
        """Return a JSON-friendly dict."""
        return asdict(self)

    @classmethod
    def parse(cls, spec: str) -> 'GnssFault':
        """
        Parse ``KIND@START+DURATION[:MAGNITUDE[:BEARING]]``, e.g. ``silence@30+60``.

        ``jump@40+30:150`` offsets the fix by 150 m from t=40 s to t=70 s.
        """
        match = re.fullmatch(r'\s*(\w+)@([-+0-9.eE]+)\+([0-9.eE]+)'
                             r'(?::([-+0-9.eE]+))?(?::([-+0-9.eE]+))?\s*', spec)
        if not match:
            raise ValueError(f'cannot parse GNSS fault {spec!r}; expected '
                             'KIND@START+DURATION[:MAGNITUDE[:BEARING]], e.g. silence@30+60')
        kind, start, duration, magnitude, bearing = match.groups()
        return cls(kind, float(start), float(duration), float(magnitude or 0.0),
                   float(bearing) if bearing else 45.0)


@dataclass(frozen=True)
class GnssModelConfig:
    """Healthy receiver behaviour."""

    rate_hz: float = 5.0
    sigma_m: float = 1.5             # horizontal white noise, 1-sigma per axis
    sigma_up_m: float = 3.0
    bias_sigma_m: float = 1.0        # slowly wandering horizontal bias, 1-sigma per axis
    bias_time_s: float = 60.0
    ground_altitude_m: float = 0.0   # ellipsoid height of the (flat) ground
    frame_id: str = 'gnss'


class FaultInjector:
    """Apply a fault schedule to healthy fixes (simulator and replay-time injection)."""

    def __init__(self, faults: list[GnssFault], seed: int = 0) -> None:
        self.faults = sorted(faults, key=lambda f: f.start_s)
        self._rng = np.random.default_rng(seed)
        self._last_reported: GeoFix | None = None

    def apply(self, t: float, fix: GeoFix) -> GeoFix | None:
        """Return ``fix`` as the faulty receiver reports it at fault time ``t`` (None: silent)."""
        active = [f for f in self.faults if f.active(t)]
        kinds = {f.kind for f in active}
        if 'silence' in kinds:
            return None
        if 'no_fix' in kinds:
            return self._stale(fix)
        east = north = 0.0
        covariance = np.array(fix.covariance_enu, dtype=np.float64)
        for fault in active:
            scale = fault.effective_magnitude
            if fault.kind == 'degraded':
                sigma = fix.horizontal_sigma_m if math.isfinite(fix.horizontal_sigma_m) else 1.0
                extra = sigma * math.sqrt(max(scale * scale - 1.0, 0.0))
                east, north = east + self._rng.normal(0.0, extra), north + self._rng.normal(
                    0.0, extra)
                covariance = covariance * scale * scale
            elif fault.kind in ('drift', 'jump'):
                distance = scale * (t - fault.start_s) if fault.kind == 'drift' else scale
                bearing = math.radians(fault.bearing_deg)
                east += distance * math.sin(bearing)
                north += distance * math.cos(bearing)
        if 'nan' in kinds:
            return replace(fix, latitude=math.nan, longitude=math.nan, altitude=math.nan)
        if fix.has_position and (east or north):
            lat, lon = LocalFrame(fix.latitude, fix.longitude).to_latlon(east, north)
            fix = replace(fix, latitude=float(lat), longitude=float(lon))
        fix = replace(fix, covariance_enu=covariance)
        if fix.status >= STATUS_FIX and fix.has_position:
            self._last_reported = fix
        return fix

    def _stale(self, fix: GeoFix) -> GeoFix:
        """Return a NO_FIX message repeating the last position with unknown covariance."""
        last = self._last_reported
        lat, lon, alt = (last.latitude, last.longitude, last.altitude) if last else \
            (math.nan, math.nan, math.nan)
        return GeoFix(stamp=fix.stamp, latitude=lat, longitude=lon, altitude=alt,
                      status=STATUS_NO_FIX, frame_id=fix.frame_id)


class GnssModel:
    """Produce the receiver's fixes for a true trajectory and a fault schedule."""

    def __init__(self, frame: LocalFrame, config: GnssModelConfig,
                 faults: list[GnssFault] = (), seed: int = 0) -> None:
        if config.rate_hz <= 0.0:
            raise ValueError(f'GNSS rate must be positive, got {config.rate_hz} Hz')
        self.frame = frame
        self.config = config
        self.injector = FaultInjector(list(faults), seed=seed + 7)
        self._rng = np.random.default_rng(seed)
        self._bias = self._rng.normal(0.0, config.bias_sigma_m, 2)
        self._last_t: float | None = None

    def sample_times(self, duration_s: float) -> np.ndarray:
        """Return the fix times (flight seconds) of a flight lasting ``duration_s``."""
        return np.arange(0.0, duration_s + 1e-9, 1.0 / self.config.rate_hz)

    def truth_fix(self, stamp: float, east: float, north: float, altitude_agl: float) -> GeoFix:
        """Return the exact fix of a true position (for the ground-truth topic)."""
        lat, lon = self.frame.to_latlon(east, north)
        return GeoFix(stamp=stamp, latitude=float(lat), longitude=float(lon),
                      altitude=self.config.ground_altitude_m + altitude_agl,
                      covariance_enu=np.zeros((3, 3)),
                      covariance_type=COVARIANCE_TYPE_DIAGONAL_KNOWN, frame_id='ground_truth')

    def fix(self, t: float, stamp: float, east: float, north: float, altitude_agl: float
            ) -> GeoFix | None:
        """
        Return what the receiver reports at flight time ``t``, or None when it is silent.

        Calls must come in increasing ``t`` (the bias is a random walk in time).
        """
        cfg = self.config
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        decay = math.exp(-dt / max(cfg.bias_time_s, 1e-3))
        self._bias = decay * self._bias + self._rng.normal(
            0.0, cfg.bias_sigma_m * math.sqrt(1.0 - decay * decay), 2)
        noise = self._rng.normal(0.0, 1.0, 3) * np.array([cfg.sigma_m, cfg.sigma_m,
                                                          cfg.sigma_up_m])
        sigma_h = math.hypot(cfg.sigma_m, cfg.bias_sigma_m)
        lat, lon = self.frame.to_latlon(east + self._bias[0] + noise[0],
                                        north + self._bias[1] + noise[1])
        healthy = GeoFix(stamp=stamp, latitude=float(lat), longitude=float(lon),
                         altitude=cfg.ground_altitude_m + altitude_agl + float(noise[2]),
                         status=STATUS_FIX,
                         covariance_enu=np.diag([sigma_h ** 2, sigma_h ** 2,
                                                 cfg.sigma_up_m ** 2]),
                         covariance_type=COVARIANCE_TYPE_DIAGONAL_KNOWN, frame_id=cfg.frame_id)
        return self.injector.apply(t, healthy)


def denied_windows(faults: list[GnssFault]) -> list[tuple[float, float]]:
    """Return the merged (start, end) windows in which GNSS must not be trusted."""
    windows = sorted((f.start_s, f.end_s) for f in faults if f.kind in DENIED_KINDS)
    merged: list[list[float]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]
