"""Frame checks and the geometry a frame brings: working image, plane mapping, hypotheses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from spikevim_ros.camera import CameraPose, PinholeCamera, ground_to_image

MIN_SIDE_PX = 32


class BadFrame(ValueError):
    """Raised when a frame cannot be localized at all (empty, tiny, blank, wrong type)."""


def check_frame(image) -> np.ndarray:
    """Return the frame as RGB uint8 (alpha dropped, gray expanded) or raise BadFrame."""
    if not isinstance(image, np.ndarray):
        raise BadFrame(f'frame must be a numpy array, got {type(image).__name__}')
    if image.size == 0:
        raise BadFrame(f'frame is empty (shape {image.shape})')
    if image.dtype != np.uint8:
        raise BadFrame(f'frame must be uint8 RGB, got dtype {image.dtype}')
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise BadFrame(f'frame must be H x W x 3 RGB, got shape {image.shape}')
    image = image[:, :, :3]
    if min(image.shape[:2]) < MIN_SIDE_PX:
        raise BadFrame(f'frame {image.shape[1]}x{image.shape[0]} is too small '
                       f'(needs at least {MIN_SIDE_PX} px per side)')
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    if float(small.std()) < 2.0:
        raise BadFrame('frame has no texture (blank, all-black or saturated)')
    return np.ascontiguousarray(image)


@dataclass
class QueryGeometry:
    """A frame prepared for alignment."""

    gray: np.ndarray               # working grayscale (float32)
    valid: np.ndarray              # False on black borders
    rgb: np.ndarray                # working RGB
    to_plane: np.ndarray           # working px -> plane (image-like axes; north-up if known)
    metres_per_unit: list[float]   # plane scale hypotheses (metres per plane unit)
    angles_deg: list[float]        # heading hypotheses (plane rotation)
    target_px: np.ndarray          # working pixel whose ground position is reported
    camera: PinholeCamera | None   # intrinsics of the working image

    def footprint_offset_en(self) -> tuple[float, float]:
        """Return the footprint's centre minus the target's, east/north in plane units."""
        h, w = self.gray.shape
        corners = np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float64)
        mapped = cv2.perspectiveTransform(corners, self.to_plane)[0]
        centre = (mapped.min(axis=0) + mapped.max(axis=0)) / 2.0
        target = cv2.perspectiveTransform(self.target_px[None, None].astype(np.float64),
                                          self.to_plane)[0, 0]
        return float(centre[0] - target[0]), float(target[1] - centre[1])

    def plane_extent(self) -> float:
        """Return the long side of the frame's footprint in plane units."""
        h, w = self.gray.shape
        corners = np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float64)
        mapped = cv2.perspectiveTransform(corners, self.to_plane)[0]
        return float(max(np.ptp(mapped[:, 0]), np.ptp(mapped[:, 1])))


def geometric_range(lo: float, hi: float, ratio: float) -> list[float]:
    """Return lo, lo*ratio, ... up to hi (inclusive-ish), at least one value."""
    count = max(1, int(math.floor(math.log(hi / lo) / math.log(ratio))) + 1)
    return [lo * ratio ** i for i in range(count)]


IN_FLIGHT = 'in_flight'   # camera, attitude and height known: one scale, one heading


def search_path(altitude_agl: float | None, camera: PinholeCamera | None,
                attitude_deg: tuple[float, float, float] | None) -> str:
    """Return which search the inputs allow: in_flight, heading_search or scale_search."""
    altitude_known = altitude_agl is not None and math.isfinite(altitude_agl) \
        and altitude_agl > 0
    if camera is not None and altitude_known:
        return IN_FLIGHT if attitude_deg is not None else 'heading_search'
    return 'scale_search'


def prepare_query(rgb: np.ndarray, max_side: int, footprints_m: list[float],
                  angle_step_deg: float, altitude_agl: float | None = None,
                  camera: PinholeCamera | None = None,
                  attitude_deg: tuple[float, float, float] | None = None) -> QueryGeometry:
    """
    Shrink the frame and work out what is known about its ground geometry.

    With attitude and camera the frame is mapped to a north-up ground plane (heading known);
    with altitude too, its scale is known. Otherwise heading and scale are searched over
    ``angle_step_deg`` and the ``footprints_m`` hypotheses (ground width of the long side).
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    h, w = rgb.shape[:2]
    valid = cv2.morphologyEx((rgb.max(axis=2) > 4).astype(np.uint8), cv2.MORPH_OPEN,
                             np.ones((5, 5), np.uint8)) > 0
    cam = camera.scaled(w, h) if camera is not None else None
    target = np.array([w / 2.0, h / 2.0])
    path = search_path(altitude_agl, cam, attitude_deg)
    altitude_known = path != 'scale_search'
    if cam is not None and attitude_deg is not None:
        yaw, pitch, roll = attitude_deg
        pose = CameraPose(0.0, 0.0, altitude_agl if altitude_known else 1.0, yaw, pitch, roll)
        to_plane = np.diag([1.0, -1.0, 1.0]) @ np.linalg.inv(ground_to_image(cam, pose))
        nadir = pose.world_from_camera().T @ np.array([0.0, 0.0, -1.0])
        target = (cam.matrix @ nadir)[:2] / nadir[2]
        angles = [0.0]
    else:
        to_plane = np.eye(3)
        angles = list(np.arange(0.0, 360.0, angle_step_deg))
    geometry = QueryGeometry(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), valid,
                             rgb, to_plane / to_plane[2, 2], [], angles, target, cam)
    extent = geometry.plane_extent()
    if path == IN_FLIGHT:
        geometry.metres_per_unit = [1.0]
    elif altitude_known:
        gsd = altitude_agl / cam.fx
        geometry.metres_per_unit = [gsd / 1.15, gsd, gsd * 1.15]
    else:
        geometry.metres_per_unit = [f / extent for f in footprints_m]
    return geometry
