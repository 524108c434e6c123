"""
Feed ROS messages to :class:`~spikevim_ros.aircraft.AircraftInputs`.

Duck-typed on field names, so the node (rclpy messages) and ``spikevim replay`` (rosbags
messages) share it. Keys are the node's input topic names (remappable) and their message types.
"""

from __future__ import annotations

from spikevim_ros.aircraft.inputs import AircraftInputs

INPUT_TYPES = {'imu/data': 'sensor_msgs/msg/Imu', 'rangefinder': 'sensor_msgs/msg/Range',
               'altitude_agl': 'std_msgs/msg/Float64', 'odom': 'nav_msgs/msg/Odometry'}
CHANNELS = {'imu/data': 'attitude', 'rangefinder': 'rangefinder', 'altitude_agl': 'rel_alt',
            'odom': 'odometry'}


def header_stamp(msg) -> float:
    """Return a message's header stamp in seconds (0 when unstamped)."""
    stamp = msg.header.stamp
    return stamp.sec + stamp.nanosec * 1e-9


def _xyz(vector) -> tuple[float, float, float]:
    return float(vector.x), float(vector.y), float(vector.z)


def _xyzw(q) -> tuple[float, float, float, float]:
    return float(q.x), float(q.y), float(q.z), float(q.w)


def feed_input(inputs: AircraftInputs, topic: str, msg, now: float) -> str | None:
    """Give one message of input ``topic`` (a key of :data:`INPUT_TYPES`); return why refused."""
    if _feed(inputs, topic, msg, now):
        return None
    return inputs.channels[CHANNELS[topic]].problem


def _feed(inputs: AircraftInputs, topic: str, msg, now: float) -> bool:
    if topic == 'imu/data':
        if msg.orientation_covariance[0] == -1.0:
            inputs.reject('attitude', 'the IMU message has no orientation (covariance[0] = -1)',
                          now)
            return False
        return inputs.on_orientation(_xyzw(msg.orientation), header_stamp(msg), now)
    if topic == 'rangefinder':
        return inputs.on_range(float(msg.range), float(msg.min_range), float(msg.max_range),
                               header_stamp(msg), now)
    if topic == 'altitude_agl':
        return inputs.on_relative_altitude(float(msg.data), 0.0, now)
    if topic == 'odom':
        pose, twist = msg.pose.pose, msg.twist.twist
        return inputs.on_odometry(_xyz(pose.position), _xyzw(pose.orientation),
                                  _xyz(twist.linear), header_stamp(msg), now)
    raise ValueError(f'unknown aircraft input topic {topic!r}; known: {", ".join(INPUT_TYPES)}')
