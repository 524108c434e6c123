"""
Helpers shared by the simulation, replay, play and scenario tests (not a test module).

The demo-map gallery is built once per pytest session (under the session's base temp folder)
and reused by every test file that asks for it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from spikevim_ros.fix import COVARIANCE_TYPE_DIAGONAL_KNOWN, STATUS_FIX, GeoFix
from spikevim_ros.sim.aircraft_sensors import AircraftSensorConfig
from spikevim_ros.sim.flight import FlightConfig, loiter_path
from spikevim_ros.sim.gnss_model import GnssFault
from spikevim_ros.sim.simulate import CameraConfig, SimulationConfig, simulate
from spikevim_ros.sim.world import MapWorld

REPO = Path(__file__).resolve().parents[1]
DEMO_MAP = REPO / 'spikevim_ros' / 'data' / 'demo_map'
# The village in the western tile; the eastern tile is mostly a featureless field.
VILLAGE_CENTRE = (-220.0, 0.0)
CAMERA = CameraConfig(width=640, height=480, hfov_deg=60.0, rate_hz=1.0)


def village_table(folder: Path) -> Path:
    """Write a corners table holding only the western demo tile (the village)."""
    rows = (DEMO_MAP / 'map_metadata.txt').read_text().splitlines()
    header, west = rows[0], next(r for r in rows[1:] if r.startswith('0.jpg'))
    table = folder / 'village.txt'
    table.write_text(header + '\n' + west.replace('0.jpg', str(DEMO_MAP / '0.jpg'), 1) + '\n')
    return table


def demo_gallery(tmp_path_factory, altitude_m: float = 150.0) -> Path:
    """Return a gallery of the village tile for a 640x480, 60 deg camera at ``altitude_m``."""
    base = tmp_path_factory.getbasetemp() / f'village_gallery_{altitude_m:.0f}'
    if (base / 'manifest.json').is_file():
        return base
    from spikevim_ros.encoder import build_encoder
    from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
    from spikevim_ros.gallery.build import sides_from_footprint

    folder = tmp_path_factory.mktemp('village_map')
    build_gallery([village_table(folder)], base, build_encoder('T', runtime='auto'),
                  GalleryBuildConfig(tile_sides_m=sides_from_footprint(CAMERA.pinhole(),
                                                                       [altitude_m]),
                                     progress=False))
    return base


def loiter_flight(out_bag: Path, duration_s: float, faults: tuple[GnssFault, ...],
                  altitude_m: float = 150.0, seed: int = 0, speed_mps: float = 6.0,
                  camera: CameraConfig = CAMERA, storage: str = 'mcap'):
    """Simulate a loiter over the village lasting ``duration_s`` and return the summary."""
    world = MapWorld.load(DEMO_MAP)
    radius = 80.0
    path = loiter_path(VILLAGE_CENTRE, radius,
                       turns=duration_s * speed_mps / (2.0 * np.pi * radius))
    config = SimulationConfig(flight=FlightConfig(altitude_agl_m=altitude_m,
                                                  speed_mps=speed_mps),
                              camera=camera, faults=faults, seed=seed, storage=storage)
    return simulate(world, path, config, out_bag, progress=False)


# --- cross-date flights over ../shared/data/naip_multidate_west ---------------------------------
# One area imaged on ten dates: the flight is rendered from one date and localized against a
# gallery cut from another, as a real flight sees a map made years earlier.

NAIP = REPO.parent / 'shared' / 'data' / 'naip_multidate_west'
CROSS_DATE_ALTITUDE_M = 600.0
CROSS_DATE_SPEED_MPS = 15.0
# A 2.6 km north-south leg then 500 m east, kept 350+ m from the map's edges (footprint ~690 m).
CROSS_DATE_PATH = np.array([(-250.0, -1300.0), (-250.0, 1300.0), (250.0, 1300.0)])


def naip_raster(date: str) -> Path:
    """Return the NAIP raster of a date written YYYYMMDD."""
    return NAIP / f'naip_west_{date}.tif'


def naip_gallery(base: Path, date: str, altitude_m: float = CROSS_DATE_ALTITUDE_M) -> Path:
    """Return (building once under ``base``) a gallery of one NAIP date for the 60 deg camera."""
    folder = base / f'naip_gallery_{date}_{altitude_m:.0f}'
    if (folder / 'manifest.json').is_file():
        return folder
    from spikevim_ros.encoder import build_encoder
    from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
    from spikevim_ros.gallery.build import sides_from_footprint

    build_gallery([naip_raster(date)], folder, build_encoder('T', runtime='auto'),
                  GalleryBuildConfig(tile_sides_m=sides_from_footprint(CAMERA.pinhole(),
                                                                       [altitude_m]),
                                     progress=False))
    return folder


def cross_date_flight(out_bag: Path, date: str, outage_s: float, clean_s: float = 15.0,
                      after_s: float = 20.0, seed: int = 0, length_m: float | None = None,
                      attitude_noise_deg: float | None = None):
    """
    Fly the cross-date path over the NAIP raster of ``date`` (600 m, 15 m/s) and return it.

    GNSS is silent for ``outage_s`` (none when 0) after ``clean_s``; the path is cut to
    ``clean_s + outage_s + after_s`` seconds of flight (or ``length_m``). The same seed and
    length give the same frames whatever the outage. ``attitude_noise_deg`` replaces the
    autopilot's attitude error (white, per axis; 0.3 deg by default).
    """
    world = MapWorld.load(naip_raster(date))
    speed = CROSS_DATE_SPEED_MPS
    length = length_m or speed * (clean_s + outage_s + after_s)
    faults = (GnssFault('silence', clean_s, outage_s),) if outage_s > 0.0 else ()
    config = SimulationConfig(flight=FlightConfig(altitude_agl_m=CROSS_DATE_ALTITUDE_M,
                                                  speed_mps=speed),
                              camera=CAMERA, seed=seed, faults=faults)
    if attitude_noise_deg is not None:
        config = replace(config, aircraft=AircraftSensorConfig(
            attitude_noise_deg=attitude_noise_deg))
    return simulate(world, _cut_path(CROSS_DATE_PATH, length), config, out_bag, progress=False)


def _cut_path(path: np.ndarray, length_m: float) -> np.ndarray:
    """Return the first ``length_m`` metres of a polyline."""
    points = [path[0]]
    left = length_m
    for a, b in zip(path[:-1], path[1:]):
        step = float(np.hypot(*(b - a)))
        if step >= left:
            points.append(a + (b - a) * left / step)
            return np.array(points)
        points.append(b)
        left -= step
    raise ValueError(f'the path is only {length_m - left:.0f} m long, {length_m:.0f} m asked')


def gnss_fix(stamp: float, lat: float, lon: float, altitude: float = 312.5, sigma: float = 2.0,
             status: int = STATUS_FIX) -> GeoFix:
    """Return a primary GNSS fix."""
    return GeoFix(stamp=stamp, latitude=lat, longitude=lon, altitude=altitude, status=status,
                  covariance_enu=np.diag([sigma ** 2, sigma ** 2, (2 * sigma) ** 2]),
                  covariance_type=COVARIANCE_TYPE_DIAGONAL_KNOWN, frame_id='gnss')
