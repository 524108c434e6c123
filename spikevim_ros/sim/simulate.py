"""
Fly a simulated mission over a map and record it as a ROS 2 bag.

Frames are rendered one at a time and written straight to the bag, so memory stays flat for
flights of any length. Everything is reproducible from the seed.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikevim_ros.aircraft import CameraMount
from spikevim_ros.camera import PinholeCamera
from spikevim_ros.render import Photometry
from spikevim_ros.sim.aircraft_sensors import RANGEFINDER_MIN_M, AircraftSensorConfig, \
    AircraftSensors
from spikevim_ros.sim.bagfile import BagWriter
from spikevim_ros.sim.flight import Flight, FlightConfig
from spikevim_ros.sim.gnss_model import GnssFault, GnssModel, GnssModelConfig, denied_windows
from spikevim_ros.sim.world import MapWorld

DEFAULT_START_TIME_S = 1_700_000_000.0


@dataclass(frozen=True)
class SimTopics:
    """Topic names written to the bag (defaults match the launch file's remappings)."""

    image: str = '/camera/image_raw'
    camera_info: str = '/camera/camera_info'
    gnss: str = '/gnss/fix'
    truth_pose: str = '/ground_truth/pose'
    truth_fix: str = '/ground_truth/fix'
    clock: str = '/clock'
    scenario: str = '/sim/scenario'
    imu: str = '/mavros/imu/data'
    rangefinder: str = '/mavros/rangefinder/rangefinder'
    rel_alt: str = '/mavros/global_position/rel_alt'
    odom: str = '/mavros/local_position/odom'

    @property
    def compressed_image(self) -> str:
        """Return the image_transport name of the compressed stream."""
        return self.image + '/compressed'


@dataclass(frozen=True)
class CameraConfig:
    """The simulated camera: intrinsics, frame rate, image quality."""

    width: int = 640
    height: int = 480
    hfov_deg: float = 60.0
    rate_hz: float = 1.0
    compressed: bool = False
    jpeg_quality: int = 90
    photometry_strength: float = 0.5   # lighting/blur/noise randomisation (0 = clean render)
    frame_id: str = 'camera_optical'

    def pinhole(self) -> PinholeCamera:
        """Return the pinhole model."""
        return PinholeCamera.from_hfov(self.width, self.height, self.hfov_deg)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated flight except the map and the path."""

    flight: FlightConfig = field(default_factory=FlightConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    gnss: GnssModelConfig = field(default_factory=GnssModelConfig)
    faults: tuple[GnssFault, ...] = ()
    aircraft: AircraftSensorConfig = field(default_factory=AircraftSensorConfig)
    topics: SimTopics = field(default_factory=SimTopics)
    start_time_s: float = DEFAULT_START_TIME_S
    clock_rate_hz: float = 20.0
    seed: int = 0
    distro: str = 'jazzy'
    storage: str = 'mcap'


@dataclass
class SimulationSummary:
    """What was written."""

    bag: str
    duration_s: float
    path_length_m: float
    frames: int
    gnss_messages: int
    start_time_s: float
    denied_windows: list[tuple[float, float]]   # absolute stamps (seconds)
    scenario: dict


def simulate(world: MapWorld, path_en: np.ndarray, config: SimulationConfig,
             out_bag: str | Path, progress: bool = True) -> SimulationSummary:
    """Fly ``path_en`` (east/north in ``world.frame``) and write the bag at ``out_bag``."""
    flight = Flight(path_en, config.flight, seed=config.seed)
    camera = config.camera.pinhole()
    gnss = GnssModel(world.frame, config.gnss, list(config.faults), seed=config.seed + 1)
    rng = np.random.default_rng(config.seed + 2)
    t0 = config.start_time_s
    duration = flight.duration_s
    _check_coverage(world, flight, camera)
    scenario = _scenario_dict(world, flight, config, duration)
    topics = config.topics

    frame_times = np.arange(0.0, duration + 1e-9, 1.0 / config.camera.rate_hz)
    events: list[tuple[float, int, int, str]] = []   # autopilot samples first at a tie
    aircraft = config.aircraft
    sensors = AircraftSensors(aircraft, CameraMount(pitch_deg=config.flight.camera_pitch_deg),
                              seed=config.seed + 3)
    any_sensor = aircraft.imu or aircraft.rangefinder or aircraft.rel_alt or aircraft.odometry
    sensor_times = np.arange(0.0, duration + 1e-9, 1.0 / aircraft.rate_hz) if any_sensor \
        else np.zeros(0)
    for kind, times in (('frame', frame_times), ('gnss', gnss.sample_times(duration)),
                        ('clock', np.arange(0.0, duration + 1e-9, 1.0 / config.clock_rate_hz)),
                        ('aircraft', sensor_times)):
        events.extend((float(t), kind != 'aircraft', order, kind)
                      for order, t in enumerate(times))
    heapq.heapify(events)

    frames = gnss_messages = 0
    with BagWriter(out_bag, config.distro, config.storage) as bag:
        bag.set_custom_data('spikevim.scenario', json.dumps(scenario))
        bag.write(topics.scenario, t0, bag.string(json.dumps(scenario)))
        bar = tqdm(total=len(frame_times), desc='simulate', unit='frame', disable=not progress)
        while events:
            t, _, _, kind = heapq.heappop(events)
            stamp = t0 + t
            if kind == 'clock':
                bag.write(topics.clock, stamp, bag.clock(stamp))
                continue
            pose = flight.pose(t)
            if kind == 'aircraft':
                _write_aircraft(bag, topics, sensors, flight, t, stamp, 1.0 / aircraft.rate_hz)
                continue
            if kind == 'gnss':
                fix = gnss.fix(t, stamp, pose.east, pose.north, pose.altitude_agl)
                if fix is not None:
                    bag.write(topics.gnss, stamp, bag.navsat(fix))
                    gnss_messages += 1
                bag.write(topics.truth_fix, stamp, bag.navsat(
                    gnss.truth_fix(stamp, pose.east, pose.north, pose.altitude_agl)))
                continue
            photometry = Photometry.random(rng, config.camera.photometry_strength) \
                if config.camera.photometry_strength > 0.0 else None
            image, _ = world.render(camera, pose, photometry, rng)
            cam = config.camera
            if cam.compressed:
                bag.write(topics.compressed_image, stamp,
                          bag.compressed_image(image, stamp, cam.frame_id, cam.jpeg_quality))
            else:
                bag.write(topics.image, stamp, bag.image(image, stamp, cam.frame_id))
            bag.write(topics.camera_info, stamp, bag.camera_info(camera, stamp, cam.frame_id))
            bag.write(topics.truth_pose, stamp, bag.pose(pose, stamp))
            frames += 1
            bar.update(1)
        bar.close()
    return SimulationSummary(bag=str(out_bag), duration_s=duration,
                             path_length_m=flight.length_m, frames=frames,
                             gnss_messages=gnss_messages, start_time_s=t0,
                             denied_windows=[(t0 + a, t0 + b)
                                             for a, b in denied_windows(list(config.faults))],
                             scenario=scenario)


def _write_aircraft(bag: BagWriter, topics: SimTopics, sensors: AircraftSensors,
                    flight: Flight, t: float, stamp: float, dt: float) -> None:
    """Write one sample of every enabled autopilot topic at flight time ``t``."""
    config = sensors.config
    pose = flight.pose(t)
    body = sensors.world_from_body(pose, t)
    if config.imu:
        bag.write(topics.imu, stamp, bag.imu(body, stamp))
    if config.rangefinder:
        bag.write(topics.rangefinder, stamp, bag.range(
            sensors.range(pose, body), RANGEFINDER_MIN_M, config.range_max_m, stamp))
    if config.rel_alt:
        bag.write(topics.rel_alt, stamp, bag.float64(sensors.rel_alt(pose, dt)))
    if config.odometry:
        t0, t1 = max(t - 0.05, 0.0), min(t + 0.05, flight.duration_s)
        before, after = flight.pose(t0), flight.pose(t1)
        span = (after.east - before.east, after.north - before.north,
                after.altitude_agl - before.altitude_agl)
        velocity = np.array(span) / max(t1 - t0, 1e-3)
        position, body_velocity = sensors.odometry(
            np.array([pose.east, pose.north, pose.altitude_agl]), velocity, t, body)
        bag.write(topics.odom, stamp, bag.odometry(position, body, body_velocity, stamp))


def _scenario_dict(world: MapWorld, flight: Flight, config: SimulationConfig,
                   duration: float) -> dict:
    """Return the JSON description stored in the bag (truth frame, faults, settings)."""
    t0 = config.start_time_s
    return {
        'start_time_s': t0,
        'duration_s': duration,
        'frame': {'lat0': world.frame.lat0, 'lon0': world.frame.lon0},
        'path_en': flight.path.round(3).tolist(),
        'faults': [dict(f.to_dict(), start_stamp=t0 + f.start_s, end_stamp=t0 + f.end_s)
                   for f in config.faults],
        'denied_windows': [[t0 + a, t0 + b] for a, b in denied_windows(list(config.faults))],
        'flight': asdict(config.flight),
        'camera': asdict(config.camera),
        'gnss': asdict(config.gnss),
        'aircraft': asdict(config.aircraft),
        'topics': asdict(config.topics),
        'maps': [r.source for r in world.rasters],
        'seed': config.seed,
    }


def _check_coverage(world: MapWorld, flight: Flight, camera: PinholeCamera) -> None:
    """Refuse a path whose nominal position leaves the map."""
    e0, n0, e1, n1 = world.bounds_en()
    for t in np.linspace(0.0, flight.duration_s, max(2, int(math.ceil(flight.duration_s)))):
        east, north, _ = flight.nominal(float(t))
        if not (e0 <= east <= e1 and n0 <= north <= n1):
            raise ValueError(f'flight leaves the map at t={t:.1f} s (east {east:.0f} m, north '
                             f'{north:.0f} m; map spans east {e0:.0f}..{e1:.0f}, north '
                             f'{n0:.0f}..{n1:.0f} m in the frame of {world.frame})')
