"""
The simulated world: one or more georeferenced rasters seen through a common local frame.

Maps often come as several tiles, each with its own tangent plane. :class:`MapWorld` puts them in
one frame (anchored at the centre of their union), renders camera views by compositing
:func:`spikevim_ros.render.render_view` over the tiles, and draws north-up overviews for plots.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from spikevim_ros.camera import CameraPose, PinholeCamera
from spikevim_ros.geo import LocalFrame
from spikevim_ros.georaster import GeoRaster, load_rasters
from spikevim_ros.render import Photometry, render_view


class MapWorld:
    """Georeferenced rasters in one local east/north frame."""

    def __init__(self, rasters: list[GeoRaster]) -> None:
        if not rasters:
            raise ValueError('a map world needs at least one georeferenced raster')
        self.rasters = list(rasters)
        corners = []
        for raster in self.rasters:
            w, h = raster.size
            lat, lon = raster.pixel_to_latlon(np.array([0.0, w, w, 0.0]),
                                              np.array([0.0, 0.0, h, h]))
            corners.append((lat, lon))
        lat = np.concatenate([c[0] for c in corners])
        lon = np.concatenate([c[1] for c in corners])
        self.frame = LocalFrame(float((lat.min() + lat.max()) / 2),
                                float((lon.min() + lon.max()) / 2))
        east, north = self.frame.to_en(lat, lon)
        self._bounds = (float(east.min()), float(north.min()), float(east.max()),
                        float(north.max()))
        # Offset of each raster's own frame origin in the common frame (pure translation: the
        # tangent planes of neighbouring tiles differ by far less than a pixel in rotation).
        self._offsets = [tuple(float(v) for v in self.frame.to_en(r.frame.lat0, r.frame.lon0))
                         for r in self.rasters]

    @classmethod
    def load(cls, source: str | Path) -> 'MapWorld':
        """Load a GeoTIFF, a corners table or a folder of either."""
        return cls(load_rasters(source))

    def bounds_en(self) -> tuple[float, float, float, float]:
        """Return (min_east, min_north, max_east, max_north) of all rasters, common frame."""
        return self._bounds

    @property
    def metres_per_pixel(self) -> float:
        """Return the finest ground sampling distance among the rasters."""
        return min(r.metres_per_pixel for r in self.rasters)

    def render(self, camera: PinholeCamera, pose: CameraPose,
               photometry: Photometry | None = None,
               rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Render the camera view (pose in the common frame); return RGB image and valid mask."""
        image = np.zeros((camera.height, camera.width, 3), dtype=np.uint8)
        valid = np.zeros((camera.height, camera.width), dtype=bool)
        for raster, (de, dn) in zip(self.rasters, self._offsets):
            local = replace(pose, east=pose.east - de, north=pose.north - dn)
            part, part_valid = render_view(raster, camera, local)
            take = part_valid & ~valid
            image[take] = part[take]
            valid |= part_valid
        if photometry is not None:
            image = photometry.apply(image, rng)
            image[~valid] = 0
        return image, valid

    def overview(self, max_side_px: int = 1600) -> tuple[np.ndarray, tuple]:
        """
        Return a north-up RGB overview of the whole map and its extent.

        The extent is (min_east, max_east, min_north, max_north), as matplotlib's ``imshow``
        expects.
        """
        e0, n0, e1, n1 = self._bounds
        scale = max_side_px / max(e1 - e0, n1 - n0)
        scale = min(scale, 1.0 / self.metres_per_pixel)
        width = max(1, int(round((e1 - e0) * scale)))
        height = max(1, int(round((n1 - n0) * scale)))
        en_to_px = np.array([[scale, 0.0, -scale * e0], [0.0, -scale, scale * n1],
                             [0.0, 0.0, 1.0]])
        image = np.zeros((height, width, 3), dtype=np.uint8)
        filled = np.zeros((height, width), dtype=bool)
        for raster, (de, dn) in zip(self.rasters, self._offsets):
            to_common = np.array([[1.0, 0.0, de], [0.0, 1.0, dn], [0.0, 0.0, 1.0]])
            part, part_valid = raster.view(en_to_px @ to_common, (width, height),
                                           blur_to_gsd=1.0 / scale)
            take = part_valid & ~filled
            image[take] = part[take]
            filled |= part_valid
        return image, (e0, e0 + width / scale, n1 - height / scale, n1)
