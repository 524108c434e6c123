"""The aircraft inputs: camera attitude from ENU/FLU orientation and mount, validation, order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikevim_ros.aircraft import AircraftInputs, AircraftInputsConfig, CameraMount
from spikevim_ros.aircraft.attitude import camera_attitude_deg, rotation_from_quaternion
from spikevim_ros.camera import CameraPose


def quaternion(axis, angle_deg: float) -> tuple[float, float, float, float]:
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    half = math.radians(angle_deg) / 2.0
    return (*(axis * math.sin(half)), math.cos(half))


def compose(a, b) -> tuple[float, float, float, float]:
    """Return the product a * b (x, y, z, w): rotation b in the frame rotated by a."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)


NORTH = quaternion((0, 0, 1), 90.0)    # ENU yaw 90 deg: body x (forward) points north


@pytest.mark.parametrize('orientation, mount, expected', [
    ((0, 0, 0, 1), CameraMount(), (90.0, 0.0, 0.0)),                    # heading east
    (NORTH, CameraMount(), (0.0, 0.0, 0.0)),
    (compose(NORTH, quaternion((0, 1, 0), 10.0)), CameraMount(), (0.0, -10.0, 0.0)),  # nose down
    (compose(NORTH, quaternion((1, 0, 0), 8.0)), CameraMount(), (0.0, 0.0, -8.0)),  # right down
    (NORTH, CameraMount(pitch_deg=20.0), (0.0, 20.0, 0.0)),             # forward-looking mount
    (NORTH, CameraMount(yaw_deg=90.0), (90.0, 0.0, 0.0)),               # image top to the right
    (compose(NORTH, quaternion((0, 1, 0), 10.0)), CameraMount(gimbal_nadir=True),
     (0.0, 0.0, 0.0)),
])
def test_camera_attitude_conventions(orientation, mount, expected):
    yaw, pitch, roll = camera_attitude_deg(rotation_from_quaternion(orientation), mount)
    assert (yaw + 180.0) % 360.0 - 180.0 == pytest.approx((expected[0] + 180) % 360 - 180,
                                                          abs=1e-6)
    assert (pitch, roll) == pytest.approx(expected[1:], abs=1e-6)


def test_attitude_round_trips_through_camera_pose():
    rng = np.random.default_rng(3)
    for _ in range(20):
        yaw, pitch, roll = rng.uniform(0, 360), rng.uniform(-30, 30), rng.uniform(-30, 30)
        world_from_camera = CameraPose(0, 0, 1, yaw, pitch, roll).world_from_camera()
        # a body whose nadir mount gives exactly this camera
        world_from_body = world_from_camera @ np.linalg.inv(CameraMount().body_from_camera())
        got = camera_attitude_deg(world_from_body, CameraMount())
        assert got == pytest.approx((yaw, pitch, roll), abs=1e-6)


def test_bad_attitude_messages_are_rejected_and_reported():
    inputs = AircraftInputs()
    assert not inputs.on_orientation((math.nan, 0, 0, 1), 10.0, 10.0)
    assert 'not finite' in inputs.health(10.0)['attitude'].message
    assert not inputs.on_orientation((0, 0, 0, 0), 10.0, 10.0)            # "no orientation"
    assert inputs.on_orientation(NORTH, 10.0, 10.0)
    assert not inputs.on_orientation(quaternion((0, 0, 1), 0.0), 10.02, 10.02)   # 90 deg jump
    assert 'jumped' in inputs.health(10.02)['attitude'].message
    assert not inputs.on_orientation(NORTH, 8.0, 10.1)                      # stale stamp
    health = inputs.health(10.1)
    assert not health['attitude'].ok and 'stale stamp' in health['attitude'].message
    assert inputs.camera_attitude(10.1) == pytest.approx((0, 0, 0), abs=1e-6)
    assert inputs.camera_attitude(11.0) is None                              # 0.5 s timeout
    assert health['attitude'].values['rejected'] == 4


def test_height_sources_order_limits_and_tilt():
    inputs = AircraftInputs(AircraftInputsConfig(height_from_gnss=True, ground_altitude_m=100.0))
    assert inputs.height(0.0) is None
    assert inputs.on_gnss_altitude(400.0, 1.0, 1.0, healthy=True)
    assert not inputs.on_gnss_altitude(400.0, 1.0, 1.0, healthy=False)
    assert inputs.height(1.0) == (300.0, 'gnss')
    assert inputs.on_relative_altitude(290.0, 1.0, 1.0)
    assert inputs.height(1.0) == (290.0, 'rel_alt')
    assert not inputs.on_range(-3.0, 0.2, 500.0, 1.0, 1.0)
    assert 'negative range' in inputs.health(1.0)['rangefinder'].message
    assert not inputs.on_range(700.0, 0.2, 500.0, 1.0, 1.0)
    assert inputs.on_range(280.0, 0.2, 500.0, 1.0, 1.0)
    assert inputs.height(1.0) == (280.0, 'rangefinder')
    tilted = quaternion((1, 0, 0), 10.0)
    assert inputs.on_orientation(tilted, 1.0, 1.0)
    assert inputs.height(1.0)[0] == pytest.approx(280.0 * math.cos(math.radians(10.0)))
    assert inputs.height(3.5) is None                                       # all stale
    assert not inputs.on_relative_altitude(math.nan, 4.0, 4.0)
    assert inputs.on_relative_altitude(250.0, 4.0, 4.0)
    assert not inputs.on_relative_altitude(900.0, 4.1, 4.1)                 # 650 m step
    assert inputs.height(4.1) == (250.0, 'rel_alt')


def test_odometry_validation():
    inputs = AircraftInputs(AircraftInputsConfig(odometry_max_speed_m_s=40.0))
    assert inputs.on_odometry((0, 0, 100), NORTH, (10.0, 0, 0), 1.0, 1.0)
    odometry = inputs.odometry(1.0)
    assert odometry.velocity_enu == pytest.approx((0.0, 10.0, 0.0), abs=1e-9)   # north
    assert inputs.on_odometry((0, 1.0, 100), NORTH, (10.0, 0, 0), 1.1, 1.1)
    assert not inputs.on_odometry((500, 1.0, 100), NORTH, (10.0, 0, 0), 1.2, 1.2)
    assert 'jumped' in inputs.health(1.2)['odometry'].message
    assert not inputs.on_odometry((0, 2.0, 100), NORTH, (math.nan, 0, 0), 1.3, 1.3)
    assert not inputs.on_odometry((0, 2.0, 100), NORTH, (90.0, 0, 0), 1.3, 1.3)
    assert not inputs.on_odometry((0, 2.0, 100), (0, 0, 0, 0), (1.0, 0, 0), 1.3, 1.3)
    assert inputs.odometry(1.3).position == pytest.approx((0, 1.0, 100))
    assert inputs.odometry(2.5) is None
    assert inputs.health(9.0)['odometry'].message.startswith('odometry stale')
