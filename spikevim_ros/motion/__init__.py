"""The aircraft's motion measured without GNSS: frame-to-frame visual odometry."""

from spikevim_ros.motion.visual_odometry import VisualOdometry, VisualOdometryConfig

__all__ = ['VisualOdometry', 'VisualOdometryConfig']
