"""A small real world for the fallback tests: a crop of the shipped demo map and its views."""

from __future__ import annotations

from pathlib import Path

import cv2

from spikevim_ros.camera import CameraPose, PinholeCamera
from spikevim_ros.georaster import GeoRaster, load_rasters
from spikevim_ros.render import render_view

DEMO_MAP = Path(__file__).resolve().parents[1] / 'spikevim_ros' / 'data' / 'demo_map'
CROP_PX = (340, 315, 940, 915)          # x0, y0, x1, y1 of 0.jpg: about 205 m square
CAMERA = PinholeCamera.from_hfov(320, 240, 60.0)
ALTITUDE_AGL = 80.0                     # footprint about 92 m
TILE_SIDE_M = 100.0


def write_crop(out_dir: Path) -> Path:
    """Write a crop of demo tile 0.jpg with its corners table; return the folder."""
    first = (DEMO_MAP / 'map_metadata.txt').read_text().splitlines()[1].split()
    name, top, left, bottom, right = first[0], *map(float, first[1:])
    image = cv2.imread(str(DEMO_MAP / name))
    height, width = image.shape[:2]
    x0, y0, x1, y1 = CROP_PX
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / 'crop.png'), image[y0:y1, x0:x1])

    def lat(y: float) -> float:
        return top + (bottom - top) * y / height

    def lon(x: float) -> float:
        return left + (right - left) * x / width

    (out_dir / 'map_metadata.txt').write_text(
        'filename top_left_lat top_left_lon bottom_right_lat bottom_right_lon\n'
        f'crop.png {lat(y0):.12f} {lon(x0):.12f} {lat(y1):.12f} {lon(x1):.12f}\n')
    return out_dir


def build_small_gallery(out_dir: Path, encoder):
    """Build the gallery of the crop (about a dozen 100 m tiles) and return it."""
    from spikevim_ros.gallery import GalleryBuildConfig, build_gallery

    crop = write_crop(out_dir / 'map')
    return build_gallery([crop], out_dir / 'gallery', encoder,
                         GalleryBuildConfig(tile_sides_m=(TILE_SIDE_M,), overwrite=True,
                                            progress=False))


def crop_raster(out_dir: Path) -> GeoRaster:
    """Return the crop written by :func:`write_crop` as a GeoRaster."""
    return load_rasters(out_dir / 'map')[0]


def view(raster: GeoRaster, east: float, north: float, yaw_deg: float = 0.0
         ) -> tuple:
    """Render the camera view at (east, north) of the raster frame; return (rgb, lat, lon)."""
    rgb, _ = render_view(raster, CAMERA, CameraPose(east, north, ALTITUDE_AGL, yaw_deg))
    lat, lon = raster.frame.to_latlon(east, north)
    return rgb, float(lat), float(lon)
