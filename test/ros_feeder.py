"""Test-side ROS peer of the localizer node: publishes frames/GNSS/clock, records the outputs."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import ListParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import (QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy,
                       qos_profile_sensor_data)
from rosgraph_msgs.msg import Clock
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, NavSatFix, Range

from fallback_world import ALTITUDE_AGL
from spikevim_ros.fix import GeoFix
from spikevim_ros.ros.navsat import fix_to_msg
from spikevim_ros.ros.time import seconds_to_stamp

NODE = '/localizer'
TRANSITIONS = {'configure': Transition.TRANSITION_CONFIGURE,
               'activate': Transition.TRANSITION_ACTIVATE,
               'deactivate': Transition.TRANSITION_DEACTIVATE,
               'cleanup': Transition.TRANSITION_CLEANUP,
               'shutdown': Transition.TRANSITION_UNCONFIGURED_SHUTDOWN}


class Feeder:
    """A node in the test process that drives and observes ``localizer_node``."""

    def __init__(self, context) -> None:
        self.node = rclpy.create_node('feeder', context=context)
        node = self.node
        self.image_pub = node.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.compressed_pub = node.create_publisher(CompressedImage, 'image/compressed',
                                                    qos_profile_sensor_data)
        self.gnss_pub = node.create_publisher(NavSatFix, 'gnss/fix', qos_profile_sensor_data)
        self.clock_pub = node.create_publisher(Clock, '/clock', 10)
        self.received: dict[str, list] = {'fix': [], 'fix_selected': [], 'gnss_state': [],
                                          'diagnostics': []}
        reliable = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE,
                             durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
        for name, kind, qos in (('fix', NavSatFix, reliable),
                                ('fix_selected', NavSatFix, reliable),
                                ('gnss_state', DiagnosticStatus, latched)):
            node.create_subscription(kind, f'{NODE}/{name}', self.received[name].append, qos)
        node.create_subscription(DiagnosticArray, '/diagnostics',
                                 self.received['diagnostics'].append, 10)
        self.clients = {
            'change_state': node.create_client(ChangeState, f'{NODE}/change_state'),
            'get_state': node.create_client(GetState, f'{NODE}/get_state'),
            'set_parameters': node.create_client(SetParameters, f'{NODE}/set_parameters'),
            'list_parameters': node.create_client(ListParameters, f'{NODE}/list_parameters'),
        }
        self.gnss_source = None          # callable(stamp) -> GeoFix | None (None: silence)
        self.sim_time: float | None = None
        self.gnss_sent: list[GeoFix] = []
        node.create_timer(0.1, self._tick)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)

    def close(self) -> None:
        """Destroy the node."""
        self.executor.shutdown()
        self.node.destroy_node()

    # -------------------------------------------------------------- time and spinning

    def now(self) -> float:
        """Return the stamp to use: the simulated time when driving /clock, else ROS time."""
        if self.sim_time is not None:
            return self.sim_time
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _tick(self) -> None:
        if self.sim_time is not None:
            self.clock_pub.publish(Clock(clock=seconds_to_stamp(self.sim_time)))
        if self.gnss_source is not None:
            fix = self.gnss_source(self.now())
            if fix is not None:
                self.gnss_sent.append(fix)
                self.gnss_pub.publish(fix_to_msg(fix))

    def spin_until(self, predicate, timeout: float) -> bool:
        """Spin until ``predicate()`` is true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return bool(predicate())

    def advance_until(self, predicate, sim_seconds: float, step: float = 0.1) -> bool:
        """Advance the simulated clock in steps (0.1 s of wall time each) until ``predicate``."""
        end = self.sim_time + sim_seconds
        while self.sim_time < end - 1e-9:
            if predicate():
                return True
            self.sim_time += step
            self.spin_for(0.1)
        return bool(predicate())

    def spin_for(self, seconds: float) -> None:
        """Spin for a while."""
        self.spin_until(lambda: False, seconds)

    # -------------------------------------------------------------- services

    def call(self, name: str, request, timeout: float = 120.0):
        """Call one of the node's services and return the response."""
        client = self.clients[name]
        assert self.spin_until(client.service_is_ready, 30.0), f'{name} service not available'
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout), f'{name} call timed out'
        return future.result()

    def transition(self, name: str) -> bool:
        """Trigger a lifecycle transition; return whether it succeeded."""
        request = ChangeState.Request()
        request.transition.id = TRANSITIONS[name]
        return self.call('change_state', request).success

    def state(self) -> str:
        """Return the node's lifecycle state label."""
        return self.call('get_state', GetState.Request()).current_state.label

    def set_parameter(self, name: str, value):
        """Set one parameter; return the SetParametersResult."""
        kinds = {bool: (ParameterType.PARAMETER_BOOL, 'bool_value'),
                 int: (ParameterType.PARAMETER_INTEGER, 'integer_value'),
                 float: (ParameterType.PARAMETER_DOUBLE, 'double_value'),
                 str: (ParameterType.PARAMETER_STRING, 'string_value')}
        kind, field = kinds[type(value)]
        parameter_value = ParameterValue(type=kind)
        setattr(parameter_value, field, value)
        request = SetParameters.Request(parameters=[Parameter(name=name, value=parameter_value)])
        return self.call('set_parameters', request).results[0]

    def parameter_names(self) -> set[str]:
        """Return the names of every parameter the node declared."""
        return set(self.call('list_parameters', ListParameters.Request()).result.names)

    # -------------------------------------------------------------- inputs

    def publish_frame(self, rgb: np.ndarray, encoding: str = 'rgb8', pad: int = 0,
                      frame_id: str = 'cam_down') -> float:
        """Publish an RGB frame in ``encoding`` (rgb8, bgr8, rgba8 or jpeg); return its stamp."""
        stamp = self.now()
        if encoding == 'jpeg':
            ok, data = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, 95])
            assert ok
            msg = CompressedImage(format='jpeg', data=data.tobytes())
            msg.header.stamp, msg.header.frame_id = seconds_to_stamp(stamp), frame_id
            self.compressed_pub.publish(msg)
            return stamp
        pixels = {'rgb8': rgb, 'bgr8': rgb[..., ::-1],
                  'rgba8': np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])}[encoding]
        rows = pixels.reshape(pixels.shape[0], -1)
        rows = np.hstack([rows, np.zeros((rows.shape[0], pad), np.uint8)])
        self.publish_raw(rows.tobytes(), encoding, pixels.shape[1], pixels.shape[0],
                         rows.shape[1], stamp, frame_id)
        return stamp

    def publish_raw(self, data: bytes, encoding: str, width: int, height: int, step: int,
                    stamp: float, frame_id: str = 'cam_down') -> None:
        """Publish an Image exactly as given (also corrupt ones)."""
        msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=step)
        msg.data = data
        msg.header.stamp, msg.header.frame_id = seconds_to_stamp(stamp), frame_id
        self.image_pub.publish(msg)


NORTH = (0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5))   # ENU/FLU: nose north, level


class AircraftPublisher:
    """Publishes the autopilot's topics (mavros-like, 10 Hz) from the feeder node."""

    def __init__(self, feeder: Feeder) -> None:
        self.feeder = feeder
        node = feeder.node
        self.imu = node.create_publisher(Imu, 'imu/data', qos_profile_sensor_data)
        self.range = node.create_publisher(Range, 'rangefinder', qos_profile_sensor_data)
        self.odom = node.create_publisher(Odometry, 'odom', qos_profile_sensor_data)
        self.values: dict = {}            # publish() arguments of the 10 Hz stream
        node.create_timer(0.1, lambda: self.publish(**self.values))

    def publish(self, orientation=NORTH, distance: float = ALTITUDE_AGL,
                position=(0.0, 0.0, ALTITUDE_AGL), age: float = 0.0) -> None:
        """Publish one message on each input, stamped ``age`` seconds ago."""
        stamp = seconds_to_stamp(self.feeder.now() - age)
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, 'base_link'
        imu.orientation.x, imu.orientation.y, imu.orientation.z, imu.orientation.w = orientation
        self.imu.publish(imu)
        rng = Range(radiation_type=Range.INFRARED, field_of_view=0.05, min_range=0.2,
                    max_range=200.0, range=float(distance))
        rng.header.stamp, rng.header.frame_id = stamp, 'rangefinder'
        self.range.publish(rng)
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, 'odom', 'base_link'
        pose = odom.pose.pose
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
        pose.orientation.z, pose.orientation.w = NORTH[2], NORTH[3]
        odom.twist.twist.linear.x = 5.0
        self.odom.publish(odom)


def camera_info(camera, stamp: float, frame_id: str = 'cam_down') -> CameraInfo:
    """Return the CameraInfo of an undistorted pinhole camera."""
    msg = CameraInfo(width=camera.width, height=camera.height, distortion_model='plumb_bob',
                     k=[camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0])
    msg.header.stamp, msg.header.frame_id = seconds_to_stamp(stamp), frame_id
    return msg


def latest_health(feeder: Feeder) -> str | None:
    """Return OK / LOST from the newest ~/gnss_state message."""
    states = feeder.received['gnss_state']
    return states[-1].message.split(':')[0] if states else None


def diagnostic(feeder: Feeder, suffix: str) -> DiagnosticStatus | None:
    """Return the newest /diagnostics status whose name ends with ``suffix``."""
    for array in reversed(feeder.received['diagnostics']):
        for status in array.status:
            if status.name.endswith(suffix):
                return status
    return None


def is_nan(value: float) -> bool:
    """Return True for NaN."""
    return isinstance(value, float) and math.isnan(value)
