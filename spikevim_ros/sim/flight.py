"""
Flight paths and the drone's true pose over time.

A path is a polyline of east/north waypoints flown at constant ground speed; the heading follows
the track. Wind jitter (a smooth random position offset) and attitude noise are Ornstein-Uhlenbeck
processes sampled on a fine grid, so the pose at any time is reproducible from the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikevim_ros.camera import CameraPose


def line_path(start_en: tuple[float, float], end_en: tuple[float, float]) -> np.ndarray:
    """Return a straight two-waypoint path."""
    return np.array([start_en, end_en], dtype=np.float64)


def survey_path(bounds_en: tuple[float, float, float, float], spacing_m: float,
                margin_m: float = 0.0) -> np.ndarray:
    """Return a lawn-mower survey (east-west legs, ``spacing_m`` apart) inside the bounds."""
    e0, n0, e1, n1 = bounds_en
    e0, n0, e1, n1 = e0 + margin_m, n0 + margin_m, e1 - margin_m, n1 - margin_m
    if e1 <= e0 or n1 < n0 or spacing_m <= 0.0:
        raise ValueError(f'survey area {bounds_en} with margin {margin_m} m and spacing '
                         f'{spacing_m} m leaves nothing to fly')
    legs = max(1, int(math.floor((n1 - n0) / spacing_m)) + 1)
    points = []
    for i, north in enumerate(n0 + spacing_m * np.arange(legs)):
        west_to_east = i % 2 == 0
        points += [(e0, north), (e1, north)] if west_to_east else [(e1, north), (e0, north)]
    return np.array(points, dtype=np.float64)


def loiter_path(centre_en: tuple[float, float], radius_m: float, turns: float = 1.0,
                points_per_turn: int = 72) -> np.ndarray:
    """Return a clockwise circle (as seen from above) starting north of the centre."""
    if radius_m <= 0.0 or turns <= 0.0:
        raise ValueError(f'loiter needs a positive radius and number of turns, got '
                         f'{radius_m} m, {turns}')
    angles = np.linspace(0.0, 2.0 * math.pi * turns, int(points_per_turn * turns) + 1)
    return np.stack([centre_en[0] + radius_m * np.sin(angles),
                     centre_en[1] + radius_m * np.cos(angles)], axis=1)


@dataclass(frozen=True)
class FlightConfig:
    """How the drone flies and how its camera is mounted."""

    altitude_agl_m: float = 150.0
    speed_mps: float = 8.0
    camera_pitch_deg: float = 0.0      # mounting tilt forward from nadir
    attitude_noise_deg: float = 1.0    # 1-sigma roll/pitch/yaw wobble
    wind_jitter_m: float = 1.0         # 1-sigma smooth position disturbance
    altitude_noise_m: float = 1.0      # 1-sigma smooth altitude wobble
    correlation_time_s: float = 5.0    # of the wind and attitude processes


class Flight:
    """The true camera pose along a path at any time from 0 to ``duration_s``."""

    _GRID_HZ = 20.0

    def __init__(self, path_en: np.ndarray, config: FlightConfig, seed: int = 0) -> None:
        path = np.asarray(path_en, dtype=np.float64)
        if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2:
            raise ValueError(f'a flight path needs at least two east/north waypoints, got '
                             f'shape {path.shape}')
        if config.speed_mps <= 0.0 or config.altitude_agl_m <= 0.0:
            raise ValueError('flight speed and altitude above ground must be positive')
        steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
        keep = np.concatenate([[True], steps > 1e-9])
        self.path = path[keep]
        self.config = config
        self._cumulative = np.concatenate([[0.0], np.cumsum(np.linalg.norm(
            np.diff(self.path, axis=0), axis=1))])
        if self._cumulative[-1] <= 0.0:
            raise ValueError('flight path has zero length')
        self.duration_s = float(self._cumulative[-1] / config.speed_mps)
        rng = np.random.default_rng(seed)
        n = int(math.ceil(self.duration_s * self._GRID_HZ)) + 2
        self._grid_t = np.arange(n) / self._GRID_HZ
        self._disturbance = np.stack([
            _ornstein_uhlenbeck(rng, n, config.wind_jitter_m, config.correlation_time_s),
            _ornstein_uhlenbeck(rng, n, config.wind_jitter_m, config.correlation_time_s),
            _ornstein_uhlenbeck(rng, n, config.altitude_noise_m, config.correlation_time_s),
            _ornstein_uhlenbeck(rng, n, config.attitude_noise_deg, config.correlation_time_s),
            _ornstein_uhlenbeck(rng, n, config.attitude_noise_deg, config.correlation_time_s),
            _ornstein_uhlenbeck(rng, n, config.attitude_noise_deg, config.correlation_time_s),
        ], axis=1)

    @property
    def length_m(self) -> float:
        """Return the path length in metres."""
        return float(self._cumulative[-1])

    def nominal(self, t: float) -> tuple[float, float, float]:
        """Return east, north and track heading (deg from north) on the path at time ``t``."""
        s = float(np.clip(t, 0.0, self.duration_s)) * self.config.speed_mps
        i = int(np.clip(np.searchsorted(self._cumulative, s, side='right') - 1, 0,
                        len(self.path) - 2))
        a, b = self.path[i], self.path[i + 1]
        frac = (s - self._cumulative[i]) / max(self._cumulative[i + 1] - self._cumulative[i],
                                               1e-12)
        east, north = a + frac * (b - a)
        heading = math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360.0
        return float(east), float(north), heading

    def pose(self, t: float) -> CameraPose:
        """Return the true camera pose at time ``t`` (seconds from the start of the flight)."""
        east, north, heading = self.nominal(t)
        d = np.array([np.interp(t, self._grid_t, self._disturbance[:, k]) for k in range(6)])
        return CameraPose(east=east + d[0], north=north + d[1],
                          altitude_agl=max(1.0, self.config.altitude_agl_m + d[2]),
                          yaw_deg=(heading + d[3]) % 360.0,
                          pitch_deg=self.config.camera_pitch_deg + d[4], roll_deg=d[5])


def _ornstein_uhlenbeck(rng: np.random.Generator, n: int, sigma: float, tau_s: float
                        ) -> np.ndarray:
    """Return a stationary OU process with standard deviation ``sigma`` on the 20 Hz grid."""
    if sigma <= 0.0:
        return np.zeros(n)
    decay = math.exp(-1.0 / (Flight._GRID_HZ * max(tau_s, 1e-3)))
    drive = sigma * math.sqrt(1.0 - decay * decay)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sigma)
    noise = rng.normal(0.0, drive, n)
    for i in range(1, n):
        out[i] = decay * out[i - 1] + noise[i]
    return out
