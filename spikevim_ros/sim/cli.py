"""``spikevim simulate``: fly a simulated mission over a map and write a ROS 2 bag."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spikevim_ros.sim.aircraft_sensors import AircraftSensorConfig
from spikevim_ros.sim.flight import FlightConfig, line_path, loiter_path, survey_path
from spikevim_ros.sim.gnss_model import FAULT_KINDS, GnssFault, GnssModelConfig
from spikevim_ros.sim.simulate import CameraConfig, SimulationConfig, simulate
from spikevim_ros.sim.world import MapWorld


AUTOPILOT_TOPICS = ('imu', 'rangefinder', 'rel_alt', 'odom')


def _pair(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(','))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f'expected two comma-separated numbers, got '
                                         f'{text!r}') from exc
    return a, b


def fault_argument(text: str) -> GnssFault:
    """Parse a ``--fault``/``--inject`` value, reporting errors the argparse way."""
    try:
        return GnssFault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``spikevim simulate``."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument('map', type=Path,
                        help='orthophoto: GeoTIFF, corners table (.txt/.csv) or a folder')
    parser.add_argument('out', type=Path, help='bag folder to create (must not exist)')
    path = parser.add_argument_group('flight path (east/north metres from the map centre)')
    path.add_argument('--path', choices=('loiter', 'survey', 'line', 'waypoints'),
                      default='loiter', help='kind of path')
    path.add_argument('--centre', type=_pair, default=(0.0, 0.0), metavar='E,N',
                      help='loiter centre')
    path.add_argument('--radius', type=float, default=80.0, help='loiter radius (m)')
    path.add_argument('--turns', type=float, default=1.0, help='loiter turns')
    path.add_argument('--spacing', type=float, default=100.0, help='survey leg spacing (m)')
    path.add_argument('--margin', type=float, default=100.0,
                      help='survey: keep this far from the map edge (m)')
    path.add_argument('--waypoints', type=_pair, nargs='+', metavar='E,N',
                      help='waypoints for --path line/waypoints (line uses the first two)')
    path.add_argument('--latlon-waypoints', type=_pair, nargs='+', metavar='LAT,LON',
                      help='waypoints as latitude,longitude (implies --path waypoints)')
    flight = parser.add_argument_group('flight')
    flight.add_argument('--altitude', type=float, default=150.0, help='height above ground (m)')
    flight.add_argument('--speed', type=float, default=6.0, help='ground speed (m/s)')
    flight.add_argument('--pitch', type=float, default=0.0,
                        help='camera tilt forward from nadir (deg)')
    flight.add_argument('--attitude-noise', type=float, default=1.0, help='1-sigma (deg)')
    flight.add_argument('--wind-jitter', type=float, default=1.0, help='1-sigma (m)')
    camera = parser.add_argument_group('camera')
    camera.add_argument('--size', type=_pair, default=(640, 480), metavar='W,H',
                        help='image size (px)')
    camera.add_argument('--hfov', type=float, default=60.0, help='horizontal field of view')
    camera.add_argument('--camera-rate', type=float, default=1.0, help='frames per second')
    camera.add_argument('--compressed', action='store_true',
                        help='write JPEG sensor_msgs/CompressedImage on IMAGE/compressed')
    camera.add_argument('--photometry', type=float, default=0.5,
                        help='lighting/blur/noise randomisation strength (0 = clean)')
    gnss = parser.add_argument_group('GNSS')
    gnss.add_argument('--gnss-rate', type=float, default=5.0, help='fixes per second')
    gnss.add_argument('--gnss-sigma', type=float, default=1.5,
                      help='horizontal noise, 1-sigma per axis (m)')
    gnss.add_argument('--fault', type=fault_argument, action='append', default=[],
                      metavar='KIND@START+DURATION[:MAG[:BEARING]]',
                      help=f'inject a GNSS fault (repeatable); KIND is one of '
                           f'{", ".join(FAULT_KINDS)}; e.g. silence@20+60, jump@30+20:150, '
                           'drift@30+40:3 (m/s), degraded@10+10:8 (sigma factor)')
    autopilot = parser.add_argument_group('autopilot topics (mavros names, 10 Hz)')
    autopilot.add_argument('--without', nargs='+', default=[], metavar='TOPIC',
                           choices=AUTOPILOT_TOPICS,
                           help=f'leave these out: {", ".join(AUTOPILOT_TOPICS)}')
    autopilot.add_argument('--yaw-drift', type=float, default=0.5,
                           help='IMU heading bias growth (deg/min)')
    autopilot.add_argument('--range-max', type=float, default=300.0,
                           help='rangefinder limit (m); beyond it the reading is +inf')
    bag = parser.add_argument_group('bag')
    bag.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    bag.add_argument('--distro', choices=('jazzy', 'humble'), default='jazzy',
                     help='message definitions to write')
    bag.add_argument('--seed', type=int, default=0)
    bag.add_argument('--no-progress', action='store_true', help='hide the progress bar')


def build_path(args: argparse.Namespace, world: MapWorld) -> np.ndarray:
    """Return the east/north waypoints that the options describe."""
    if args.latlon_waypoints:
        lat, lon = zip(*args.latlon_waypoints)
        east, north = world.frame.to_en(np.array(lat), np.array(lon))
        return np.stack([east, north], axis=1)
    if args.path == 'loiter':
        return loiter_path(args.centre, args.radius, args.turns)
    if args.path == 'survey':
        return survey_path(world.bounds_en(), args.spacing, args.margin)
    if not args.waypoints or len(args.waypoints) < 2:
        raise ValueError(f'--path {args.path} needs at least two --waypoints E,N')
    if args.path == 'line':
        return line_path(args.waypoints[0], args.waypoints[1])
    return np.array(args.waypoints, dtype=np.float64)


def run(args: argparse.Namespace) -> int:
    """Simulate the flight and write the bag."""
    world = MapWorld.load(args.map)
    try:
        path = build_path(args, world)
        config = SimulationConfig(
            flight=FlightConfig(altitude_agl_m=args.altitude, speed_mps=args.speed,
                                camera_pitch_deg=args.pitch,
                                attitude_noise_deg=args.attitude_noise,
                                wind_jitter_m=args.wind_jitter),
            camera=CameraConfig(width=int(args.size[0]), height=int(args.size[1]),
                                hfov_deg=args.hfov, rate_hz=args.camera_rate,
                                compressed=args.compressed,
                                photometry_strength=args.photometry),
            gnss=GnssModelConfig(rate_hz=args.gnss_rate, sigma_m=args.gnss_sigma),
            aircraft=AircraftSensorConfig(
                imu='imu' not in args.without, rangefinder='rangefinder' not in args.without,
                rel_alt='rel_alt' not in args.without, odometry='odom' not in args.without,
                yaw_drift_deg_per_min=args.yaw_drift, range_max_m=args.range_max),
            faults=tuple(args.fault), seed=args.seed, distro=args.distro,
            storage=args.storage)
        summary = simulate(world, path, config, args.out, progress=not args.no_progress)
    except (ValueError, FileExistsError) as exc:
        print(f'spikevim simulate: {exc}')
        return 2
    print(json.dumps({'bag': summary.bag, 'duration_s': round(summary.duration_s, 2),
                      'path_length_m': round(summary.path_length_m, 1),
                      'frames': summary.frames, 'gnss_messages': summary.gnss_messages,
                      'gnss_denied_windows': summary.scenario['denied_windows']}, indent=2))
    return 0
