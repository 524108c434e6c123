"""
``spikevim demo``: the whole GNSS-denied loop on the map shipped with the package.

1. build a gallery from ``spikevim_ros/data/demo_map`` (Apache-2.0 satellite tiles),
2. simulate a 150 m loiter over it with a GNSS outage and a spoofing jump, written as a bag,
3. replay the bag through the same pipeline as the node, in real time (frames that arrive while
   the computer is busy are dropped, as the node drops them),
4. print the key metrics and where the report and plots are.

The flight is rendered from the very raster the gallery is cut from, and that map is part of the
demo weights' training data: the demo shows the loop working, not accuracy on an unseen place
(see docs/simulation_replay.md for cross-date flights).

Only shipped data is used, so it runs from a fresh clone with no network.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from pathlib import Path

DEMO_MAP = Path(__file__).resolve().parent / 'data' / 'demo_map'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``spikevim demo``."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument('--out', type=Path, default=Path('demo_output'),
                        help='output folder (its gallery/, flight_bag/ and replay/ are replaced)')
    parser.add_argument('--weights', default='demo',
                        help='encoder weights: "demo" (the shipped model), "none" (untrained) '
                             'or a .safetensors file')
    parser.add_argument('--runtime', default='auto', choices=('auto', 'eager', 'fast', 'int8'))
    parser.add_argument('--outage', type=float, default=40.0,
                        help='length of the GNSS silence (s)')
    parser.add_argument('--altitude', type=float, default=150.0, help='flight altitude (m)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--gallery', type=Path, default=None,
                        help='use this existing gallery of the demo map instead of building one')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='replay only the first N frames (quick look)')
    parser.add_argument('--no-progress', action='store_true')


def demo_faults(outage_s: float):
    """Return the demo's GNSS faults: silence from 10 s, then a 150 m spoofing jump."""
    from spikevim_ros.sim.gnss_model import GnssFault

    return (GnssFault('silence', 10.0, outage_s),
            GnssFault('jump', 10.0 + outage_s + 10.0, 12.0, magnitude=150.0))


def demo_notes(weights: str) -> tuple[str, ...]:
    """Return what the demo's report must say about how flattering its setting is."""
    notes = [f'the flight was rendered from the same raster the gallery was cut from '
             f'({DEMO_MAP.name}: 0.jpg, 1.jpg); real flights see another date and camera']
    if weights == 'demo':
        notes.append('this map (aero_vloc sample tiles) is in the demo weights\' training data')
    return tuple(notes)


def run(args: argparse.Namespace) -> int:
    """Run the demo end to end."""
    from spikevim_ros.encoder import build_encoder
    from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
    from spikevim_ros.gallery.build import sides_from_footprint
    from spikevim_ros.replay.cli import print_summary
    from spikevim_ros.replay.evaluate import run_replay
    from spikevim_ros.replay.pipeline_factory import gallery_world, load_pipeline
    from spikevim_ros.replay.runner import ReplayOptions
    from spikevim_ros.sim.flight import FlightConfig, loiter_path
    from spikevim_ros.sim.simulate import CameraConfig, SimulationConfig, simulate
    from spikevim_ros.sim.world import MapWorld

    started = time.monotonic()
    progress = not args.no_progress
    out = args.out
    for part in ('gallery', 'flight_bag', 'replay'):
        if (out / part).exists():
            shutil.rmtree(out / part)
    out.mkdir(parents=True, exist_ok=True)

    camera = CameraConfig(width=640, height=480, hfov_deg=60.0, rate_hz=1.0, compressed=True)
    gallery_dir = args.gallery or out / 'gallery'
    if args.gallery is None:
        print(f'[1/3] gallery from {DEMO_MAP} ...')
        encoder = build_encoder('T', args.weights, runtime=args.runtime)
        build_gallery([DEMO_MAP], gallery_dir, encoder, GalleryBuildConfig(
            tile_sides_m=sides_from_footprint(camera.pinhole(), [args.altitude]),
            progress=progress))
        del encoder
    else:
        print(f'[1/3] using the gallery in {gallery_dir}')

    faults = demo_faults(args.outage)
    duration = faults[-1].end_s + 8.0
    speed = 6.0
    world = MapWorld.load(DEMO_MAP)
    # Loiter over the village in the western half of the map (the east is a featureless field).
    radius = 80.0
    path = loiter_path((-220.0, 0.0), radius,
                       turns=(duration + 0.5) * speed / (2.0 * math.pi * radius))
    config = SimulationConfig(flight=FlightConfig(altitude_agl_m=args.altitude, speed_mps=speed),
                              camera=camera, faults=faults, seed=args.seed)
    print(f'[2/3] simulating a {duration:.0f} s flight at {args.altitude:.0f} m with a '
          f'{args.outage:.0f} s GNSS outage and a spoofing jump ...')
    summary = simulate(world, path, config, out / 'flight_bag', progress=progress)

    print('[3/3] replaying the bag through the localizer and the GNSS monitor ...')
    weights = None if args.gallery is not None else args.weights
    pipeline, gallery = load_pipeline(gallery_dir, weights, runtime=args.runtime)
    result = run_replay(summary.bag, pipeline, out / 'replay',
                        ReplayOptions(max_frames=args.max_frames, progress=progress),
                        world=gallery_world(gallery), notes=demo_notes(args.weights))
    print(f'\nDemo finished in {time.monotonic() - started:.0f} s. Key metrics:')
    print_summary(result)
    return 0
