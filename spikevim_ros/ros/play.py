"""
``spikevim play BAG``: publish a bag into a live ROS 2 graph with ``/clock``.

What ``ros2 bag play --clock`` does, for machines without rosbag2: messages go out as recorded
(serialized CDR, no re-encoding) at their bag time scaled by ``--rate``, and ``/clock`` is
published between them so nodes with ``use_sim_time`` run on bag time. rclpy is imported only
when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from tqdm import tqdm

from spikevim_ros.replay.bag_source import BagError, open_bag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``spikevim play``."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument('bag', type=Path, help='ROS 2 bag: folder, .mcap or .db3')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='playback speed factor (2 = twice as fast as recorded)')
    parser.add_argument('--clock-hz', type=float, default=40.0,
                        help='how often /clock is published (wall-clock Hz)')
    parser.add_argument('--topics', nargs='+', metavar='TOPIC',
                        help='play only these topics (default: all but the recorded /clock)')
    parser.add_argument('--wait-for', nargs='+', default=[], metavar='TOPIC',
                        help='before playing, wait until each of these topics has a subscriber')
    parser.add_argument('--wait-timeout', type=float, default=60.0,
                        help='seconds to wait for --wait-for subscribers')
    parser.add_argument('--start-delay', type=float, default=0.5,
                        help='seconds between creating publishers and the first message '
                             '(lets discovery finish)')
    parser.add_argument('--distro', choices=('jazzy', 'humble'), default='jazzy',
                        help='definitions for bags that do not embed them')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')


def message_class(msgtype: str):
    """Return the rclpy message class of a ``pkg/msg/Name`` type string."""
    package, kind, name = msgtype.split('/')
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f'message type {msgtype} is not installed in this ROS 2 environment '
                       f'({exc})') from exc


def _clock_msg(clock_cls, seconds: float):
    from spikevim_ros.ros.time import seconds_to_stamp

    return clock_cls(clock=seconds_to_stamp(seconds))


def play(bag: Path, node, rate: float = 1.0, clock_hz: float = 40.0,
         topics: list[str] | None = None, wait_for: list[str] = (), wait_timeout: float = 60.0,
         start_delay: float = 0.5, distro: str = 'jazzy', progress: bool = True) -> dict:
    """Publish the bag through ``node``; return {topic: messages published} and timing."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    if rate <= 0.0 or clock_hz <= 0.0:
        raise ValueError('--rate and --clock-hz must be positive')
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    clock_pub = node.create_publisher(Clock, '/clock', 10)
    with open_bag(bag, distro) as reader:
        chosen = [c for c in reader.connections
                  if (c.topic in topics if topics else c.topic != '/clock')]
        if topics:
            missing = sorted(set(topics) - {c.topic for c in chosen})
            if missing:
                raise BagError(f'{bag}: topics not in the bag: {missing}')
        publishers = {}
        for connection in chosen:
            if connection.topic not in publishers:
                publishers[connection.topic] = node.create_publisher(
                    message_class(connection.msgtype), connection.topic, qos)
        _wait_for_subscribers(node, wait_for, wait_timeout)
        time.sleep(max(start_delay, 0.0))
        counts = {topic: 0 for topic in publishers}
        first_bag = reader.start_time * 1e-9
        clock_pub.publish(_clock_msg(Clock, first_bag))
        wall_start = time.monotonic()
        next_clock = wall_start
        period = 1.0 / clock_hz
        total = sum(c.msgcount for c in chosen)
        bar = tqdm(total=total, desc='play', unit='msg', disable=not progress)
        late = 0.0
        bag_t = first_bag
        for connection, timestamp, raw in reader.messages(connections=chosen):
            bag_t = timestamp * 1e-9
            due = wall_start + (bag_t - first_bag) / rate
            while True:
                now = time.monotonic()
                if now >= next_clock:
                    sim = first_bag + min((now - wall_start) * rate, bag_t - first_bag)
                    clock_pub.publish(_clock_msg(Clock, sim))
                    next_clock = now + period
                if now >= due:
                    break
                time.sleep(max(0.0, min(due, next_clock) - now))
            late = max(late, time.monotonic() - due)
            clock_pub.publish(_clock_msg(Clock, bag_t))
            publishers[connection.topic].publish(bytes(raw))
            counts[connection.topic] += 1
            bar.update(1)
        bar.close()
    return {'published': counts, 'first_time_s': first_bag, 'last_time_s': bag_t,
            'bag_duration_s': bag_t - first_bag, 'wall_s': time.monotonic() - wall_start,
            'max_lateness_s': late}


def _wait_for_subscribers(node, topics: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for topic in topics:
        while node.count_subscribers(topic) == 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f'no subscriber on {topic} after {timeout:g} s')
            time.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    """Create a node and play the bag."""
    import rclpy

    rclpy.init()
    try:
        node = rclpy.create_node('spikevim_play')
        stats = play(args.bag, node, args.rate, args.clock_hz, args.topics, args.wait_for,
                     args.wait_timeout, args.start_delay, args.distro, not args.no_progress)
        print(f"published {sum(stats['published'].values())} messages "
              f"({', '.join(f'{t}: {n}' for t, n in stats['published'].items())}); "
              f"{stats['bag_duration_s']:.1f} s of bag in {stats['wall_s']:.1f} s, "
              f"max lateness {stats['max_lateness_s']:.3f} s")
        node.destroy_node()
    except (BagError, TimeoutError, ValueError) as exc:
        print(f'spikevim play: {exc}')
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        rclpy.try_shutdown()
    return 0
