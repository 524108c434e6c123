"""Replay with the node's params file and the simulated autopilot topics: the in-flight path."""

from __future__ import annotations

import json

import pytest

from sim_scenarios import REPO, demo_gallery, loiter_flight
from spikevim_ros.replay.evaluate import run_replay
from spikevim_ros.replay.pipeline_factory import load_pipeline
from spikevim_ros.replay.runner import ReplayOptions
from spikevim_ros.ros import parameters
from spikevim_ros.sim.gnss_model import GnssFault

PARAMS_FILE = REPO / 'config' / 'localize.yaml'


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    folder = tmp_path_factory.mktemp('aircraft_replay')
    loiter_flight(folder / 'bag', 20.0, (GnssFault('silence', 5.0, 12.0),), seed=4)
    return folder / 'bag'


def replay(bag, gallery, out, **options) -> dict:
    values = parameters.load_params_file(PARAMS_FILE)
    pipeline, _ = load_pipeline(gallery, None, monitor_config=parameters.monitor_config(values),
                                pipeline_config=parameters.pipeline_config(values))
    result = run_replay(bag, pipeline, out, ReplayOptions(progress=False, node_params=values,
                                                          **options), plots=False)
    return json.loads((result.out_dir / 'metrics.json').read_text())


def test_params_file_and_autopilot_topics_give_the_in_flight_path(bag, tmp_path_factory,
                                                                  tmp_path):
    gallery = demo_gallery(tmp_path_factory)
    metrics = replay(bag, gallery, tmp_path / 'with', frame_budget_s=0.5)   # load-independent
    inputs = metrics['aircraft_inputs']
    assert set(inputs['input_topics'].values()) == {'imu/data', 'rangefinder', 'altitude_agl',
                                                    'odom'}
    assert inputs['frames_with_prior'] >= 15
    assert inputs['in_flight_fraction'] >= 0.95, inputs
    # the same bag without the autopilot topics: the node's defaults know no height, no attitude
    without = replay(bag, gallery, tmp_path / 'without', imu_topic='', rangefinder_topic='',
                     altitude_topic='', odom_topic='', max_frames=3)['aircraft_inputs']
    assert without['search_paths'] == {'scale_search': without['frames_with_prior']}


def test_params_file_loading(tmp_path):
    values = parameters.load_params_file(PARAMS_FILE)
    assert values == parameters.defaults()
    bad = tmp_path / 'bad.yaml'
    bad.write_text('localizer:\n  ros__parameters:\n    prior_radius: -3.0\n')
    with pytest.raises(ValueError, match='prior_radius'):
        parameters.load_params_file(bad)
    bad.write_text('/**:\n  ros__parameters:\n    no_such_thing: 1\n')
    with pytest.raises(ValueError, match='no_such_thing'):
        parameters.load_params_file(bad)
    good = tmp_path / 'good.yaml'
    good.write_text('/**:\n  ros__parameters:\n    prior_radius: 50.0\n'
                    '/localizer:\n  ros__parameters:\n    prior_radius: 70.0\n')
    assert parameters.load_params_file(good)['prior_radius'] == 70.0
