"""
ROS 2 bags without ROS: writing and message conversion with ``rosbags`` typestores.

Messages are built from the Humble or Jazzy definitions (``--distro``) so the bag plays on the
robot's own ROS version. The replay, the ``play`` command and the simulator share these helpers.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from spikevim_ros.camera import CameraPose, PinholeCamera
from spikevim_ros.fix import GeoFix

DISTROS = {'humble': Stores.ROS2_HUMBLE, 'jazzy': Stores.ROS2_JAZZY}
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


def typestore_for(distro: str):
    """Return the rosbags typestore with the message definitions of a ROS 2 distribution."""
    if distro not in DISTROS:
        raise ValueError(f'unknown ROS 2 distribution {distro!r}; choose from {list(DISTROS)}')
    return get_typestore(DISTROS[distro])


def seconds_to_ns(seconds: float) -> int:
    """Return float seconds as integer nanoseconds (bag time)."""
    return int(round(seconds * 1e9))


class BagWriter:
    """Write typed messages to a new ROS 2 bag (MCAP or sqlite3) in stamp order or not."""

    def __init__(self, path: str | Path, distro: str = 'jazzy', storage: str = 'mcap') -> None:
        if storage not in STORAGES:
            raise ValueError(f'unknown bag storage {storage!r}; choose from {list(STORAGES)}')
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f'{self.path}: bag already exists; choose a new path')
        self.typestore = typestore_for(distro)
        self.distro = distro
        self._writer = Writer(self.path, version=8, storage_plugin=STORAGES[storage])
        self._connections: dict[str, object] = {}

    def __enter__(self) -> 'BagWriter':
        """Open the bag."""
        self._writer.open()
        return self

    def __exit__(self, *exc) -> None:
        """Close the bag and write metadata.yaml (Humble-readable for ``distro='humble'``)."""
        self._writer.close()
        if self.distro == 'humble':
            downgrade_metadata(self.path / 'metadata.yaml')

    def msg(self, msgtype: str, **fields):
        """Build a message of ``msgtype`` from this bag's typestore."""
        return self.typestore.types[msgtype](**fields)

    def set_custom_data(self, key: str, value: str) -> None:
        """Store a key/value pair in metadata.yaml."""
        self._writer.set_custom_data(key, value)

    def write(self, topic: str, stamp_s: float, message) -> None:
        """Serialize and write a message at bag time ``stamp_s``."""
        msgtype = message.__msgtype__
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise ValueError(f'topic {topic} already carries {connection.msgtype}, '
                             f'not {msgtype}')
        self._writer.write(connection, seconds_to_ns(stamp_s),
                           self.typestore.serialize_cdr(message, msgtype))

    # --- message builders -------------------------------------------------------------------

    def header(self, stamp_s: float, frame_id: str):
        """Return a std_msgs/Header."""
        stamp = max(stamp_s, 0.0) if math.isfinite(stamp_s) else 0.0
        sec = int(stamp)
        nanosec = min(int(round((stamp - sec) * 1e9)), 999_999_999)
        return self.msg('std_msgs/msg/Header',
                        stamp=self.msg('builtin_interfaces/msg/Time', sec=sec, nanosec=nanosec),
                        frame_id=frame_id)

    def navsat(self, fix: GeoFix, service: int = 1):
        """Return a sensor_msgs/NavSatFix for a GeoFix (NaNs kept)."""
        status = self.msg('sensor_msgs/msg/NavSatStatus', status=int(fix.status),
                          service=int(service))
        return self.msg('sensor_msgs/msg/NavSatFix', header=self.header(fix.stamp, fix.frame_id),
                        status=status, latitude=float(fix.latitude),
                        longitude=float(fix.longitude), altitude=float(fix.altitude),
                        position_covariance=np.asarray(fix.covariance_enu, dtype=np.float64
                                                       ).reshape(9).copy(),
                        position_covariance_type=int(fix.covariance_type))

    def image(self, rgb: np.ndarray, stamp_s: float, frame_id: str):
        """Return a sensor_msgs/Image with ``rgb8`` encoding."""
        h, w = rgb.shape[:2]
        return self.msg('sensor_msgs/msg/Image', header=self.header(stamp_s, frame_id),
                        height=h, width=w, encoding='rgb8', is_bigendian=0, step=w * 3,
                        data=np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1))

    def compressed_image(self, rgb: np.ndarray, stamp_s: float, frame_id: str,
                         quality: int = 90):
        """Return a JPEG sensor_msgs/CompressedImage."""
        ok, data = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError('JPEG encoding of a rendered frame failed')
        return self.msg('sensor_msgs/msg/CompressedImage',
                        header=self.header(stamp_s, frame_id), format='jpeg',
                        data=np.asarray(data, dtype=np.uint8).reshape(-1))

    def camera_info(self, camera: PinholeCamera, stamp_s: float, frame_id: str):
        """Return a sensor_msgs/CameraInfo for an undistorted pinhole camera."""
        k = camera.matrix
        p = np.hstack([k, np.zeros((3, 1))])
        roi = self.msg('sensor_msgs/msg/RegionOfInterest', x_offset=0, y_offset=0, height=0,
                       width=0, do_rectify=False)
        return self.msg('sensor_msgs/msg/CameraInfo', header=self.header(stamp_s, frame_id),
                        height=camera.height, width=camera.width, distortion_model='plumb_bob',
                        d=np.zeros(5), k=k.reshape(9).copy(), r=np.eye(3).reshape(9).copy(),
                        p=p.reshape(12).copy(), binning_x=0, binning_y=0, roi=roi)

    def pose(self, pose: CameraPose, stamp_s: float, frame_id: str = 'map'):
        """Return a geometry_msgs/PoseStamped: camera optical frame in local ENU (z = AGL)."""
        qx, qy, qz, qw = quaternion_from_matrix(pose.world_from_camera())
        return self.msg(
            'geometry_msgs/msg/PoseStamped', header=self.header(stamp_s, frame_id),
            pose=self.msg('geometry_msgs/msg/Pose',
                          position=self.msg('geometry_msgs/msg/Point', x=pose.east,
                                            y=pose.north, z=pose.altitude_agl),
                          orientation=self.msg('geometry_msgs/msg/Quaternion', x=qx, y=qy,
                                               z=qz, w=qw)))

    def imu(self, world_from_body: np.ndarray, stamp_s: float, frame_id: str = 'base_link'):
        """Return a sensor_msgs/Imu carrying only the orientation (ENU from FLU)."""
        qx, qy, qz, qw = quaternion_from_matrix(world_from_body)
        vector = self.msg('geometry_msgs/msg/Vector3', x=0.0, y=0.0, z=0.0)
        unknown = np.zeros(9)
        unknown[0] = -1.0
        return self.msg('sensor_msgs/msg/Imu', header=self.header(stamp_s, frame_id),
                        orientation=self.msg('geometry_msgs/msg/Quaternion', x=qx, y=qy, z=qz,
                                             w=qw),
                        orientation_covariance=np.zeros(9), angular_velocity=vector,
                        angular_velocity_covariance=unknown.copy(),
                        linear_acceleration=vector, linear_acceleration_covariance=unknown)

    def range(self, distance: float, min_range: float, max_range: float, stamp_s: float,
              frame_id: str = 'rangefinder'):
        """Return a sensor_msgs/Range of an infrared/laser rangefinder (Jazzy adds variance)."""
        fields = dict(header=self.header(stamp_s, frame_id), radiation_type=1,
                      field_of_view=0.05, min_range=float(min_range),
                      max_range=float(max_range), range=float(distance))
        if 'variance' in self.typestore.types['sensor_msgs/msg/Range'].__dataclass_fields__:
            fields['variance'] = 0.0
        return self.msg('sensor_msgs/msg/Range', **fields)

    def float64(self, value: float):
        """Return a std_msgs/Float64."""
        return self.msg('std_msgs/msg/Float64', data=float(value))

    def odometry(self, position: np.ndarray, world_from_body: np.ndarray,
                 body_velocity: np.ndarray, stamp_s: float):
        """Return a nav_msgs/Odometry (pose in odom ENU, twist in base_link FLU)."""
        qx, qy, qz, qw = quaternion_from_matrix(world_from_body)
        point = self.msg('geometry_msgs/msg/Point', x=float(position[0]), y=float(position[1]),
                         z=float(position[2]))
        pose = self.msg('geometry_msgs/msg/Pose', position=point, orientation=self.msg(
            'geometry_msgs/msg/Quaternion', x=qx, y=qy, z=qz, w=qw))
        zero = self.msg('geometry_msgs/msg/Vector3', x=0.0, y=0.0, z=0.0)
        linear = self.msg('geometry_msgs/msg/Vector3', x=float(body_velocity[0]),
                          y=float(body_velocity[1]), z=float(body_velocity[2]))
        return self.msg(
            'nav_msgs/msg/Odometry', header=self.header(stamp_s, 'odom'),
            child_frame_id='base_link',
            pose=self.msg('geometry_msgs/msg/PoseWithCovariance', pose=pose,
                          covariance=np.zeros(36)),
            twist=self.msg('geometry_msgs/msg/TwistWithCovariance',
                           twist=self.msg('geometry_msgs/msg/Twist', linear=linear,
                                          angular=zero),
                           covariance=np.zeros(36)))

    def clock(self, stamp_s: float):
        """Return a rosgraph_msgs/Clock."""
        return self.msg('rosgraph_msgs/msg/Clock', clock=self.header(stamp_s, '').stamp)

    def string(self, text: str):
        """Return a std_msgs/String."""
        return self.msg('std_msgs/msg/String', data=text)


def downgrade_metadata(path: Path) -> None:
    """
    Rewrite a metadata.yaml as rosbag2 version 5, the newest Humble parses.

    Humble's yaml-cpp reader rejects the keys added later (custom data, ROS distribution, type
    description hashes); the storage files themselves are unchanged.
    """
    document = yaml.safe_load(path.read_text())
    info = document['rosbag2_bagfile_information']
    info['version'] = 5
    for key in ('custom_data', 'ros_distro'):
        info.pop(key, None)
    for topic in info.get('topics_with_message_count', []):
        topic['topic_metadata'].pop('type_description_hash', None)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def quaternion_from_matrix(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Return the (x, y, z, w) unit quaternion of a 3 x 3 rotation matrix."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + m[i, i] - m[j, j] - m[k, k], 1e-12))
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = s / 4
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
        q = tuple(q)
    norm = math.sqrt(sum(v * v for v in q))
    x, y, z, w = (v / norm for v in q)
    return (x, y, z, w) if w >= 0.0 else (-x, -y, -z, -w)
