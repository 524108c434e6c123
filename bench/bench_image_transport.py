"""
Delivered rate of raw camera images between two processes over DDS, per image size.

A subscriber process counts ``sensor_msgs/Image`` messages while this process publishes them at
``--rate`` Hz for ``--seconds`` per size (640x480, 1280x960, 1920x1080 bgr8 by default). Both
use the QoS given by ``--reliability`` and ``--depth``. The Fast DDS profile in effect is the one
named by ``FASTRTPS_DEFAULT_PROFILES_FILE`` (scripts/netns_run.sh sets the package's profile;
``--no-profile`` runs without it, the Fast DDS defaults, as the baseline of the same run).

It starts DDS participants, so run it inside the private network namespace:

    scripts/netns_run.sh .venv/bin/python bench/bench_image_transport.py --out transport.json
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((640, 480), (1280, 960), (1920, 1080))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rate', type=float, default=10.0, help='publish rate in Hz')
    parser.add_argument('--seconds', type=float, default=5.0, help='publishing time per size')
    parser.add_argument('--reliability', default='best_effort',
                        choices=('best_effort', 'reliable'))
    parser.add_argument('--depth', type=int, default=5, help='history depth of both ends')
    parser.add_argument('--no-profile', action='store_true',
                        help='unset FASTRTPS_DEFAULT_PROFILES_FILE (Fast DDS defaults)')
    parser.add_argument('--out', type=Path, help='write the results as JSON here')
    parser.add_argument('--subscriber', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def qos(reliability: str, depth: int):
    """Return the QoS profile both ends use."""
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy

    policy = (QoSReliabilityPolicy.RELIABLE if reliability == 'reliable'
              else QoSReliabilityPolicy.BEST_EFFORT)
    return QoSProfile(depth=depth, reliability=policy)


def run_subscriber(args: argparse.Namespace) -> None:
    """Count received images per width x height; print the counts as JSON on stdin's EOF."""
    import rclpy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node('image_counter')
    counts: dict[str, int] = {}

    def count(msg: Image) -> None:
        key = f'{msg.width}x{msg.height}'
        complete = len(msg.data) == msg.step * msg.height
        counts[key] = counts.get(key, 0) + int(complete)

    node.create_subscription(Image, 'bench_image', count, qos(args.reliability, args.depth))
    print('ready', flush=True)
    while not select.select([sys.stdin], [], [], 0.0)[0]:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps(counts), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def measure(args: argparse.Namespace) -> dict:
    """Publish every size at the rate; return sent, delivered and delivered rate per size."""
    import numpy as np
    import rclpy
    from sensor_msgs.msg import Image

    env = dict(os.environ)
    if args.no_profile:
        env.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
        os.environ.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
    command = [sys.executable, __file__, '--subscriber', '--reliability', args.reliability,
               '--depth', str(args.depth)]
    sub = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           env=env)
    assert sub.stdout.readline().strip() == 'ready'
    rclpy.init()
    node = rclpy.create_node('image_source')
    pub = node.create_publisher(Image, 'bench_image', qos(args.reliability, args.depth))
    deadline = time.monotonic() + 10.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)                     # let discovery settle on both sides
    sent: dict[str, int] = {}
    for width, height in SIZES:
        msg = Image(width=width, height=height, encoding='bgr8', step=3 * width)
        msg.data = np.random.default_rng(0).integers(0, 255, 3 * width * height,
                                                     dtype=np.uint8).tobytes()
        key = f'{width}x{height}'
        count, start = 0, time.monotonic()
        while time.monotonic() - start < args.seconds:
            msg.header.stamp = node.get_clock().now().to_msg()
            pub.publish(msg)
            count += 1
            time.sleep(max(0.0, start + count / args.rate - time.monotonic()))
        sent[key] = count
        time.sleep(1.0)                 # let the last frames arrive
    received = json.loads(sub.communicate('done', timeout=30)[0].strip().splitlines()[-1])
    node.destroy_node()
    rclpy.shutdown()
    profile = None if args.no_profile else os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')
    return {'profile': profile, 'reliability': args.reliability, 'depth': args.depth,
            'rate_hz': args.rate, 'sizes': {
                key: {'sent': n, 'delivered': received.get(key, 0),
                      'delivered_hz': round(received.get(key, 0) / args.seconds, 2),
                      'delivered_fraction': round(received.get(key, 0) / n, 3)}
                for key, n in sent.items()}}


def main(argv=None) -> int:
    """Run the bench (or the subscriber half of it)."""
    args = parse_args(argv)
    if args.subscriber:
        run_subscriber(args)
        return 0
    results = measure(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
