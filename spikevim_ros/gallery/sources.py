"""
Map sources for a gallery: GeoTIFFs, corners tables and XYZ/TMS web-map tile folders.

Everything becomes a list of :class:`~spikevim_ros.georaster.GeoRaster`; GeoTIFFs and corners
tables go through :func:`spikevim_ros.georaster.load_rasters`, tile folders are mosaicked here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from spikevim_ros.georaster import (GeoRaster, GeoreferenceError, from_corners, load_rasters,
                                    read_image_rgb)

_TILE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.webp')


def _tile_corner_latlon(z: int, x: int, y: int) -> tuple[float, float]:
    """Return (lat, lon) of the top-left corner of XYZ tile (z, x, y) (Web Mercator)."""
    n = 2 ** z
    lon = x / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y / n))))
    return lat, lon


def _xyz_tiles(folder: Path) -> dict[int, dict[tuple[int, int], Path]]:
    """Find ``z/x/y.ext`` tiles below a folder, grouped by zoom."""
    found: dict[int, dict[tuple[int, int], Path]] = {}
    for path in folder.glob('*/*/*'):
        rel = path.relative_to(folder).parts
        if path.suffix.lower() not in _TILE_SUFFIXES or not all(
                re.fullmatch(r'\d+', p) for p in (rel[0], rel[1], path.stem)):
            continue
        found.setdefault(int(rel[0]), {})[(int(rel[1]), int(path.stem))] = path
    return found


def is_tile_folder(folder: Path) -> bool:
    """Return True when a folder holds an XYZ/TMS ``z/x/y`` tile pyramid."""
    return folder.is_dir() and bool(_xyz_tiles(folder))


def read_tile_folder(folder: str | Path, scheme: str = 'xyz') -> GeoRaster:
    """
    Mosaic the highest zoom level of an XYZ (or TMS, y flipped) tile folder into one raster.

    Missing tiles become nodata. The mosaic is georeferenced from its corners, which ignores the
    Web-Mercator curvature of latitude: well under a metre for mosaics up to a few kilometres.
    """
    folder = Path(folder)
    if scheme not in ('xyz', 'tms'):
        raise ValueError(f'tile scheme must be "xyz" or "tms", got {scheme!r}')
    levels = _xyz_tiles(folder)
    if not levels:
        raise GeoreferenceError(f'{folder}: no z/x/y tiles found')
    zoom = max(levels)
    tiles = levels[zoom]
    if scheme == 'tms':
        tiles = {(x, 2 ** zoom - 1 - y): p for (x, y), p in tiles.items()}
    xs = [x for x, _ in tiles]
    ys = [y for _, y in tiles]
    first, _ = read_image_rgb(next(iter(tiles.values())))
    side = first.shape[0]
    cols, rows = max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
    if cols * rows > 4096:
        raise ValueError(f'{folder}: zoom {zoom} spans {cols}x{rows} tiles; split the folder')
    image = np.zeros((rows * side, cols * side, 3), np.uint8)
    valid = np.zeros(image.shape[:2], bool)
    for (x, y), path in tiles.items():
        rgb, mask = read_image_rgb(path)
        if rgb.shape[:2] != (side, side):
            raise ValueError(f'{path}: tile is {rgb.shape[1]}x{rgb.shape[0]}, expected {side}')
        r, c = (y - min(ys)) * side, (x - min(xs)) * side
        image[r:r + side, c:c + side] = rgb
        valid[r:r + side, c:c + side] = mask
    top_left = _tile_corner_latlon(zoom, min(xs), min(ys))
    bottom_right = _tile_corner_latlon(zoom, max(xs) + 1, max(ys) + 1)
    return from_corners(image, top_left, bottom_right, source=f'{folder} (z{zoom})', valid=valid)


def load_source(source: str | Path, tile_scheme: str = 'xyz') -> list[GeoRaster]:
    """Load one gallery source: a raster file, a corners table or a folder of either/tiles."""
    source = Path(source)
    if is_tile_folder(source):
        return [read_tile_folder(source, tile_scheme)]
    return load_rasters(source)
