"""
Delivered rate of raw camera images between two processes over DDS, per image size.

A subscriber process counts ``sensor_msgs/Image`` messages while this process publishes them at
``--rate`` Hz for ``--seconds`` per size (640x480, 1280x960, 1920x1080 bgr8 by default). Both
use the QoS given by ``--reliability`` and ``--depth``. Each run measures twice, in fresh
processes: the baseline with Fast DDS defaults, then with the package's profile
(config/fastdds_large_images.xml), and reports the delivered rates and their ratio.

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
PROFILE = ROOT / 'config' / 'fastdds_large_images.xml'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rate', type=float, default=10.0, help='publish rate in Hz')
    parser.add_argument('--seconds', type=float, default=5.0, help='publishing time per size')
    parser.add_argument('--reliability', default='best_effort',
                        choices=('best_effort', 'reliable'))
    parser.add_argument('--depth', type=int, default=5, help='history depth of both ends')
    parser.add_argument('--profile', choices=('defaults', 'package'), help=argparse.SUPPRESS)
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
    command = [sys.executable, __file__, '--subscriber', '--reliability', args.reliability,
               '--depth', str(args.depth)]
    sub = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           env=env)
    for line in sub.stdout:             # Fast DDS may log to stdout first
        if line.strip() == 'ready':
            break
        print(line.rstrip(), file=sys.stderr)
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
    return {'profile': args.profile, 'reliability': args.reliability, 'depth': args.depth,
            'rate_hz': args.rate, 'sizes': {
                key: {'sent': n, 'delivered': received.get(key, 0),
                      'delivered_hz': round(received.get(key, 0) / args.seconds, 2),
                      'delivered_fraction': round(received.get(key, 0) / n, 3)}
                for key, n in sent.items()}}


def measure_in_child(args: argparse.Namespace, profile: str) -> dict:
    """Run one measurement in a fresh process with the defaults or the package's profile."""
    env = {k: v for k, v in os.environ.items() if k != 'FASTRTPS_DEFAULT_PROFILES_FILE'}
    if profile == 'package':
        env['FASTRTPS_DEFAULT_PROFILES_FILE'] = str(PROFILE)
    command = [sys.executable, __file__, '--profile', profile, '--rate', str(args.rate),
               '--seconds', str(args.seconds), '--reliability', args.reliability,
               '--depth', str(args.depth)]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True,
                            timeout=60 + 10 * args.seconds).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv=None) -> int:
    """Run the bench (or one half of it)."""
    args = parse_args(argv)
    if args.subscriber:
        run_subscriber(args)
        return 0
    if args.profile:
        print(json.dumps(measure(args)))
        return 0
    runs = {profile: measure_in_child(args, profile) for profile in ('defaults', 'package')}
    results = {'runs': runs, 'delivered_ratio_package_vs_defaults': {
        key: round(value['delivered'] / max(runs['defaults']['sizes'][key]['delivered'], 1), 2)
        for key, value in runs['package']['sizes'].items()}}
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
