"""Replay: any bag layout in, the real pipeline in real or offline time, metrics/report out."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from spikevim_ros.camera_messages import ImageConversionError, image_to_rgb
from spikevim_ros.pipeline import PipelineConfig
from spikevim_ros.replay.bag_source import BagError, pick_topic, resolve_bag_path
from spikevim_ros.replay.evaluate import run_replay
from spikevim_ros.replay.metrics import (CoverageMeter, FrameRecord, error_stats,
                                         spoofing_outcomes, summarize)
from spikevim_ros.replay.pipeline_factory import gallery_world, load_pipeline
from spikevim_ros.replay.report import write_report
from spikevim_ros.replay.runner import Replay, ReplayOptions
from spikevim_ros.sim.bagfile import BagWriter
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
    return run_replay(short_bag, pipeline, out, ReplayOptions(frame_budget_s=0.5,
                                                              progress=False),
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


def test_a_frame_without_its_own_fix_is_not_available():
    # Every other denied frame failed; the fix published just before must not count for it.
    records = [FrameRecord(stamp=i, t=i, in_outage=True, gnss_health='LOST',
                           vision_east=0.0 if i % 2 == 0 else math.nan, vision_north=0.0,
                           selected_source='vision') for i in range(10)]
    records[3].status = 'dropped'
    assert summarize(records, {})['outage_fix_fraction'] == 0.5
    assert summarize(records, {})['frames_dropped_in_outage'] == 1


def test_spoofing_during_an_earlier_outage_is_not_a_detection():
    jump = {'kind': 'jump', 'start_s': 20.0, 'duration_s': 5.0}
    lost = [(10.0, 30.0)]
    outcome = spoofing_outcomes([jump], [{'t': 10.0, 'reason': 'no GNSS fix'}], lost)[0]
    assert not outcome['detected'] and outcome['already_lost_at_start']
    found = spoofing_outcomes([jump], [{'t': 20.4, 'reason': 'spoofing suspected'}],
                              [(20.4, 30.0)])[0]
    assert found['detected'] and found['delay_s'] == pytest.approx(0.4)


def test_time_coverage_counts_fixes_until_they_are_too_old():
    meter = CoverageMeter(max_age_s=2.0)
    meter.published(0.0, 0.0)      # covers 0-2
    meter.published(1.0, 1.0)      # extends to 3
    meter.published(6.0, 5.5)      # stamped 0.5 s before: covers 6-7.5
    meter.published(9.0, 6.0)      # already 3 s old: covers nothing
    assert meter.fraction([(0.0, 10.0)]) == pytest.approx(0.45)
    assert meter.fraction([]) is None


def test_replay_outputs(replayed, tmp_path):
    metrics = json.loads((replayed.out_dir / 'metrics.json').read_text())
    assert metrics['mode'] == 'real time: 0.5 s per frame (fixed budget)'
    assert metrics['frames'] == metrics['frames_in_bag'] == metrics['frames_processed'] == 14
    assert metrics['frames_dropped'] == metrics['frames_bad'] == 0
    assert metrics['frames_in_outage'] == 6
    assert metrics['denied_windows_s'] == [[4.0, 10.0]]
    assert metrics['monitor_lost_windows_s'], 'the monitor never declared the silence'
    lost_start = metrics['monitor_lost_windows_s'][0][0]
    assert 4.0 < lost_start <= 5.2
    assert metrics['outage_fix_fraction'] >= 0.8
    assert metrics['outage_time_coverage'] >= 0.8
    assert metrics['vision_error_in_outage']['median_m'] < 5.0
    # outputs leave 0.5 s after the frame: the first fallback fix cannot come sooner
    assert metrics['latency_s']['median'] == pytest.approx(0.5)
    assert 0.0 <= metrics['first_fallback_latency_s'] <= 1.0
    with open(replayed.out_dir / 'frames.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 14
    outage_rows = [r for r in rows if r['in_outage'] == 'True']
    assert sum(r['selected_source'] == 'vision' for r in outage_rows) >= 5
    fixed = [r for r in rows if r['vision_east']]
    assert all(r['vision_confident'] == 'True' for r in fixed)
    for row in fixed:   # the covariance is the sum of its reported terms
        terms = [float(row[f'sigma_{t}_m']) for t in ('alignment', 'tilt', 'map')]
        trace = float(row['vision_cov_ee']) + float(row['vision_cov_nn'])
        assert sum(v * v for v in terms) == pytest.approx(trace / 2.0, rel=1e-3)
        assert float(row['sigma_map_m']) == 1.0 and float(row['sigma_alignment_m']) > 0.0
    assert all(r['vision_confident'] == 'False' for r in rows if not r['vision_east'])
    assert all(float(r['published_t']) == pytest.approx(float(r['t']) + 0.5, abs=1e-3)
               for r in rows)
    for name in ('track.png', 'error_over_time.png', 'error_cdf.png'):
        assert (replayed.out_dir / name).stat().st_size > 20_000
    report = (replayed.out_dir / 'report.md').read_text()
    assert '![track](track.png)' in report and 'denied frames with their own vision fix' in report
    assert '0.5 s per frame (fixed budget)' in report and '0 dropped while busy' in report
    html = write_report(tmp_path, metrics, replayed.plots, 'flight <1>', 'html').read_text()
    assert '<img src="error_cdf.png"' in html and 'flight &lt;1&gt;' in html


def test_real_time_drops_frames_like_the_node(gallery, short_bag, tmp_path):
    # 2.5 s per frame at 1 Hz: a frame waiting for the busy pipeline is replaced by the next one
    # (1 by 2, 3 by 4, 5 and 6 by 7, ...); the frame at 13 s waits past the bag's end.
    pipeline, _ = load_pipeline(gallery)
    result = run_replay(short_bag, pipeline, tmp_path / 'out',
                        ReplayOptions(frame_budget_s=2.5, progress=False), plots=False)
    records, metrics = result.trace.records, result.metrics
    processed = [r.t for r in records if r.status == 'processed']
    assert processed == [0.0, 2.0, 4.0, 7.0, 9.0, 12.0, 13.0]
    assert metrics['frames_dropped'] == 7 and metrics['frames_in_outage'] == 6
    assert metrics['outage_fix_fraction'] <= 0.5
    for record in records:
        if record.status == 'processed':
            assert record.latency_s >= 2.5 and record.published_t >= record.t + 2.5
    assert metrics['latency_s']['max'] == pytest.approx(4.5)
    first = metrics['loss_declared'][0]
    # the first fallback fix left with the frame in flight: its age is reported with it
    assert first['first_fallback_fix_age_s'] >= 2.5


class _Flaky:
    """The real localizer, made to fail every other frame and to doubt every fourth."""

    def __init__(self, localizer) -> None:
        self.localizer, self.calls = localizer, 0

    def localize(self, *args, **kwargs):
        result = self.localizer.localize(*args, **kwargs)
        self.calls += 1
        if self.calls % 2 == 0:
            return dataclasses.replace(result, fix=False, reason='forced failure')
        if self.calls % 4 == 1:
            return dataclasses.replace(result, verified=False)
        return result


def test_every_other_failed_frame_is_half_available(gallery, short_bag, tmp_path):
    pipeline, _ = load_pipeline(gallery)
    pipeline.localizer = _Flaky(pipeline.localizer)
    result = run_replay(short_bag, pipeline, tmp_path / 'out',
                        ReplayOptions(offline=True, progress=False), plots=False)
    metrics = result.metrics
    assert metrics['mode'].startswith('offline')
    assert metrics['frames_processed'] == 14 and metrics['frames_in_outage'] == 6
    assert metrics['outage_fix_fraction'] == 0.5
    confident = [r.vision_confident for r in result.trace.records if r.has_vision_fix]
    assert confident == [False, True, False, True, False, True, False]


def test_dead_reckoning_fills_failed_frames_apart_from_vision(gallery, short_bag, tmp_path):
    config = PipelineConfig(publish_dead_reckoning=True)
    pipeline, _ = load_pipeline(gallery, pipeline_config=config)
    pipeline.localizer = _Flaky(pipeline.localizer)
    result = run_replay(short_bag, pipeline, tmp_path / 'out',
                        ReplayOptions(offline=True, progress=False), plots=False)
    metrics = result.metrics
    assert metrics['outage_fix_fraction'] == 0.5          # extrapolations are not vision fixes
    dead = [r for r in result.trace.records if r.in_outage and not r.has_vision_fix]
    assert len(dead) == 3 and all(math.isfinite(r.dead_reckoned_east) for r in dead)
    assert metrics['dead_reckoned_error_in_outage']['count'] == 3
    assert all(r.dead_reckoned_error_m < 2.0 * r.dead_reckoned_sigma_m for r in dead)
    assert all(r.selected_source == 'dead_reckoning' for r in dead)


def _copy_bag(source, target, change):
    """Write ``source`` into a new bag, passing each image message through ``change``."""
    from spikevim_ros.replay.bag_source import iter_messages, open_bag

    frame = 0
    with open_bag(source) as reader, BagWriter(target) as writer:
        for message in iter_messages(reader, [c.topic for c in reader.connections]):
            body = message.message
            if message.msgtype == 'sensor_msgs/msg/Image':
                body = change(frame, body)
                frame += 1
            writer.write(message.topic, message.time_s, body)


def test_bad_frames_are_counted_and_the_replay_goes_on(gallery, short_bag, tmp_path):
    def spoil(index, image):
        if index == 3:
            return dataclasses.replace(image, encoding='foo')
        if index == 6:
            return dataclasses.replace(image, data=image.data[:100])
        if index == 9:
            return dataclasses.replace(image, width=0, step=0)
        if index == 11:
            return dataclasses.replace(image, width=200_000, height=100_000, step=600_000)
        return image

    _copy_bag(short_bag, tmp_path / 'bad', spoil)
    pipeline, _ = load_pipeline(gallery)
    result = run_replay(tmp_path / 'bad', pipeline, tmp_path / 'out',
                        ReplayOptions(frame_budget_s=0.5, progress=False), plots=False)
    metrics = result.metrics
    assert metrics['frames'] == 14 and metrics['frames_bad'] == 4
    assert metrics['frames_processed'] == 10
    bad = metrics['bad_frames']
    assert [round(b['t']) for b in bad] == [3, 6, 9, 11]
    assert all(b['topic'] == '/camera/image_raw' for b in bad)
    assert 'foo' in bad[0]['reason'] and 'bytes' in bad[1]['reason']
    report = result.report.read_text()
    assert 'bad frame at 3.00 s on /camera/image_raw' in report


def _replay_cut(gallery, storage_file: Path, tmp_path: Path) -> None:
    """Replay the first 60 % of a storage file: frames up to the damage, and the report says so."""
    data = storage_file.read_bytes()
    cut = tmp_path / f'cut{storage_file.suffix}'
    cut.write_bytes(data[:int(len(data) * 0.6)])
    pipeline, _ = load_pipeline(gallery)
    result = run_replay(cut, pipeline, tmp_path / 'out',
                        ReplayOptions(frame_budget_s=0.5, progress=False), plots=False)
    metrics = result.metrics
    assert 5 <= metrics['frames'] < 14
    assert f'{cut.name} is damaged' in metrics['truncated']
    assert 'replayed up to' in result.report.read_text()


def test_truncated_bag_replays_up_to_the_damage(gallery, short_bag, tmp_path):
    _replay_cut(gallery, short_bag / 'bag.mcap', tmp_path)


def test_truncated_sqlite3_bag_replays_up_to_the_damage(gallery, tmp_path):
    loiter_flight(tmp_path / 'bag', 14.0, (GnssFault('silence', 4.0, 6.0),), seed=1,
                  storage='sqlite3')
    _replay_cut(gallery, tmp_path / 'bag' / 'bag.db3', tmp_path)


def test_replay_never_truncates_earlier_results(gallery, short_bag, replayed):
    before = (replayed.out_dir / 'frames.csv').read_bytes()
    pipeline, _ = load_pipeline(gallery)
    with pytest.raises(FileExistsError, match='already holds replay results'):
        Replay(pipeline, ReplayOptions(progress=False), replayed.out_dir).run(short_bag)
    assert (replayed.out_dir / 'frames.csv').read_bytes() == before


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
    options = ReplayOptions(truth_topic='', max_frames=6, frame_budget_s=0.5, progress=False)
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
