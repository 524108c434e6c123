"""
Pick the ``sensor_msgs/Image`` converter: cv_bridge where it works, else the package's own.

cv_bridge is used where it imports and gives the same array on a probe image as
:func:`spikevim_ros.camera_messages.image_to_rgb` (it is often broken against numpy 2).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from spikevim_ros.camera_messages import ImageConversionError, image_to_rgb


def _probe_image():
    from sensor_msgs.msg import Image

    probe = Image(height=2, width=3, encoding='bgr8', step=12, is_bigendian=0)
    probe.data = bytes(range(24))
    return probe


def select_image_converter() -> tuple[Callable[[object], np.ndarray], str]:
    """Return ``(convert, name)``: cv_bridge when it imports and agrees on a probe, else ours."""
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()

        def with_cv_bridge(msg) -> np.ndarray:
            try:
                return np.ascontiguousarray(bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8'))
            except Exception as error:  # cv_bridge raises its own CvBridgeError and others
                raise ImageConversionError(f'cv_bridge: {error}') from error

        probe = _probe_image()
        if np.array_equal(with_cv_bridge(probe), image_to_rgb(probe)):
            return with_cv_bridge, 'cv_bridge'
    except Exception:  # missing, or broken against this numpy: fall back to our own
        pass
    return image_to_rgb, 'own'
