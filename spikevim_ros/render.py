"""
Drone views and nadir tiles rendered from a georeferenced raster.

One warp serves the simulator, the synthetic training data, the gallery tiler and the tests: the
ground is a plane, so a camera view of a map is a homography of the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from spikevim_ros.camera import CameraPose, PinholeCamera, ground_to_image
from spikevim_ros.georaster import GeoRaster


@dataclass(frozen=True)
class Photometry:
    """Photometric changes applied to a rendered view (all off by default)."""

    gain: float = 1.0             # brightness multiplier
    gamma: float = 1.0            # > 1 darkens mid-tones
    blur_sigma_px: float = 0.0    # Gaussian blur (defocus / motion)
    noise_sigma: float = 0.0      # additive Gaussian noise, in 8-bit levels

    @classmethod
    def random(cls, rng: np.random.Generator, strength: float = 1.0) -> 'Photometry':
        """Draw plausible lighting, blur and sensor noise."""
        return cls(gain=float(np.exp(rng.normal(0.0, 0.15 * strength))),
                   gamma=float(np.exp(rng.normal(0.0, 0.15 * strength))),
                   blur_sigma_px=float(abs(rng.normal(0.0, 0.6 * strength))),
                   noise_sigma=float(abs(rng.normal(0.0, 3.0 * strength))))

    def apply(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Return a photometrically altered copy of an RGB uint8 image."""
        out = image.astype(np.float32) / 255.0
        if self.gamma != 1.0:
            out = np.power(out, self.gamma)
        out *= self.gain
        if self.blur_sigma_px > 0.05:
            out = cv2.GaussianBlur(out, (0, 0), self.blur_sigma_px)
        out *= 255.0
        if self.noise_sigma > 0.0:
            rng = rng or np.random.default_rng()
            out += rng.normal(0.0, self.noise_sigma, out.shape).astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)


def render_view(raster: GeoRaster, camera: PinholeCamera, pose: CameraPose,
                photometry: Photometry | None = None,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """
    Render what a pinhole camera at ``pose`` sees of ``raster`` (pose in raster.frame).

    Returns the RGB image and its validity mask (False outside the map or on nodata).
    """
    en_to_image = ground_to_image(camera, pose)
    image, valid = raster.view(en_to_image, (camera.width, camera.height),
                               blur_to_gsd=pose.altitude_agl / camera.fx)
    if photometry is not None:
        image = photometry.apply(image, rng)
    image[~valid] = 0
    return image, valid


def nadir_tile_transform(centre_en: tuple[float, float], side_m: float, size_px: int
                         ) -> np.ndarray:
    """Return the affine from east/north metres to the pixels of a north-up square tile."""
    scale = size_px / side_m
    east, north = centre_en
    return np.array([[scale, 0.0, size_px / 2.0 - scale * east],
                     [0.0, -scale, size_px / 2.0 + scale * north],
                     [0.0, 0.0, 1.0]])


def cut_tile(raster: GeoRaster, centre_en: tuple[float, float], side_m: float, size_px: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """
    Cut a north-up square tile of ``side_m`` metres centred on ``centre_en``.

    Returns the RGB tile and its validity mask; pixel (x, y) of the tile maps to east/north
    through the inverse of :func:`nadir_tile_transform`.
    """
    en_to_tile = nadir_tile_transform(centre_en, side_m, size_px)
    tile, valid = raster.view(en_to_tile, (size_px, size_px), blur_to_gsd=side_m / size_px)
    tile[~valid] = 0
    return tile, valid
