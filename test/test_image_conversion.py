"""The own image converter against rosbags-image (unpadded) and by hand (padded, big-endian)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rosbags.image import message_to_cvimage
from rosbags.typesys import Stores, get_typestore

from spikevim_ros.camera_messages import (ENCODINGS, ImageConversionError, compressed_to_rgb,
                                          image_to_rgb)
from spikevim_ros.ros.image_conversion import select_image_converter

TYPES = get_typestore(Stores.ROS2_HUMBLE).types
Header = TYPES['std_msgs/msg/Header']
Time = TYPES['builtin_interfaces/msg/Time']
RosbagsImage = TYPES['sensor_msgs/msg/Image']
RosbagsCompressed = TYPES['sensor_msgs/msg/CompressedImage']
RNG = np.random.default_rng(7)
HEIGHT, WIDTH = 6, 8


def bag_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False):
    """Build a rosbags Image whose rows are ``pixels`` rows plus ``pad`` junk bytes."""
    pixels = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<'))
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    junk = RNG.integers(0, 256, (rows.shape[0], pad), dtype=np.uint8)
    data = np.ascontiguousarray(np.hstack([rows, junk])).reshape(-1)
    return RosbagsImage(header=Header(stamp=Time(sec=1, nanosec=0), frame_id='cam'),
                        height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                        is_bigendian=int(bigendian), step=rows.shape[1] + pad, data=data)


def random_pixels(encoding: str) -> np.ndarray:
    spec = ENCODINGS[encoding]
    high = 256 if spec.dtype == 'u1' else 65536
    shape = (HEIGHT, WIDTH) if spec.channels == 1 else (HEIGHT, WIDTH, spec.channels)
    return RNG.integers(0, high, shape).astype(spec.dtype)


@pytest.mark.parametrize('encoding', sorted(e for e in ENCODINGS if ENCODINGS[e].dtype == 'u1'))
def test_8bit_encodings_match_rosbags_image_exactly(encoding):
    msg = bag_image(random_pixels(encoding), encoding)
    ours = image_to_rgb(msg)
    assert ours.shape == (HEIGHT, WIDTH, 3) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, message_to_cvimage(msg, 'rgb8'))


@pytest.mark.parametrize('bigendian', [False, True])
@pytest.mark.parametrize('encoding', sorted(e for e in ENCODINGS if ENCODINGS[e].dtype == 'u2'))
def test_16bit_encodings_match_rosbags_then_round_like_cv_bridge(encoding, bigendian):
    msg = bag_image(random_pixels(encoding), encoding, bigendian=bigendian)
    reference16 = message_to_cvimage(msg, 'rgb16').astype(np.float64)
    expected = np.rint(reference16 * 255.0 / 65535.0).astype(np.uint8)
    np.testing.assert_array_equal(image_to_rgb(msg), expected)
    # rosbags truncates where cv_bridge (and we) round: never more than one level apart
    assert np.abs(image_to_rgb(msg).astype(int)
                  - message_to_cvimage(msg, 'rgb8').astype(int)).max() <= 1


def test_padded_rows_are_ignored_by_hand():
    rgb = random_pixels('rgb8')
    np.testing.assert_array_equal(image_to_rgb(bag_image(rgb, 'rgb8', pad=5)), rgb)
    np.testing.assert_array_equal(image_to_rgb(bag_image(rgb[..., ::-1].copy(), 'bgr8', pad=3)),
                                  rgb)
    rgba = np.dstack([rgb, np.full((HEIGHT, WIDTH), 77, np.uint8)])
    np.testing.assert_array_equal(image_to_rgb(bag_image(rgba, 'rgba8', pad=4)), rgb)
    gray = random_pixels('mono8')
    np.testing.assert_array_equal(image_to_rgb(bag_image(gray, 'mono8', pad=1)),
                                  np.repeat(gray[..., None], 3, axis=2))


def test_padded_big_endian_mono16_by_hand():
    values = np.array([[0, 257, 65535, 1000], [128, 129, 385, 386]], dtype=np.uint16)
    msg = bag_image(values, 'mono16', pad=6, bigendian=True)
    assert msg.step == 4 * 2 + 6
    expected = np.array([[0, 1, 255, 4], [0, 1, 1, 2]], dtype=np.uint8)  # round(v / 257)
    np.testing.assert_array_equal(image_to_rgb(msg), np.repeat(expected[..., None], 3, axis=2))


@pytest.mark.parametrize('encoding', ['yuv422', 'yuv422_yuy2', 'bayer_rggb8', 'bayer_grbg16'])
def test_padded_equals_unpadded_for_packed_and_bayer_layouts(encoding):
    pixels = random_pixels(encoding)
    np.testing.assert_array_equal(image_to_rgb(bag_image(pixels, encoding, pad=7)),
                                  image_to_rgb(bag_image(pixels, encoding)))


@pytest.mark.parametrize('mutate, words', [
    (dict(encoding='h264'), "unsupported image encoding 'h264'"),
    (dict(step=10), 'step 10 is smaller'),
    (dict(data=np.zeros(20, np.uint8)), 'image data has 20 bytes'),
    (dict(width=0), 'empty image'),
])
def test_corrupt_images_raise_clear_errors(mutate, words):
    msg = bag_image(random_pixels('rgb8'), 'rgb8')
    for key, value in mutate.items():
        setattr(msg, key, value)
    with pytest.raises(ImageConversionError, match=words):
        image_to_rgb(msg)


def test_odd_width_yuv_is_refused():
    msg = bag_image(RNG.integers(0, 256, (2, 3, 2)).astype(np.uint8), 'yuv422')
    with pytest.raises(ImageConversionError, match='even width'):
        image_to_rgb(msg)


def test_compressed_images_match_rosbags_and_corrupt_ones_raise():
    rgb = cv2.resize(random_pixels('rgb8'), (64, 48), interpolation=cv2.INTER_NEAREST)
    ok, png = cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = RosbagsCompressed(header=Header(stamp=Time(sec=1, nanosec=0), frame_id='cam'),
                            format='png', data=png.reshape(-1))
    np.testing.assert_array_equal(compressed_to_rgb(msg), rgb)
    np.testing.assert_array_equal(compressed_to_rgb(msg), message_to_cvimage(msg, 'rgb8'))
    msg.data = png.reshape(-1)[:40]
    with pytest.raises(ImageConversionError, match='could not decode'):
        compressed_to_rgb(msg)


def test_selected_converter_agrees_with_own_on_rclpy_messages():
    from sensor_msgs.msg import Image

    convert, name = select_image_converter()
    assert name in ('own', 'cv_bridge')
    pixels = random_pixels('bgr8')
    msg = Image(height=HEIGHT, width=WIDTH, encoding='bgr8', step=WIDTH * 3 + 4, is_bigendian=0)
    msg.data = np.hstack([pixels.reshape(HEIGHT, -1),
                          np.zeros((HEIGHT, 4), np.uint8)]).tobytes()
    np.testing.assert_array_equal(convert(msg), pixels[..., ::-1])
