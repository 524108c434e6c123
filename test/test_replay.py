"""Offline replay: any bag layout in, the real pipeline in bag time, metrics/plots/report out."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from spikevim_ros.camera_messages import ImageConversionError, image_to_rgb
from spikevim_ros.replay.bag_source import BagError, pick_topic, resolve_bag_path
from spikevim_ros.replay.evaluate import run_replay
from spikevim_ros.replay.metrics import FrameRecord, error_stats, summarize
from spikevim_ros.replay.pipeline_factory import gallery_world, load_pipeline
from spikevim_ros.replay.report import write_report
from spikevim_ros.replay.runner import ReplayOptions
from spikevim_ros.sim.gnss_model import GnssFault
from sim_scenarios import demo_gallery, loiter_flight


@pytest.fixture(scope='module')
def gallery(tmp_path_factory):
    return demo_gallery(tmp_path_factory)


@pytest.fixture(scope='module')
def short_bag(tmp_path_factory):
    """Record a 14 s loiter with 6 s of GNSS silence from t = 4 s."""
    folder = tmp_path_factory.mktemp('short')
    summary = loiter_flight(folder / 'bag', 14.0, (GnssFault('silence', 4.0, 6.0),), seed=1)
    assert summary.frames == 14
    return folder / 'bag'


@pytest.fixture(scope='module')
def replayed(gallery, short_bag, tmp_path_factory):
    pipeline, loaded = load_pipeline(gallery)
    out = tmp_path_factory.mktemp('replay') / 'out'
    return run_replay(short_bag, pipeline, out, ReplayOptions(progress=False),
                      world=gallery_world(loaded))


def test_bag_paths_with_and_without_metadata(short_bag, tmp_path):
    assert resolve_bag_path(short_bag) == short_bag
    bare = tmp_path / 'bare'
    bare.mkdir()
    shutil.copy(short_bag / 'bag.mcap', bare / 'flight.mcap')
    assert resolve_bag_path(bare) == bare / 'flight.mcap'
    assert resolve_bag_path(bare / 'flight.mcap') == bare / 'flight.mcap'
    with pytest.raises(BagError, match='does not exist'):
        resolve_bag_path(tmp_path / 'nothing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match='no metadata.yaml and 0 storage files'):
        resolve_bag_path(tmp_path / 'empty')
    with pytest.raises(BagError, match='not a ROS 2 bag'):
        resolve_bag_path(short_bag / 'metadata.yaml')


def test_topic_choice():
    types = {'/a/fix': 'sensor_msgs/msg/NavSatFix', '/b/fix': 'sensor_msgs/msg/NavSatFix',
             '/cam': 'sensor_msgs/msg/Image'}
    nav = ('sensor_msgs/msg/NavSatFix',)
    assert pick_topic(types, '/a/fix', nav, 'GNSS') == '/a/fix'
    assert pick_topic(types, '/gnss/fix', nav, 'GNSS', exclude=('/b/fix',)) == '/a/fix'
    with pytest.raises(BagError, match='several candidates'):
        pick_topic(types, '/gnss/fix', nav, 'GNSS')
    with pytest.raises(BagError, match='carries sensor_msgs/msg/Image'):
        pick_topic(types, '/cam', nav, 'GNSS')
    assert pick_topic(types, '/x', ('sensor_msgs/msg/CompressedImage',), 'image') is None


@pytest.mark.parametrize('encoding,channels', [('rgb8', 3), ('bgr8', 3), ('mono8', 1),
                                               ('bgra8', 4)])
def test_image_decoding_with_row_padding(encoding, channels):
    store = get_typestore(Stores.ROS2_JAZZY)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (5, 7, channels), dtype=np.uint8)
    step = 7 * channels + 3
    padded = np.zeros((5, step), dtype=np.uint8)
    padded[:, :7 * channels] = pixels.reshape(5, -1)
    Image = store.types['sensor_msgs/msg/Image']
    header = store.types['std_msgs/msg/Header'](
        stamp=store.types['builtin_interfaces/msg/Time'](sec=1, nanosec=0), frame_id='c')
    rgb = image_to_rgb(Image(header=header, height=5, width=7, encoding=encoding,
                             is_bigendian=0, step=step, data=padded.reshape(-1)))
    expected = {'rgb8': pixels, 'bgr8': pixels[:, :, ::-1], 'mono8': np.repeat(pixels, 3, 2),
                'bgra8': pixels[:, :, 2::-1]}[encoding]
    assert rgb.shape == (5, 7, 3) and np.array_equal(rgb, expected)
    with pytest.raises(ImageConversionError, match='unsupported image encoding'):
        image_to_rgb(Image(header=header, height=5, width=7, encoding='16UC1', is_bigendian=0,
                           step=14, data=np.zeros(70, dtype=np.uint8)))
    with pytest.raises(ImageConversionError, match='expected step x height'):
        image_to_rgb(Image(header=header, height=5, width=7, encoding=encoding, is_bigendian=0,
                           step=step, data=padded.reshape(-1)[:-10]))


def test_error_statistics_and_fix_fraction():
    stats = error_stats([1.0, 2.0, 3.0, math.nan, 10.0])
    assert stats['count'] == 4 and stats['median_m'] == 2.5 and stats['max_m'] == 10.0
    assert error_stats([math.nan])['median_m'] is None
    records = [FrameRecord(stamp=i, t=i, in_outage=i >= 2, gnss_health='OK', truth_east=0.0,
                           truth_north=0.0, vision_east=float(i) if i != 3 else math.nan,
                           vision_north=0.0, vision_sigma_m=2.0) for i in range(5)]
    metrics = summarize(records, {})
    assert metrics['frames_in_outage'] == 3
    assert metrics['outage_fix_fraction'] == pytest.approx(2 / 3)
    assert metrics['vision_error_in_outage']['median_m'] == pytest.approx(3.0)
    assert metrics['covariance_consistency']['inside_1sigma'] == pytest.approx(0.75)


def test_replay_outputs(replayed, tmp_path):
    metrics = json.loads((replayed.out_dir / 'metrics.json').read_text())
    assert metrics['frames'] == metrics['frames_in_bag'] == 14
    assert metrics['frames_in_outage'] == 6
    assert metrics['denied_windows_s'] == [[4.0, 10.0]]
    assert metrics['monitor_lost_windows_s'], 'the monitor never declared the silence'
    lost_start = metrics['monitor_lost_windows_s'][0][0]
    assert 4.0 < lost_start <= 5.2
    assert metrics['outage_fix_fraction'] >= 0.8
    assert metrics['vision_error_in_outage']['median_m'] < 15.0
    assert 0.0 <= metrics['first_fallback_latency_s'] <= 1.0
    with open(replayed.out_dir / 'frames.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 14
    outage_rows = [r for r in rows if r['in_outage'] == 'True']
    assert sum(r['selected_source'] == 'vision' for r in outage_rows) >= 5
    for name in ('track.png', 'error_over_time.png', 'error_cdf.png'):
        assert (replayed.out_dir / name).stat().st_size > 20_000
    report = (replayed.out_dir / 'report.md').read_text()
    assert '![track](track.png)' in report and 'fix available while GNSS denied' in report
    html = write_report(tmp_path, metrics, replayed.plots, 'flight <1>', 'html').read_text()
    assert '<img src="error_cdf.png"' in html and 'flight &lt;1&gt;' in html


def test_output_bag_reads_back_with_mcap_ros2(replayed):
    from mcap_ros2.reader import read_ros2_messages

    files = list((replayed.out_dir / 'output_bag').glob('*.mcap'))
    assert len(files) == 1
    by_topic: dict[str, list] = {}
    for item in read_ros2_messages(str(files[0])):
        by_topic.setdefault(item.channel.topic, []).append(item.ros_msg)
    fixes = by_topic['/localizer/fix']
    assert len(fixes) == replayed.metrics['frames_with_vision_fix']
    frame = replayed.trace.frame
    first = next(r for r in replayed.trace.records if math.isfinite(r.vision_east))
    east, north = frame.to_en(fixes[0].latitude, fixes[0].longitude)
    assert (float(east), float(north)) == pytest.approx((first.vision_east, first.vision_north),
                                                        abs=1e-3)
    selected = by_topic['/localizer/fix_selected']
    assert len(selected) > len(fixes) / 2
    states = [m.message.split(':')[0] for m in by_topic['/localizer/gnss_state']]
    assert states[-2:] == ['LOST', 'OK'], states


def test_truth_from_recorded_gnss(gallery, short_bag, tmp_path):
    pipeline, _ = load_pipeline(gallery)
    options = ReplayOptions(truth_topic='', max_frames=6, progress=False)
    result = run_replay(short_bag, pipeline, tmp_path / 'out', options, plots=False)
    records = result.trace.records
    assert len(records) == 6
    # Frames 0-3 precede the silence (truth from GNSS), 4 is interpolated up to the last fix
    # before it, 5 lies deep in the outage and has no truth.
    judged = [r.t for r in records if math.isfinite(r.truth_east)]
    assert judged[:4] == [0.0, 1.0, 2.0, 3.0] and 5.0 not in judged
    assert result.metrics['vision_error']['median_m'] < 15.0


def test_replay_cli_errors(short_bag, tmp_path, capsys):
    from spikevim_ros.cli import main

    assert main(['replay', str(short_bag), '--gallery', str(tmp_path / 'missing'),
                 '--out', str(tmp_path / 'o'), '--no-progress']) == 2
    assert 'does not exist' in capsys.readouterr().out
