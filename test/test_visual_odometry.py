"""Visual odometry on rendered NAIP views: metres and heading from consecutive frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim_scenarios import naip_raster
from spikevim_ros.camera import CameraPose, PinholeCamera
from spikevim_ros.georaster import load_rasters
from spikevim_ros.motion import VisualOdometry
from spikevim_ros.render import render_view

CAMERA = PinholeCamera.from_hfov(640, 480, 60.0)
HEIGHT = 600.0


@pytest.fixture(scope='module')
def raster(shared_data):
    return load_rasters(naip_raster('20180716'))[0]


def fly(raster, vo: VisualOdometry, frames: int, turn_deg: float = 3.0, speed: float = 15.0):
    """Fly a turning path at 1 Hz; return the truth positions and the odometries."""
    position, yaw = np.array([-250.0, -1000.0]), 30.0
    truth, odometry = [], []
    for k in range(frames):
        rgb, _ = render_view(raster, CAMERA, CameraPose(position[0], position[1], HEIGHT, yaw))
        odometry.append(vo.update(rgb, float(k), HEIGHT, CAMERA))
        if k == 0:
            vo.set_heading(yaw)                  # as a verified vision fix would give it
        truth.append(position.copy())
        position = position + speed * np.array([math.sin(math.radians(yaw)),
                                                math.cos(math.radians(yaw))])
        yaw += turn_deg
    return np.array(truth), odometry


def test_motion_and_heading_follow_a_turning_flight(raster):
    vo = VisualOdometry()
    truth, odometry = fly(raster, vo, 12)
    assert odometry[0] is None                   # no heading known before the first fix
    assert len({o.epoch for o in odometry[1:]}) == 1 and vo.problem is None
    moved = truth[-1] - truth[0]
    measured = odometry[-1].position[:2] - odometry[1].position[:2] + (truth[1] - truth[0])
    # measured: 1.3 m after 165 m (0.8 %); the prior grows by 5 % of the distance
    assert np.hypot(*(measured - moved)) < 0.02 * np.hypot(*moved)
    assert abs((vo.heading_deg - (30.0 + 3.0 * 11) + 180.0) % 360.0 - 180.0) < 0.5
    assert np.hypot(*odometry[-1].velocity_enu[:2]) == pytest.approx(15.0, rel=0.05)


def test_unmeasurable_motion_starts_a_new_epoch_with_the_reason(raster):
    vo = VisualOdometry()
    fly(raster, vo, 2)
    epoch = vo.update(np.zeros((480, 640, 3), np.uint8), 2.0, HEIGHT, CAMERA).epoch
    assert 'feature' in vo.problem or 'matches' in vo.problem
    rgb, _ = render_view(raster, CAMERA, CameraPose(0.0, 0.0, HEIGHT, 0.0))
    later = vo.update(rgb, 20.0, HEIGHT, CAMERA)
    assert later.epoch == epoch + 1 and 'apart' in vo.problem
    vo.update(rgb, 21.0, None, CAMERA)           # measured with the previous frame's height
    assert vo.update(rgb, 22.0, HEIGHT, CAMERA).epoch == epoch + 2
    assert 'height above ground' in vo.problem
