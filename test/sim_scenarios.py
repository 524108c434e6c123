"""
Helpers shared by the simulation, replay, play and scenario tests (not a test module).

The demo-map gallery is built once per pytest session (under the session's base temp folder)
and reused by every test file that asks for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
                  camera: CameraConfig = CAMERA):
    """Simulate a loiter over the village lasting ``duration_s`` and return the summary."""
    world = MapWorld.load(DEMO_MAP)
    radius = 80.0
    path = loiter_path(VILLAGE_CENTRE, radius,
                       turns=duration_s * speed_mps / (2.0 * np.pi * radius))
    config = SimulationConfig(flight=FlightConfig(altitude_agl_m=altitude_m,
                                                  speed_mps=speed_mps),
                              camera=camera, faults=faults, seed=seed)
    return simulate(world, path, config, out_bag, progress=False)
