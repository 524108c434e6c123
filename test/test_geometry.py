"""Geodesy, georeferenced rasters, the pinhole camera and the renderer on real maps."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from spikevim_ros.camera import CameraPose, PinholeCamera, ground_to_image, image_to_ground
from spikevim_ros.geo import LocalFrame, horizontal_distance_m
from spikevim_ros.georaster import GeoreferenceError, load_rasters, read_geotiff
from spikevim_ros.render import cut_tile, render_view


def test_local_frame_round_trip_and_scale():
    frame = LocalFrame(55.5422, 38.2474)
    east, north = frame.to_en(55.5432, 38.2494)
    lat, lon = frame.to_latlon(east, north)
    assert (float(lat), float(lon)) == pytest.approx((55.5432, 38.2494), abs=1e-10)
    # 0.001 deg of latitude is about 111 m; of longitude at 55.5 N about 63 m.
    assert float(north) == pytest.approx(111.3, abs=0.3)
    assert float(east) == pytest.approx(2 * 63.2, abs=0.3)
    assert horizontal_distance_m(55.5422, 38.2474, 55.5432, 38.2494) == pytest.approx(
        math.hypot(east, north), rel=5e-3)  # sphere vs ellipsoid


def test_corners_table_maps_corners_exactly(shared_data):
    raster = load_rasters(shared_data / 'aero_vloc' / 'map' / 'map_metadata.txt')[0]
    w, h = raster.size
    lat, lon = raster.pixel_to_latlon(np.array([0.0, w]), np.array([0.0, h]))
    assert lat == pytest.approx([55.5441183336449, 55.540385063661006], abs=1e-9)
    assert lon == pytest.approx([38.24398659277347, 38.25085304785159], abs=1e-9)
    x, y = raster.latlon_to_pixel(lat, lon)
    assert x == pytest.approx([0, w], abs=1e-6) and y == pytest.approx([0, h], abs=1e-6)
    assert raster.metres_per_pixel == pytest.approx(0.34, abs=0.01)


@pytest.mark.parametrize('name', ['riotiler_colorado_hro_0.15m.tif',
                                  'riotiler_pix4d_bali_0.35m.tif'])
def test_geotiff_georeference_matches_rasterio(shared_data, name):
    import rasterio
    from pyproj import Transformer

    path = shared_data / 'orthophotos' / name
    raster = read_geotiff(path)
    with rasterio.open(path) as dataset:
        to_wgs84 = Transformer.from_crs(dataset.crs, 'EPSG:4326', always_xy=True)
        xs, ys = np.array([3.5, 101.0, 200.25]), np.array([7.0, 150.5, 20.0])
        lon, lat = to_wgs84.transform(*(dataset.transform @ (xs, ys)))
    ours_lat, ours_lon = raster.pixel_to_latlon(xs, ys)
    errors = [horizontal_distance_m(a, b, c, d)
              for a, b, c, d in zip(lat, lon, ours_lat, ours_lon)]
    assert max(errors) < 0.05


def test_geotiff_nodata_becomes_invalid(shared_data):
    raster = read_geotiff(shared_data / 'orthophotos' / 'riotiler_pix4d_bali_0.35m.tif')
    assert 0.5 < raster.valid.mean() < 0.99


def test_raster_without_georeference_is_refused(tmp_path):
    import rasterio

    path = tmp_path / 'plain.tif'
    with rasterio.open(path, 'w', driver='GTiff', width=8, height=8, count=3,
                       dtype='uint8') as dataset:
        dataset.write(np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(GeoreferenceError, match='no georeference'):
        read_geotiff(path)


def test_ground_image_round_trip_with_tilt():
    camera = PinholeCamera.from_hfov(640, 480, 60.0)
    pose = CameraPose(east=12.0, north=-7.0, altitude_agl=150.0, yaw_deg=40.0, pitch_deg=20.0,
                      roll_deg=-5.0)
    u, v = np.array([0.0, 320.0, 600.0]), np.array([0.0, 240.0, 400.0])
    east, north = image_to_ground(camera, pose, u, v)
    projected = ground_to_image(camera, pose) @ np.stack([east, north, np.ones(3)])
    assert projected[:2] / projected[2] == pytest.approx(np.stack([u, v]), abs=1e-6)


def test_pitch_looks_ahead_along_heading():
    camera = PinholeCamera.from_hfov(640, 480, 60.0)
    pose = CameraPose(0.0, 0.0, 100.0, yaw_deg=90.0, pitch_deg=30.0)
    east, north = image_to_ground(camera, pose, 320.0, 240.0)
    assert float(east) == pytest.approx(100.0 * math.tan(math.radians(30.0)), abs=1e-6)
    assert float(north) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match='horizon'):
        ground_to_image(camera, CameraPose(0.0, 0.0, 100.0, pitch_deg=70.0))


def test_nadir_render_matches_tile_of_the_same_footprint(shared_data):
    raster = load_rasters(shared_data / 'aero_vloc' / 'map' / 'map_metadata.txt')[0]
    camera = PinholeCamera.from_hfov(256, 256, 60.0)
    pose = CameraPose(east=20.0, north=-15.0, altitude_agl=120.0)
    view, valid = render_view(raster, camera, pose)
    side = 2 * 120.0 * math.tan(math.radians(30.0))
    tile, _ = cut_tile(raster, (20.0, -15.0), side, 256)
    assert valid.all()
    diff = np.abs(view.astype(np.int16) - tile.astype(np.int16)).mean()
    assert diff < 3.0, diff
    # A view 40 m away really is a different picture.
    other, _ = cut_tile(raster, (60.0, -15.0), side, 256)
    assert np.abs(view.astype(np.int16) - other.astype(np.int16)).mean() > 5 * diff
    # The rotated view, rotated back, lines up with the north-up tile.
    rotated, _ = render_view(raster, camera, CameraPose(20.0, -15.0, 120.0, yaw_deg=90.0))
    back = cv2.rotate(rotated, cv2.ROTATE_90_CLOCKWISE)
    core = (slice(16, -16), slice(16, -16))
    assert np.abs(back[core].astype(np.int16) - tile[core].astype(np.int16)).mean() < 4.0
