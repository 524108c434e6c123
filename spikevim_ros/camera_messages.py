"""
Camera messages to plain Python: ``Image``/``CompressedImage`` to RGB, ``CameraInfo`` to a camera.

These read only message fields, so they convert rclpy messages in the node and rosbags messages
in the replay alike, and need no ROS. The image converter honours ``encoding``, ``step`` (row
padding) and ``is_bigendian``; 16-bit images are scaled to 8 bits by 255/65535 with rounding, as
cv_bridge does.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from spikevim_ros.camera import PinholeCamera


class ImageConversionError(ValueError):
    """An image message that cannot be converted (the message says why)."""


class _Encoding(NamedTuple):
    dtype: str
    channels: int
    to_rgb: int | None     # cv2 colour conversion code, None when already RGB


def _bayer(code: int, dtype: str) -> _Encoding:
    return _Encoding(dtype, 1, code)


ENCODINGS: dict[str, _Encoding] = {
    'rgb8': _Encoding('u1', 3, None),
    'bgr8': _Encoding('u1', 3, cv2.COLOR_BGR2RGB),
    'rgba8': _Encoding('u1', 4, cv2.COLOR_RGBA2RGB),
    'bgra8': _Encoding('u1', 4, cv2.COLOR_BGRA2RGB),
    'mono8': _Encoding('u1', 1, cv2.COLOR_GRAY2RGB),
    'rgb16': _Encoding('u2', 3, None),
    'bgr16': _Encoding('u2', 3, cv2.COLOR_BGR2RGB),
    'rgba16': _Encoding('u2', 4, cv2.COLOR_RGBA2RGB),
    'bgra16': _Encoding('u2', 4, cv2.COLOR_BGRA2RGB),
    'mono16': _Encoding('u2', 1, cv2.COLOR_GRAY2RGB),
    'yuv422': _Encoding('u1', 2, cv2.COLOR_YUV2RGB_UYVY),
    'uyvy': _Encoding('u1', 2, cv2.COLOR_YUV2RGB_UYVY),
    'yuv422_yuy2': _Encoding('u1', 2, cv2.COLOR_YUV2RGB_YUY2),
    'yuyv': _Encoding('u1', 2, cv2.COLOR_YUV2RGB_YUY2),
    # ROS names the 2x2 pattern from the top-left pixel, OpenCV from the second row/column.
    **{f'bayer_{ros}{bits}': _bayer(code, 'u1' if bits == 8 else 'u2')
       for ros, code in (('rggb', cv2.COLOR_BayerBG2RGB), ('bggr', cv2.COLOR_BayerRG2RGB),
                         ('gbrg', cv2.COLOR_BayerGR2RGB), ('grbg', cv2.COLOR_BayerGB2RGB))
       for bits in (8, 16)},
}


def _bytes_of(data) -> np.ndarray:
    try:
        return np.frombuffer(memoryview(data).cast('B'), dtype=np.uint8)
    except TypeError:  # a plain list of ints
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def image_to_rgb(msg) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` (rclpy or rosbags) to an H x W x 3 RGB uint8 array."""
    spec = ENCODINGS.get(msg.encoding)
    if spec is None:
        raise ImageConversionError(f'unsupported image encoding {msg.encoding!r}; supported: '
                                   f'{", ".join(sorted(ENCODINGS))}')
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'empty image ({width} x {height})')
    if spec.channels == 2 and width % 2:
        raise ImageConversionError(f'{msg.encoding} needs an even width, got {width}')
    dtype = np.dtype(spec.dtype).newbyteorder('>' if msg.is_bigendian else '<')
    row_bytes = width * spec.channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(f'step {step} is smaller than width x bytes per pixel = '
                                   f'{row_bytes} for {msg.encoding}')
    data = _bytes_of(msg.data)
    if data.size < step * height:
        raise ImageConversionError(f'image data has {data.size} bytes, expected step x height = '
                                   f'{step * height} ({msg.encoding} {width} x {height})')
    rows = np.ascontiguousarray(data[:step * height].reshape(height, step)[:, :row_bytes])
    pixels = rows.view(dtype).astype(dtype.newbyteorder('='))
    pixels = pixels.reshape(height, width, spec.channels)
    if spec.channels == 1:
        pixels = pixels[:, :, 0]
    rgb = pixels if spec.to_rgb is None else cv2.cvtColor(pixels, spec.to_rgb)
    if rgb.dtype != np.uint8:
        rgb = np.rint(rgb * (255.0 / 65535.0)).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def compressed_to_rgb(msg) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, ...) to RGB uint8."""
    data = _bytes_of(msg.data)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ImageConversionError(f'could not decode compressed image ({data.size} bytes, '
                                   f'format {msg.format!r})')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def camera_from_info(msg) -> PinholeCamera | None:
    """Return the pinhole intrinsics of a CameraInfo, or None when K is unset or invalid."""
    k = [float(v) for v in msg.k]
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0 or not all(math.isfinite(v) for v in k) or k[0] <= 0 \
            or k[4] <= 0:
        return None
    return PinholeCamera(width, height, k[0], k[4], k[2], k[5])


def camera_for_image(camera: PinholeCamera | None, width: int, height: int
                     ) -> PinholeCamera | None:
    """Return ``camera`` rescaled to an image of ``width`` x ``height`` (binned or resized)."""
    if camera is None or (camera.width, camera.height) == (width, height):
        return camera
    return camera.scaled(width, height)
