"""
``spikevim play`` over real DDS, and the live node against the offline replay.

The live node on a simulated bag must give the same answers as the offline replay of that bag
(frames the node drops live are counted, not hidden).

Run through scripts/netns_run.sh (DDS participants).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Image, NavSatFix  # noqa: E402

from sim_scenarios import demo_gallery, loiter_flight  # noqa: E402
from spikevim_ros.replay.evaluate import run_replay  # noqa: E402
from spikevim_ros.replay.pipeline_factory import load_pipeline  # noqa: E402
from spikevim_ros.replay.runner import ReplayOptions  # noqa: E402
from spikevim_ros.ros.play import play  # noqa: E402
from spikevim_ros.ros.time import stamp_to_seconds  # noqa: E402
from spikevim_ros.sim.gnss_model import GnssFault  # noqa: E402

RELIABLE = 10


@pytest.fixture(scope='module')
def flight_bag(tmp_path_factory):
    folder = tmp_path_factory.mktemp('play')
    summary = loiter_flight(folder / 'bag', 16.0, (GnssFault('silence', 4.0, 9.0),), seed=11)
    return folder / 'bag', summary


def _spin_until(node, predicate, timeout: float) -> bool:
    executor = rclpy.executors.SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if predicate():
                return True
            executor.spin_once(timeout_sec=0.1)
        return predicate()
    finally:
        executor.remove_node(node)


def _play_in_thread(context, bag, **kwargs) -> tuple[threading.Thread, dict]:
    result: dict = {}
    player = rclpy.create_node('spikevim_play_test', context=context)

    def target():
        try:
            result.update(play(bag, player, progress=False, **kwargs))
        except Exception as exc:  # reported by the test thread
            result['error'] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def test_play_publishes_every_message_with_clock(rclpy_context, flight_bag):
    bag, summary = flight_bag
    node = rclpy.create_node('listener', context=rclpy_context)
    got = {'image': [], 'gnss': [], 'clock': []}
    node.create_subscription(Image, '/camera/image_raw',
                             lambda m: got['image'].append(stamp_to_seconds(m.header.stamp)),
                             RELIABLE)
    node.create_subscription(NavSatFix, '/gnss/fix', lambda m: got['gnss'].append(m), RELIABLE)
    node.create_subscription(Clock, '/clock',
                             lambda m: got['clock'].append(stamp_to_seconds(m.clock)), 100)
    thread, result = _play_in_thread(rclpy_context, bag, rate=8.0,
                                     wait_for=['/camera/image_raw', '/gnss/fix'])
    assert _spin_until(node, lambda: not thread.is_alive(), 60.0)
    assert 'error' not in result, result.get('error')
    last = result['last_time_s']
    _spin_until(node, lambda: len(got['image']) == summary.frames and got['clock']
                and got['clock'][-1] >= last - 1e-6, 5.0)
    assert result['published']['/camera/image_raw'] == summary.frames
    assert '/clock' not in result['published']          # regenerated, not replayed
    assert result['wall_s'] == pytest.approx(summary.duration_s / 8.0, rel=0.3, abs=0.5)
    assert got['image'] == sorted(got['image']) and len(got['image']) == summary.frames
    assert len(got['gnss']) == summary.gnss_messages
    clock = np.array(got['clock'])
    assert np.all(np.diff(clock) >= 0.0) and clock[-1] == pytest.approx(last, abs=1e-6)
    assert last == pytest.approx(summary.start_time_s + summary.duration_s, abs=0.21)
    assert result['first_time_s'] == summary.start_time_s
    assert len(clock) > summary.duration_s / 8.0 * 20    # /clock between messages
    node.destroy_node()


def _transition(node, transition_id: int) -> bool:
    client = node.create_client(ChangeState, '/localizer/change_state')
    assert client.wait_for_service(timeout_sec=60.0), 'localizer node did not come up'
    request = ChangeState.Request()
    request.transition.id = transition_id
    future = client.call_async(request)
    assert _spin_until(node, future.done, 120.0), 'lifecycle transition timed out'
    return future.result().success


def test_live_node_matches_offline_replay(rclpy_context, ros_process, flight_bag,
                                          tmp_path_factory):
    bag, summary = flight_bag
    gallery = demo_gallery(tmp_path_factory)
    pipeline, _ = load_pipeline(gallery)
    offline = run_replay(bag, pipeline, tmp_path_factory.mktemp('offline') / 'out',
                         ReplayOptions(progress=False, offline=True), plots=False)
    by_stamp = {round(r.stamp, 3): r for r in offline.trace.records}

    proc = ros_process('spikevim_ros.ros.localizer_node', '--ros-args',
                       '-p', 'use_sim_time:=true', '-p', f'gallery_dir:={gallery}',
                       '-p', 'weights:=none', '-p', 'default_altitude_agl:=150.0',
                       '-p', 'max_frame_rate:=0.0',
                       '-r', 'image:=/camera/image_raw', '-r', 'camera_info:=/camera/camera_info',
                       '-r', 'gnss/fix:=/gnss/fix', '-r', 'imu/data:=/mavros/imu/data',
                       '-r', 'rangefinder:=/mavros/rangefinder/rangefinder',
                       '-r', 'altitude_agl:=/mavros/global_position/rel_alt',
                       '-r', 'odom:=/mavros/local_position/odom')   # as the replay reads them
    node = rclpy.create_node('e2e_listener', context=rclpy_context)
    live: dict[str, list] = {'fix': [], 'fix_selected': []}
    for name in live:
        node.create_subscription(NavSatFix, f'/localizer/{name}',
                                 lambda m, n=name: live[n].append(m), RELIABLE)
    for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        if not _transition(node, transition):
            proc.terminate()
            pytest.fail(f'lifecycle transition {transition} refused:\n'
                        f'{proc.communicate(timeout=20)[0]}')
    thread, result = _play_in_thread(rclpy_context, bag, rate=0.4,
                                     wait_for=['/camera/image_raw', '/gnss/fix', '/clock'])
    assert _spin_until(node, lambda: not thread.is_alive(), 120.0)
    assert 'error' not in result, result.get('error')
    # Let the frame in flight finish.
    _spin_until(node, lambda: False, 8.0)
    assert proc.poll() is None, proc.stdout.read()

    frames = summary.frames
    processed = [stamp_to_seconds(m.header.stamp) for m in live['fix']]
    dropped = frames - len(processed)
    print(f'live node: {len(processed)} of {frames} frames gave a fix ({dropped} dropped or '
          'without fix)')
    # The node keeps only the newest frame; on a loaded 2-core machine a frame takes longer than
    # the 2.5 s between frames at rate 0.4, so some are dropped. They are counted, not hidden.
    assert len(processed) >= 4, f'live node processed only {len(processed)}/{frames}'
    assert set(round(s, 3) for s in processed) <= set(by_stamp)
    frame = offline.trace.frame
    differences, outage_errors, live_only = [], [], 0
    for msg, stamp in zip(live['fix'], processed):
        record = by_stamp[round(stamp, 3)]
        east, north = frame.to_en(msg.latitude, msg.longitude)
        if record.has_vision_fix:
            differences.append(math.hypot(east - record.vision_east,
                                          north - record.vision_north))
        else:
            live_only += 1
        if record.in_outage:
            outage_errors.append(math.hypot(east - record.truth_east,
                                            north - record.truth_north))
    # Same pipeline, same frames: the same fixes, up to the search prior (live GNSS timing).
    # Offline, the first frame comes before any GNSS fix: its match waits for confirmation; the
    # live node may already have had a GNSS fix (a prior) for it.
    assert live_only <= 1, live_only
    assert np.median(differences) < 2.0, differences
    assert outage_errors and np.median(outage_errors) < 15.0
    offline_outage = offline.metrics['vision_error_in_outage']['median_m']
    assert abs(np.median(outage_errors) - offline_outage) < 5.0
    # While GNSS was silent the node published its vision fixes on ~/fix_selected.
    selected_in_outage = [m for m in live['fix_selected']
                          if by_stamp.get(round(stamp_to_seconds(m.header.stamp), 3))
                          and by_stamp[round(stamp_to_seconds(m.header.stamp), 3)].in_outage]
    assert selected_in_outage
    node.destroy_node()


def test_play_cli_reports_bad_bags(ros_isolated, tmp_path, capsys):
    from spikevim_ros.cli import main

    assert main(['play', str(tmp_path / 'missing'), '--no-progress']) == 2
    assert 'bag does not exist' in capsys.readouterr().out
