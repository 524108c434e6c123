"""
Geodesy on the WGS-84 ellipsoid for the small areas a drone flies over.

Positions are exchanged as latitude/longitude in degrees; local work happens in a tangent plane
(east, north) in metres around a reference point. The tangent-plane approximation is accurate to
well under a centimetre per kilometre of offset, which is far below the errors we care about.
"""

from __future__ import annotations

import math

import numpy as np

WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3


def radii_of_curvature(lat_deg: float) -> tuple[float, float]:
    """Return the meridian and prime-vertical radii (metres) at a latitude."""
    s = math.sin(math.radians(lat_deg))
    w = math.sqrt(1.0 - WGS84_E2 * s * s)
    meridian = WGS84_A * (1.0 - WGS84_E2) / w ** 3
    prime_vertical = WGS84_A / w
    return meridian, prime_vertical


class LocalFrame:
    """A local east-north tangent plane anchored at a reference latitude/longitude."""

    def __init__(self, lat0: float, lon0: float) -> None:
        if not (math.isfinite(lat0) and math.isfinite(lon0)) or abs(lat0) > 90.0:
            raise ValueError(f'invalid reference point lat={lat0} lon={lon0}')
        self.lat0 = float(lat0)
        self.lon0 = float(lon0)
        meridian, prime_vertical = radii_of_curvature(lat0)
        self._m_per_deg_lat = math.radians(1.0) * meridian
        self._m_per_deg_lon = math.radians(1.0) * prime_vertical * math.cos(math.radians(lat0))

    def to_en(self, lat, lon):
        """Convert latitude/longitude (scalars or arrays) to east/north metres."""
        east = (np.asarray(lon, dtype=np.float64) - self.lon0) * self._m_per_deg_lon
        north = (np.asarray(lat, dtype=np.float64) - self.lat0) * self._m_per_deg_lat
        return east, north

    def to_latlon(self, east, north):
        """Convert east/north metres (scalars or arrays) to latitude/longitude."""
        lat = self.lat0 + np.asarray(north, dtype=np.float64) / self._m_per_deg_lat
        lon = self.lon0 + np.asarray(east, dtype=np.float64) / self._m_per_deg_lon
        return lat, lon

    def __repr__(self) -> str:
        return f'LocalFrame(lat0={self.lat0:.7f}, lon0={self.lon0:.7f})'


def horizontal_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance in metres between two points (haversine, mean radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))
