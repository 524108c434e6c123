"""
Spike-driven visual geo-localization for GNSS-denied drones.

The package is split into a ROS-free core (``encoder``, ``gallery``, ``localization``, ``gnss``,
``sim``, ``replay``, ``training``) and a thin ROS 2 layer in ``spikevim_ros.ros``. Nothing outside
``spikevim_ros.ros`` imports rclpy.
"""

__version__ = '0.1.0'
