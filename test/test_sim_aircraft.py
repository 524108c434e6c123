"""Simulated autopilot topics read back through the node's validation give the true camera."""

from __future__ import annotations

import math

import numpy as np

from sim_scenarios import loiter_flight
from spikevim_ros.aircraft import AircraftInputs
from spikevim_ros.aircraft.attitude import pose_angles_deg, rotation_from_quaternion
from spikevim_ros.aircraft.messages import feed_input
from spikevim_ros.replay.bag_source import iter_messages, open_bag
from spikevim_ros.aircraft.messages import header_stamp
from spikevim_ros.sim.simulate import SimTopics

TOPICS = SimTopics()
INPUTS = {TOPICS.imu: 'imu/data', TOPICS.rangefinder: 'rangefinder',
          TOPICS.rel_alt: 'altitude_agl', TOPICS.odom: 'odom'}


def test_simulated_autopilot_topics_match_the_rendered_camera(tmp_path):
    loiter_flight(tmp_path / 'bag', 12.0, (), seed=5)
    inputs = AircraftInputs()
    errors, heights, rejected, sources = [], [], 0, set()
    pending = []            # truth poses wait for the autopilot samples of the same stamp

    def compare(truth) -> None:
        stamp = header_stamp(truth)
        attitude, height = inputs.camera_attitude(stamp), inputs.height(stamp)
        assert attitude is not None and height is not None
        q = truth.pose.orientation
        true_yaw, true_pitch, true_roll = pose_angles_deg(
            rotation_from_quaternion((q.x, q.y, q.z, q.w)))
        errors.append([(attitude[0] - true_yaw + 180.0) % 360.0 - 180.0,
                       attitude[1] - true_pitch, attitude[2] - true_roll])
        heights.append(height[0] - truth.pose.position.z)
        sources.add(height[1])

    with open_bag(tmp_path / 'bag') as reader:
        for message in iter_messages(reader, [*INPUTS, TOPICS.truth_pose]):
            now = message.time_s
            while pending and header_stamp(pending[0]) < now:
                compare(pending.pop(0))
            if message.topic in INPUTS:
                rejected += feed_input(inputs, INPUTS[message.topic], message.message,
                                       now) is not None
            else:
                pending.append(message.message)
    errors = np.abs(np.array(errors))
    assert len(errors) >= 10
    assert np.all(errors < 2.0), errors.max(axis=0)           # 0.3 deg noise + slow yaw drift
    assert np.all(errors > 0.0)                                # noisy, not the truth copied
    assert np.all(np.abs(heights) < 5.0), heights
    assert sources == {'rangefinder'}                          # 150 m: within the 300 m limit
    assert inputs.odometry(math.inf) is None and inputs.health(now)['odometry'].ok
    assert rejected <= 0.15 * 4 * 10 * 12                      # rangefinder dropouts (+inf)
