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


def test_chain_holds_over_the_low_contrast_flooded_fields_of_2020(shared_data):
    # 93-112 s of the cross-date flight: with OpenCV's default FAST threshold (20) the chain
    # broke on 8 of these 20 frames, and without odometry the search disc grew at 15 m/s
    raster = load_rasters(naip_raster('20200831'))[0]
    vo = VisualOdometry()
    odometry = []
    for k in range(20):
        north = 95.0 + 15.0 * k
        rgb, _ = render_view(raster, CAMERA, CameraPose(-250.0, north, HEIGHT, 0.0))
        odometry.append(vo.update(rgb, float(k), HEIGHT, CAMERA))
        if k == 0:
            vo.set_heading(0.0)
    assert len({o.epoch for o in odometry[1:]}) == 1 and vo.problem is None
    east, north = odometry[-1].position[:2] - odometry[1].position[:2]
    assert math.hypot(east, north - 15.0 * 18) < 0.02 * 15.0 * 18


def test_unmatched_frames_coast_on_the_last_velocity_with_a_growing_variance(raster):
    vo = VisualOdometry()
    _, odometry = fly(raster, vo, 2)             # one measured step at 15 m/s, heading 30 deg
    measured = odometry[-1]
    blank = np.zeros((480, 640, 3), np.uint8)    # open water, a dropped frame: nothing matches
    coasted = [vo.update(blank, t, HEIGHT, CAMERA) for t in (2.0, 3.0, 4.0)]
    assert {o.epoch for o in coasted} == {measured.epoch} and 'coasting' in vo.problem
    assert measured.source == 'visual odometry' and 'coasting' in coasted[-1].source
    expected = measured.position + 3.0 * measured.velocity_enu
    assert np.allclose(coasted[-1].position, expected)
    sigma = [math.sqrt(o.variance_m2) for o in coasted]
    assert sigma == pytest.approx([0.5 * t + 0.5 * t ** 2 for t in (1.0, 2.0, 3.0)])
    assert measured.variance_m2 == 0.0
    # beyond coast_s the chain breaks: a new epoch, nothing carried over
    for t in np.arange(5.0, 13.0):              # 11 s after the measured step
        late = vo.update(blank, float(t), HEIGHT, CAMERA)
    assert late.epoch == measured.epoch + 1 and late.variance_m2 == 0.0
    assert 'coasting' not in vo.problem and 'a new odometry frame' in late.source


def test_unmeasurable_motion_starts_a_new_epoch_with_the_reason(raster):
    vo = VisualOdometry()
    fly(raster, vo, 2)
    rgb, _ = render_view(raster, CAMERA, CameraPose(0.0, 0.0, HEIGHT, 0.0))
    later = vo.update(rgb, 20.0, HEIGHT, CAMERA)  # past coast_s: no coasting either
    assert 'apart' in vo.problem and 'coasting' not in vo.problem
    vo.update(rgb, 21.0, None, CAMERA)           # measured with the previous frame's height
    coasted = vo.update(rgb, 22.0, HEIGHT, CAMERA)
    assert 'height above ground' in vo.problem and coasted.epoch == later.epoch
    fresh = VisualOdometry()                     # nothing measured yet: nothing to coast on
    fresh.update(rgb, 0.0, HEIGHT, CAMERA)       # the first frame opens epoch 1
    fresh.set_heading(0.0)
    assert fresh.update(np.zeros_like(rgb), 1.0, HEIGHT, CAMERA).epoch == 2
    assert 'coasting' not in fresh.problem
