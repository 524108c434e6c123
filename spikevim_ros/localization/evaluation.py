"""Synthetic drone views of a map with exact ground truth, and error statistics of fixes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikevim_ros.camera import CameraPose, PinholeCamera, image_to_ground
from spikevim_ros.georaster import GeoRaster
from spikevim_ros.localization.types import LocalizationResult, Prior
from spikevim_ros.render import Photometry, render_view

CHI2_2DOF_95 = 5.991


@dataclass
class SyntheticView:
    """A rendered frame, the pose it was taken from and the truth of the reported point."""

    image: np.ndarray
    pose: CameraPose
    camera: PinholeCamera
    latitude: float        # of the nadir point (the camera's ground position)
    longitude: float
    prior: Prior           # a prior disc that contains the truth, off-centre
    centre_latlon: tuple[float, float]   # ground point seen at the image centre


def synthetic_views(raster: GeoRaster, count: int, rng: np.random.Generator,
                    altitude_range_m: tuple[float, float] = (100.0, 300.0),
                    max_tilt_deg: float = 30.0, hfov_deg: float = 70.0,
                    size: tuple[int, int] = (640, 480), prior_radius_m: float = 100.0
                    ) -> list[SyntheticView]:
    """
    Render ``count`` oblique views (random heading, tilt up to ``max_tilt_deg``) of a raster.

    The altitude range is scaled down for maps too small for it, so that the footprint stays
    within about half the map's short side; the views are re-drawn until 90 % is valid map.
    """
    camera = PinholeCamera.from_hfov(size[0], size[1], hfov_deg)
    min_e, min_n, max_e, max_n = raster.bounds_en()
    short = min(max_e - min_e, max_n - min_n)
    shrink = min(1.0, 0.5 * short / (altitude_range_m[1] * size[0] / camera.fx))
    views: list[SyntheticView] = []
    for _ in range(count * 50):
        if len(views) == count:
            break
        altitude = rng.uniform(*altitude_range_m) * shrink
        yaw, tilt = rng.uniform(0.0, 360.0), rng.uniform(0.0, max_tilt_deg)
        side = rng.uniform(0.0, 360.0)
        pitch, roll = tilt * math.cos(math.radians(side)), tilt * math.sin(math.radians(side))
        east = rng.uniform(min_e, max_e)
        north = rng.uniform(min_n, max_n)
        pose = CameraPose(east, north, altitude, yaw, pitch, roll)
        image, valid = render_view(raster, camera, pose, Photometry.random(rng, 0.5), rng)
        if valid.mean() < 0.9:
            continue
        lat, lon = raster.frame.to_latlon(east, north)
        radius = prior_radius_m * shrink
        bearing, offset = rng.uniform(0.0, 2 * math.pi), rng.uniform(0.0, 0.7 * radius)
        plat, plon = raster.frame.to_latlon(east + offset * math.sin(bearing),
                                            north + offset * math.cos(bearing))
        ce, cn = image_to_ground(camera, pose, size[0] / 2.0, size[1] / 2.0)
        clat, clon = raster.frame.to_latlon(ce, cn)
        views.append(SyntheticView(image, pose, camera, float(lat), float(lon),
                                   Prior(float(plat), float(plon), radius),
                                   (float(clat), float(clon))))
    return views


def error_en(result: LocalizationResult, latitude: float, longitude: float) -> np.ndarray:
    """Return the east/north error (metres) of a fix against the truth."""
    from spikevim_ros.geo import LocalFrame
    return np.array(LocalFrame(latitude, longitude).to_en(result.latitude, result.longitude),
                    dtype=np.float64)


def inside_ellipse_fraction(errors: list[np.ndarray], covariances: list[np.ndarray],
                            chi2: float = CHI2_2DOF_95) -> float:
    """Return the fraction of east/north errors inside their covariance's 95 % ellipse."""
    if not errors:
        return math.nan
    inside = [float(e @ np.linalg.solve(c, e)) <= chi2 for e, c in zip(errors, covariances)]
    return float(np.mean(inside))
