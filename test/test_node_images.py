"""Camera-sized raw images reach localizer_node over real DDS, and their QoS can be overridden."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

pytest.importorskip('rclpy')
from rclpy.qos import QoSProfile, QoSReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from ros_feeder import Feeder, diagnostic  # noqa: E402
from spikevim_ros.ros.time import seconds_to_stamp  # noqa: E402
from test_node_fallback import feeder, world  # noqa: E402, F401 - the node tests' fixtures

FULL_HD = (1920, 1080)
RATE_HZ = 10.0
SECONDS = 3.0


def received_count(peer: Feeder) -> int:
    status = diagnostic(peer, 'input')
    values = {} if status is None else {kv.key: kv.value for kv in status.values}
    return int(values.get('frames_received', 0))


def stream_full_hd(peer: Feeder, publisher) -> int:
    """Publish 1920x1080 bgr8 frames at 10 Hz for a few seconds; return how many were sent."""
    width, height = FULL_HD
    msg = Image(width=width, height=height, encoding='bgr8', step=3 * width)
    msg.data = np.random.default_rng(1).integers(0, 255, 3 * width * height,
                                                 dtype=np.uint8).tobytes()
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < SECONDS:
        msg.header.stamp = seconds_to_stamp(peer.now())
        publisher.publish(msg)
        sent += 1
        peer.spin_for(max(0.0, start + sent / RATE_HZ - time.monotonic()))
    return sent


@pytest.mark.parametrize('reliability', ['best_effort', 'reliable'])
def test_full_hd_bgr8_at_10_hz_reaches_the_node(world, feeder,  # noqa: F811
                                                ros_process, reliability):
    args = ['--ros-args', '-p', f'gallery_dir:={world[0]}', '-p', 'max_frame_rate:=0.2',
            '-p', 'diagnostics_period:=0.3',
            '-p', f'qos_overrides./image.subscription.reliability:={reliability}',
            '-p', 'qos_overrides./image.subscription.depth:=3']
    proc = ros_process('spikevim_ros.ros.localizer_node', *args)
    assert feeder.transition('configure'), proc.stdout.read() if proc.poll() else 'configure'
    assert feeder.transition('activate')
    policy = (QoSReliabilityPolicy.RELIABLE if reliability == 'reliable'
              else QoSReliabilityPolicy.BEST_EFFORT)
    publisher = feeder.node.create_publisher(Image, 'image',
                                             QoSProfile(depth=3, reliability=policy))
    assert feeder.spin_until(lambda: publisher.get_subscription_count() > 0, 30.0)
    if reliability == 'reliable':   # a reliable reader: the override took effect
        info = feeder.node.get_subscriptions_info_by_topic('/image')
        assert [i.qos_profile.reliability for i in info] == [QoSReliabilityPolicy.RELIABLE]
    feeder.spin_for(1.0)
    sent = stream_full_hd(feeder, publisher)
    assert feeder.spin_until(lambda: received_count(feeder) >= 0.9 * sent, 20.0), \
        f'{received_count(feeder)} of {sent} 1920x1080 frames reached the node'
    assert proc.poll() is None


def test_jpeg_over_three_megabytes_reaches_the_node(world, feeder, ros_process):  # noqa: F811
    proc = ros_process('spikevim_ros.ros.localizer_node', '--ros-args',
                       '-p', f'gallery_dir:={world[0]}', '-p', 'max_frame_rate:=0.2',
                       '-p', 'diagnostics_period:=0.3')
    assert feeder.transition('configure'), proc.stdout.read() if proc.poll() else 'configure'
    assert feeder.transition('activate')
    noise = np.random.default_rng(2).integers(0, 256, (1536, 2048, 3), dtype=np.uint8)
    assert len(cv2.imencode('.jpg', noise, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]) > 3_000_000
    assert feeder.spin_until(lambda: feeder.compressed_pub.get_subscription_count() > 0, 30.0)
    feeder.spin_for(1.0)
    for _ in range(5):
        feeder.publish_frame(noise, 'jpeg')      # encoded at quality 95 as above
        feeder.spin_for(0.5)
    assert feeder.spin_until(lambda: received_count(feeder) >= 4, 20.0), \
        f'{received_count(feeder)} of 5 JPEGs over 3 MB reached the node'
    assert proc.poll() is None
