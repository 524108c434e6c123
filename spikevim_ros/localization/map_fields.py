"""
Cached north-up edge fields of the gallery rasters, so map windows are crops, not re-warps.

Each raster is resampled once per resolution level (its own ground sampling distance times
powers of sqrt(2)) into a north-up grid of its local frame and turned into an edge field.
A window at any requested resolution is then cut from the nearest level: a slice plus zero
padding. Levels whose grid would exceed ``max_level_pixels`` are not cached; such windows are
re-cut from the raster on demand (the slower, exact path).
"""

from __future__ import annotations

import math

import numpy as np

from spikevim_ros.georaster import GeoRaster
from spikevim_ros.localization.align import MapWindow, cut_window, edge_field, to_gray

LEVEL_RATIO = math.sqrt(2.0)


class _Level:
    """One raster resampled north-up at ``gsd`` metres/pixel, as an edge field."""

    def __init__(self, raster: GeoRaster, gsd: float) -> None:
        min_e, min_n, max_e, max_n = raster.bounds_en()
        width = int(math.ceil((max_e - min_e) / gsd))
        height = int(math.ceil((max_n - min_n) / gsd))
        self.gsd = gsd
        self.origin = (min_e, max_n)                  # east/north of pixel corner (0, 0)
        self.en_to_px = np.array([[1.0 / gsd, 0.0, -min_e / gsd],
                                  [0.0, -1.0 / gsd, max_n / gsd], [0.0, 0.0, 1.0]])
        image, valid = raster.view(self.en_to_px, (width, height), blur_to_gsd=gsd)
        image[~valid] = 0
        self.field = edge_field(to_gray(image), valid)

    def crop(self, raster_no: int, centre_en: tuple[float, float], side_m: float) -> MapWindow:
        """Return the square window of about ``side_m`` around ``centre_en``, zero-padded."""
        size = max(16, int(round(side_m / self.gsd)))
        cx, cy = (self.en_to_px @ np.array([centre_en[0], centre_en[1], 1.0]))[:2]
        x0, y0 = int(round(cx - size / 2.0)), int(round(cy - size / 2.0))
        out = np.zeros((size, size, 2), np.float32)
        h, w = self.field.shape[:2]
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + size), min(h, y0 + size)
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = self.field[sy0:sy1, sx0:sx1]
        shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
        en_to_px = shift @ self.en_to_px
        centre = np.linalg.inv(en_to_px) @ np.array([size / 2.0, size / 2.0, 1.0])
        return MapWindow(raster_no, (float(centre[0]), float(centre[1])), size * self.gsd,
                         self.gsd, out, en_to_px)


class MapFields:
    """Edge-field windows of a gallery's rasters, served from a per-level cache."""

    def __init__(self, raster_of, max_level_pixels: int = 12_000_000) -> None:
        self._raster_of = raster_of
        self._max_pixels = max_level_pixels
        self._levels: dict[tuple[int, int], _Level | None] = {}

    def level_for(self, raster: GeoRaster, gsd: float) -> int:
        """Return the level number whose resolution is closest to ``gsd`` (0 = native)."""
        ratio = max(gsd / raster.metres_per_pixel, 1.0)
        return int(round(math.log(ratio) / math.log(LEVEL_RATIO)))

    def window(self, raster_no: int, centre_en: tuple[float, float], side_m: float,
               gsd: float) -> MapWindow:
        """Return a north-up edge-field window of ``side_m`` metres at about ``gsd`` m/px."""
        raster = self._raster_of(raster_no)
        number = self.level_for(raster, gsd)
        key = (raster_no, number)
        if key not in self._levels:
            level_gsd = raster.metres_per_pixel * LEVEL_RATIO ** number
            min_e, min_n, max_e, max_n = raster.bounds_en()
            pixels = (max_e - min_e) * (max_n - min_n) / (level_gsd * level_gsd)
            self._levels[key] = _Level(raster, level_gsd) if pixels <= self._max_pixels \
                else None
        level = self._levels[key]
        if level is None:
            return cut_window(raster, raster_no, centre_en, side_m, gsd)
        return level.crop(raster_no, centre_en, side_m)
