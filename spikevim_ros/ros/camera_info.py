"""``sensor_msgs/CameraInfo`` to :class:`spikevim_ros.camera.PinholeCamera`."""

from __future__ import annotations

import math

from spikevim_ros.camera import PinholeCamera


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
