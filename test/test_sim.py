"""Simulated flights, the GNSS fault model and bag writing, read back with rosbags."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from spikevim_ros.camera_messages import compressed_to_rgb, image_to_rgb
from spikevim_ros.fix import STATUS_FIX, STATUS_NO_FIX, GeoFix
from spikevim_ros.geo import LocalFrame
from spikevim_ros.gnss import GnssMonitor
from spikevim_ros.fix import fix_from_navsat
from spikevim_ros.sim.bagfile import quaternion_from_matrix
from spikevim_ros.sim.flight import Flight, FlightConfig, line_path, loiter_path, survey_path
from spikevim_ros.sim.gnss_model import (FaultInjector, GnssFault, GnssModel, GnssModelConfig,
                                         denied_windows)
from spikevim_ros.sim.simulate import CameraConfig, SimulationConfig, simulate
from spikevim_ros.sim.world import MapWorld

DEMO_MAP = 'spikevim_ros/data/demo_map'
CALM = FlightConfig(altitude_agl_m=120.0, speed_mps=10.0, attitude_noise_deg=0.0,
                    wind_jitter_m=0.0, altitude_noise_m=0.0)


@pytest.fixture(scope='module')
def world() -> MapWorld:
    from pathlib import Path
    return MapWorld.load(Path(__file__).resolve().parents[1] / DEMO_MAP)


def test_flight_follows_path_at_speed_and_heading():
    flight = Flight(np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 50.0]]), CALM)
    assert flight.length_m == pytest.approx(150.0)
    assert flight.duration_s == pytest.approx(15.0)
    pose = flight.pose(5.0)
    assert (pose.east, pose.north, pose.yaw_deg) == pytest.approx((50.0, 0.0, 90.0))
    pose = flight.pose(12.5)
    assert (pose.east, pose.north, pose.yaw_deg) == pytest.approx((100.0, 25.0, 0.0))
    assert flight.pose(99.0).north == pytest.approx(50.0)


def test_flight_disturbances_are_bounded_and_reproducible():
    config = FlightConfig(wind_jitter_m=2.0, attitude_noise_deg=1.5, altitude_noise_m=1.0)
    a = Flight(line_path((0, 0), (0, 600)), config, seed=3)
    b = Flight(line_path((0, 0), (0, 600)), config, seed=3)
    offsets = np.array([a.pose(t).east for t in np.arange(0, a.duration_s, 0.5)])
    assert 0.5 < offsets.std() < 5.0
    assert a.pose(17.3) == b.pose(17.3)
    assert Flight(line_path((0, 0), (0, 600)), config, seed=4).pose(17.3) != a.pose(17.3)


def test_path_generators():
    circle = loiter_path((10.0, -5.0), 50.0, turns=1.0)
    radii = np.hypot(circle[:, 0] - 10.0, circle[:, 1] + 5.0)
    assert radii == pytest.approx(np.full(len(circle), 50.0))
    survey = survey_path((-100, -100, 100, 100), spacing_m=50.0, margin_m=10.0)
    assert survey[:, 0].min() == pytest.approx(-90) and survey[:, 0].max() == pytest.approx(90)
    assert len(np.unique(survey[:, 1])) == 4
    with pytest.raises(ValueError, match='leaves nothing to fly'):
        survey_path((0, 0, 10, 10), spacing_m=5.0, margin_m=20.0)
    with pytest.raises(ValueError, match='two east/north waypoints'):
        Flight(np.zeros((1, 2)), CALM)


def test_fault_spec_parsing_and_errors():
    fault = GnssFault.parse('jump@40+30:150:90')
    assert (fault.kind, fault.start_s, fault.end_s, fault.magnitude, fault.bearing_deg) == \
        ('jump', 40.0, 70.0, 150.0, 90.0)
    assert GnssFault.parse('silence@5+10').effective_magnitude == 0.0
    with pytest.raises(ValueError, match='unknown GNSS fault'):
        GnssFault.parse('jam@1+2')
    with pytest.raises(ValueError, match='cannot parse'):
        GnssFault.parse('silence 5 10')
    windows = denied_windows([GnssFault('silence', 0, 10), GnssFault('nan', 5, 10),
                              GnssFault('degraded', 30, 5), GnssFault('drift', 40, 5)])
    assert windows == [(0.0, 15.0), (40.0, 45.0)]


def _healthy(frame: LocalFrame, stamp: float = 0.0) -> GeoFix:
    model = GnssModel(frame, GnssModelConfig(sigma_m=0.0, bias_sigma_m=0.0))
    return model.fix(stamp, stamp, 0.0, 0.0, 100.0)


@pytest.mark.parametrize('kind', ['silence', 'no_fix', 'nan', 'degraded', 'jump', 'drift'])
def test_each_fault_mode(kind):
    frame = LocalFrame(55.54, 38.25)
    fault = GnssFault(kind, 10.0, 20.0, magnitude={'jump': 120.0, 'drift': 3.0,
                                                   'degraded': 10.0}.get(kind, 0.0))
    injector = FaultInjector([fault])
    before = injector.apply(5.0, _healthy(frame, 5.0))
    assert before is not None and before.status == STATUS_FIX and before.has_position
    during = injector.apply(20.0, _healthy(frame, 20.0))
    after = injector.apply(31.0, _healthy(frame, 31.0))
    assert after is not None and after.has_position
    if kind == 'silence':
        assert during is None
        return
    east, north = frame.to_en(during.latitude, during.longitude)
    if kind == 'no_fix':
        assert during.status == STATUS_NO_FIX
    elif kind == 'nan':
        assert during.status == STATUS_FIX and not during.has_position
    elif kind == 'degraded':
        assert during.horizontal_sigma_m == pytest.approx(10.0 * before.horizontal_sigma_m)
    elif kind == 'jump':
        assert during.status == STATUS_FIX and math.hypot(east, north) == pytest.approx(120.0)
        assert during.horizontal_sigma_m == pytest.approx(before.horizontal_sigma_m)
    elif kind == 'drift':
        assert math.hypot(east, north) == pytest.approx(3.0 * 10.0)


def test_gnss_noise_matches_its_covariance():
    frame = LocalFrame(55.54, 38.25)
    model = GnssModel(frame, GnssModelConfig(sigma_m=2.0, bias_sigma_m=0.0), seed=1)
    fixes = [model.fix(t, t, 0.0, 0.0, 50.0) for t in np.arange(0.0, 400.0, 0.2)]
    east, north = frame.to_en([f.latitude for f in fixes], [f.longitude for f in fixes])
    assert np.std(east) == pytest.approx(2.0, rel=0.1)
    assert np.std(north) == pytest.approx(2.0, rel=0.1)
    assert fixes[0].horizontal_sigma_m == pytest.approx(2.0)


def test_real_monitor_loses_gnss_for_each_denial_mode():
    frame = LocalFrame(55.54, 38.25)
    for kind in ('silence', 'no_fix', 'nan', 'degraded'):
        model = GnssModel(frame, GnssModelConfig(), [GnssFault(kind, 10.0, 10.0)], seed=2)
        monitor = GnssMonitor()
        health = {}
        for t in np.arange(0.0, 30.0, 0.2):
            fix = model.fix(t, t, 0.0, 0.0, 100.0)
            if fix is not None:
                monitor.on_gnss(fix, t)
            health[round(t, 1)] = monitor.evaluate(t).ok
        assert health[8.0], kind
        assert not health[12.0], kind
        assert health[29.8], kind


def test_simulated_bag_contents(world, tmp_path):
    config = SimulationConfig(flight=CALM, camera=CameraConfig(width=320, height=240,
                                                               rate_hz=2.0,
                                                               photometry_strength=0.0),
                              faults=(GnssFault('silence', 3.0, 2.0),), seed=5)
    summary = simulate(world, line_path((-300.0, 0.0), (-200.0, 0.0)), config,
                       tmp_path / 'bag', progress=False)
    assert summary.duration_s == pytest.approx(10.0)
    with AnyReader([tmp_path / 'bag']) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts['/camera/image_raw'] == counts['/camera/camera_info'] == 21
        assert counts['/ground_truth/pose'] == 21
        assert counts['/ground_truth/fix'] == 51
        assert counts['/gnss/fix'] == 51 - 10   # 2 s of silence at 5 Hz
        assert counts['/clock'] == 201
        t0 = config.start_time_s
        for connection, timestamp, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.topic == '/gnss/fix':
                assert not 3.0 <= timestamp * 1e-9 - t0 < 5.0
            if connection.topic == '/sim/scenario':
                scenario = json.loads(msg.data)
                assert scenario['denied_windows'] == [[t0 + 3.0, t0 + 5.0]]
            if connection.topic == '/camera/camera_info':
                assert msg.k[0] == pytest.approx(config.camera.pinhole().fx)
            if connection.topic == '/ground_truth/fix' and timestamp * 1e-9 - t0 == 5.0:
                truth = fix_from_navsat(msg)
                east, north = world.frame.to_en(truth.latitude, truth.longitude)
                assert (float(east), float(north)) == pytest.approx((-250.0, 0.0), abs=1e-3)
            if connection.topic == '/camera/image_raw' and timestamp * 1e-9 - t0 == 5.0:
                image = image_to_rgb(msg)
                expected, valid = world.render(config.camera.pinhole(),
                                               Flight(line_path((-300, 0), (-200, 0)),
                                                      CALM).pose(5.0))
                assert valid.all()
                assert np.abs(image.astype(int) - expected.astype(int)).max() == 0


@pytest.mark.parametrize('storage,distro,compressed', [('sqlite3', 'humble', True),
                                                       ('mcap', 'jazzy', True)])
def test_storage_distro_and_compression(world, tmp_path, storage, distro, compressed):
    config = SimulationConfig(flight=CALM, camera=CameraConfig(width=160, height=120,
                                                               compressed=compressed),
                              storage=storage, distro=distro)
    simulate(world, line_path((0.0, 0.0), (30.0, 0.0)), config, tmp_path / 'bag',
             progress=False)
    suffix = {'sqlite3': '.db3', 'mcap': '.mcap'}[storage]
    assert (tmp_path / 'bag' / f'bag{suffix}').is_file()
    info = yaml.safe_load((tmp_path / 'bag' / 'metadata.yaml').read_text())[
        'rosbag2_bagfile_information']
    # Humble's rosbag2 parses metadata up to version 5 only.
    assert info['version'] == (5 if distro == 'humble' else 8)
    assert ('custom_data' in info) == (distro == 'jazzy')
    with AnyReader([tmp_path / 'bag']) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types['/camera/image_raw/compressed'] == 'sensor_msgs/msg/CompressedImage'
        assert '/camera/image_raw' not in types
        connection = next(c for c in reader.connections
                          if c.topic == '/camera/image_raw/compressed')
        _, _, raw = next(reader.messages(connections=[connection]))
        image = compressed_to_rgb(reader.deserialize(raw, connection.msgtype))
        assert image.shape == (120, 160, 3) and image.std() > 5


def test_flight_off_the_map_is_refused(world, tmp_path):
    with pytest.raises(ValueError, match='leaves the map'):
        simulate(world, line_path((0.0, 0.0), (2000.0, 0.0)), SimulationConfig(),
                 tmp_path / 'bag', progress=False)
    assert not (tmp_path / 'bag').exists()


def test_quaternion_of_nadir_north_up_camera():
    from spikevim_ros.camera import CameraPose
    rotation = CameraPose(0, 0, 100).world_from_camera()
    x, y, z, w = quaternion_from_matrix(rotation)
    # Camera x = east, y = south, z = down: a 180 deg turn about the east axis.
    assert (abs(x), y, z, w) == pytest.approx((1.0, 0.0, 0.0, 0.0), abs=1e-9)


def test_simulate_cli(tmp_path, capsys):
    from spikevim_ros.cli import main

    bag = tmp_path / 'cli_bag'
    code = main(['simulate', DEMO_MAP, str(bag), '--path', 'line', '--waypoints', '0,0',
                 '40,0', '--speed', '10', '--size', '160,120', '--fault', 'nan@1+1',
                 '--no-progress', '--storage', 'sqlite3'])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report['frames'] == 5 and report['gnss_denied_windows'][0][1] - \
        report['gnss_denied_windows'][0][0] == pytest.approx(1.0)
    assert main(['simulate', DEMO_MAP, str(bag), '--no-progress']) == 2
    assert 'already exists' in capsys.readouterr().out
