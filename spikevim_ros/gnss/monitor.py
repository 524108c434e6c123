"""
GNSS health from fix contents, message stamps and a clock: OK or LOST, with hysteresis.

The monitor never reads the wall clock: every call passes ``now`` (ROS time, simulated time or bag
time), so live flight, ``use_sim_time`` and offline replay behave identically. It is not
thread-safe; :class:`spikevim_ros.pipeline.FallbackPipeline` serialises the calls.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields, replace
from enum import Enum

import numpy as np

from spikevim_ros.fix import (COVARIANCE_TYPE_UNKNOWN, COVARIANCE_TYPES, SERVICE_BITS, STATUS_FIX,
                              STATUS_VALUES, GeoFix)
from spikevim_ros.gnss.spoofing import GateResult, mahalanobis_gate


# GNSS fixes kept for the spoofing gate: vision fixes arrive after inference, seconds after
# their image stamp on a slow computer, and are compared with the GNSS fix nearest in stamp.
GNSS_HISTORY_S = 30.0
GNSS_HISTORY_MAX = 2048


class GnssHealth(Enum):
    """Whether the primary GNSS may be used."""

    OK = 'OK'
    LOST = 'LOST'


@dataclass(frozen=True)
class GnssMonitorConfig:
    """Thresholds of the GNSS monitor (seconds, metres)."""

    timeout_s: float = 1.0               # LOST when no fix arrived for this long
    max_horizontal_sigma_m: float = 10.0  # LOST when a fix reports a larger 1-sigma error
    spoof_gate_chi2: float = 13.8        # squared Mahalanobis gate (chi2, 2 dof, 99.9 %)
    spoof_max_gap_s: float = 1.0         # compare GNSS and vision fixes this close in stamp only
    spoof_speed_m_s: float = 20.0        # motion allowance per second of stamp difference
    recover_good_fixes: int = 5          # consecutive good fixes needed to return to OK ...
    recover_seconds: float = 2.0         # ... spanning at least this long
    max_stamp_skew_s: float = 2.0        # a fix stamped further from the clock is stale/future

    def __post_init__(self) -> None:
        """Refuse values that would make the monitor meaningless, naming the field."""
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f'GnssMonitorConfig.{item.name} must be a finite number, '
                                 f'got {value!r}')
        positive = ('timeout_s', 'max_horizontal_sigma_m', 'spoof_gate_chi2', 'max_stamp_skew_s')
        for name in positive:
            value = getattr(self, name)
            if value <= 0.0:
                raise ValueError(f'GnssMonitorConfig.{name} must be > 0, got {value}')
        for name in ('spoof_max_gap_s', 'spoof_speed_m_s', 'recover_good_fixes',
                     'recover_seconds'):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f'GnssMonitorConfig.{name} must be >= 0, got {value}')


@dataclass(frozen=True)
class GnssStatus:
    """What the monitor says about the primary GNSS at one instant."""

    health: GnssHealth
    reason: str                     # why LOST (or how OK was reached); human readable
    since: float                    # time the current health started
    last_good_fix: GeoFix | None    # newest fix that passed every check
    last_good_time: float | None    # clock time at which that fix arrived
    good_streak: int = 0            # consecutive good fixes while recovering

    @property
    def ok(self) -> bool:
        """Return True while the GNSS may be used."""
        return self.health is GnssHealth.OK

    def last_good_age(self, now: float) -> float:
        """Return seconds since the last good fix arrived (inf if none)."""
        return math.inf if self.last_good_time is None else now - self.last_good_time


class GnssMonitor:
    """Decide OK / LOST for the primary GNSS; see :class:`GnssMonitorConfig` for the rules."""

    def __init__(self, config: GnssMonitorConfig | None = None) -> None:
        self.config = config or GnssMonitorConfig()
        self.reset()

    def reset(self) -> None:
        """Forget everything (start of flight, or the clock jumped back)."""
        self._health = GnssHealth.LOST
        self._reason = 'no GNSS fix received yet'
        self._since: float | None = None
        self._last_now: float | None = None
        self._last_good: GeoFix | None = None
        self._last_good_time: float | None = None
        self._last_arrival: float | None = None
        self._streak = 0
        self._streak_start = 0.0
        self._recent: deque[GeoFix] = deque(maxlen=GNSS_HISTORY_MAX)
        self._vision: GeoFix | None = None
        self._spoof_suspected = False

    # ---------------------------------------------------------------- inputs

    def on_gnss(self, fix: GeoFix, now: float) -> None:
        """Take one primary GNSS fix that arrived at clock time ``now``."""
        self._advance(now)
        self._last_arrival = now
        problem = self._fix_problem(fix, now)
        if problem is None:
            self._remember(fix)
            gate = self._gate_against_vision(fix)
            if gate is not None and not gate.passed:
                problem = _spoof_reason(gate, self.config.spoof_gate_chi2)
            elif gate is not None:
                self._spoof_suspected = False
        if problem is not None:
            self._mark_bad(problem, now)
            return
        if self._spoof_suspected:
            self._reason = ('spoofing suspected: waiting for a confident vision fix that agrees '
                            'with GNSS')
            self._streak = 0
            return
        fresh = (self._last_good_time is not None
                 and now - self._last_good_time <= self.config.timeout_s)
        self._last_good, self._last_good_time = fix, now
        if self._health is GnssHealth.OK:
            return
        if self._streak == 0 or not fresh:
            self._streak, self._streak_start = 1, now
        else:
            self._streak += 1
        self._try_recover(now)

    def on_vision(self, fix: GeoFix, now: float, confident: bool) -> None:
        """Take a vision fix; confident ones are compared with GNSS (spoofing gate)."""
        self._advance(now)
        if not confident or not fix.has_position:
            return
        self._vision = fix
        candidates = [g for g in self._recent
                      if abs(g.stamp - fix.stamp) <= self.config.spoof_max_gap_s]
        if not candidates:
            return
        nearest = min(candidates, key=lambda g: abs(g.stamp - fix.stamp))
        gate = self._gate(nearest, fix)
        if gate.passed:
            self._spoof_suspected = False
        else:
            self._mark_bad(_spoof_reason(gate, self.config.spoof_gate_chi2), now)

    def gnss_at(self, stamp: float) -> GeoFix | None:
        """
        Return the good GNSS position at ``stamp``, interpolated between the fixes around it.

        None unless a good fix lies on each side within ``spoof_max_gap_s`` (the aircraft
        moves metres between fixes; the nearest fix alone would add that to a comparison).
        """
        gap = self.config.spoof_max_gap_s
        before = [g for g in self._recent if stamp - gap <= g.stamp <= stamp]
        after = [g for g in self._recent if stamp <= g.stamp <= stamp + gap]
        if not before or not after:
            return None
        a = max(before, key=lambda g: g.stamp)
        b = min(after, key=lambda g: g.stamp)
        w = 0.0 if b.stamp == a.stamp else (stamp - a.stamp) / (b.stamp - a.stamp)
        wider = a if not b.horizontal_sigma_m > a.horizontal_sigma_m else b
        return replace(wider, stamp=stamp, latitude=a.latitude + w * (b.latitude - a.latitude),
                       longitude=a.longitude + w * (b.longitude - a.longitude))

    def evaluate(self, now: float) -> GnssStatus:
        """Apply the timeout and the time part of the hysteresis; return the status at ``now``."""
        self._advance(now)
        timeout = self.config.timeout_s
        silent_for = math.inf if self._last_arrival is None else now - self._last_arrival
        good_silent_for = (math.inf if self._last_good_time is None
                           else now - self._last_good_time)
        if self._last_arrival is not None and silent_for > timeout:
            self._mark_bad(f'no GNSS fix for {silent_for:.2f} s (timeout {timeout:g} s)', now)
        elif self._health is GnssHealth.OK and good_silent_for > timeout:
            self._mark_bad(f'no good GNSS fix for {good_silent_for:.2f} s', now)
        elif self._streak and good_silent_for > timeout:
            self._streak = 0
        else:
            self._try_recover(now)
        return GnssStatus(health=self._health, reason=self._reason, since=self._since,
                          last_good_fix=self._last_good, last_good_time=self._last_good_time,
                          good_streak=self._streak)

    # ---------------------------------------------------------------- rules

    def _advance(self, now: float) -> None:
        if self._last_now is not None and now < self._last_now - self.config.timeout_s:
            jump = self._last_now - now
            self.reset()
            self._reason = f'clock jumped back by {jump:.2f} s; state reset'
        if self._since is None:
            self._since = now
        self._last_now = now if self._last_now is None else max(now, self._last_now)

    def _remember(self, fix: GeoFix) -> None:
        self._recent.append(fix)
        while self._recent and self._recent[0].stamp < fix.stamp - GNSS_HISTORY_S:
            self._recent.popleft()

    def _fix_problem(self, fix: GeoFix, now: float) -> str | None:
        problem = fix_problem(fix)
        if problem is not None:
            return problem
        skew = fix.stamp - now
        if not math.isfinite(skew) or abs(skew) > self.config.max_stamp_skew_s:
            when = 'in the future' if skew > 0 else 'old (stale)'
            return (f'GNSS fix stamp is {abs(skew):.3g} s {when} '
                    f'(allowed {self.config.max_stamp_skew_s:g} s)')
        sigma = fix.horizontal_sigma_m
        if sigma > self.config.max_horizontal_sigma_m:
            return (f'GNSS horizontal sigma {sigma:.1f} m exceeds '
                    f'{self.config.max_horizontal_sigma_m:g} m')
        return None

    def _gate(self, gnss: GeoFix, vision: GeoFix) -> GateResult:
        motion = self.config.spoof_speed_m_s * abs(gnss.stamp - vision.stamp)
        return mahalanobis_gate(gnss, vision, self.config.spoof_gate_chi2,
                                fallback_sigma_m=self.config.max_horizontal_sigma_m,
                                motion_sigma_m=motion)

    def _gate_against_vision(self, fix: GeoFix) -> GateResult | None:
        vision = self._vision
        if vision is None or abs(fix.stamp - vision.stamp) > self.config.spoof_max_gap_s:
            return None
        return self._gate(fix, vision)

    def _mark_bad(self, reason: str, now: float) -> None:
        if reason.startswith('spoofing'):
            self._spoof_suspected = True
        if self._health is GnssHealth.OK:
            self._health, self._since = GnssHealth.LOST, now
        self._reason = reason
        self._streak = 0

    def _try_recover(self, now: float) -> None:
        if self._health is GnssHealth.OK or self._streak == 0:
            return
        needed = max(1, int(self.config.recover_good_fixes))
        if self._streak >= needed and now - self._streak_start >= self.config.recover_seconds:
            self._health, self._since = GnssHealth.OK, now
            self._reason = f'{self._streak} good fixes over {now - self._streak_start:.2f} s'
            self._streak = 0


def _spoof_reason(gate: GateResult, gate_chi2: float) -> str:
    return (f'spoofing suspected: GNSS is {gate.distance_m:.0f} m from a confident vision fix '
            f'(Mahalanobis d^2 {gate.mahalanobis_sq:.1f} > {gate_chi2:g})')


def fix_problem(fix: GeoFix) -> str | None:
    """Return why a fix's own fields make it unusable (status, service, position, covariance)."""
    if fix.status not in STATUS_VALUES:
        return f'GNSS status {fix.status} is not a NavSatStatus value'
    if fix.status < STATUS_FIX:
        return f'GNSS reports no fix (status {fix.status})'
    if not 0 <= fix.service <= SERVICE_BITS:
        return f'GNSS service {fix.service} is not a combination of NavSatStatus services'
    if not (math.isfinite(fix.latitude) and math.isfinite(fix.longitude)
            and math.isfinite(fix.altitude)):
        return (f'GNSS fix has a non-finite position (lat={fix.latitude}, '
                f'lon={fix.longitude}, alt={fix.altitude})')
    if not fix.has_position:
        return f'GNSS fix out of range (lat={fix.latitude}, lon={fix.longitude})'
    return covariance_problem(fix)


def covariance_problem(fix: GeoFix) -> str | None:
    """Return why a fix's covariance is invalid (unknown type, NaN, negative), or None."""
    if fix.covariance_type not in COVARIANCE_TYPES:
        return f'GNSS covariance type {fix.covariance_type} is not a NavSatFix value'
    if fix.covariance_type == COVARIANCE_TYPE_UNKNOWN:
        return None
    cov = np.asarray(fix.covariance_enu, dtype=np.float64)
    if cov.shape != (3, 3) or not np.all(np.isfinite(cov)):
        return 'GNSS covariance is not finite although its type says it is known'
    if np.any(np.diag(cov) < 0.0) or np.linalg.eigvalsh(0.5 * (cov + cov.T)).min() < -1e-9 * (
            1.0 + np.abs(cov).max()):
        return 'GNSS covariance is negative (not positive semi-definite)'
    return None
