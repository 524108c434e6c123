"""
``localize.launch.py`` through the real launch system (``LaunchService``, as ``ros2 launch``).

The launch starts the lifecycle node from a small ament prefix with its documented arguments
(topic remappings, params file, gallery, autostart). The test checks the node reaches ``active``,
publishes ``~/fix`` on the in-flight path once a frame arrives with the aircraft's inputs, and
that the launch shuts down cleanly on SIGINT. Runs in the private network namespace.
"""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip('rclpy')
import launch_ros  # noqa: E402, F401  (a missing launch system fails, never skips)
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, NavSatFix  # noqa: E402

from fallback_world import CAMERA, build_small_gallery, crop_raster, view  # noqa: E402
from launch_runner import REPO, LaunchProcess, ament_prefix  # noqa: E402
from ros_feeder import AircraftPublisher, Feeder, camera_info, diagnostic  # noqa: E402
from sim_scenarios import gnss_fix  # noqa: E402

LAUNCH_FILE = REPO / 'launch' / 'localize.launch.py'
TOPICS = {'image_topic': '/drone/camera/image_raw', 'camera_info_topic': '/drone/camera/info',
          'gnss_topic': '/drone/gnss/fix'}


@pytest.fixture
def feeder(rclpy_context):
    feeder = Feeder(rclpy_context)
    yield feeder
    feeder.close()


def test_launch_activates_publishes_and_stops_on_sigint(feeder, ros_isolated, tmp_path):
    from spikevim_ros.encoder import build_encoder

    build_small_gallery(tmp_path, build_encoder('T', 'demo'))   # weights: demo, as the params
    launch = LaunchProcess(LAUNCH_FILE, {
        **TOPICS, 'gallery_dir': str(tmp_path / 'gallery'), 'autostart': 'true',
        'params_file': str(REPO / 'config' / 'localize.yaml')},
        ament_prefix(tmp_path / 'prefix'), tmp_path / 'ros_log')
    try:
        node = feeder.node
        feeder.image_pub = node.create_publisher(Image, TOPICS['image_topic'],
                                                 qos_profile_sensor_data)
        feeder.gnss_pub = node.create_publisher(NavSatFix, TOPICS['gnss_topic'],
                                                qos_profile_sensor_data)
        info_pub = node.create_publisher(CameraInfo, TOPICS['camera_info_topic'],
                                         qos_profile_sensor_data)
        node.create_timer(0.2, lambda: info_pub.publish(camera_info(CAMERA, feeder.now())))
        AircraftPublisher(feeder)            # imu/data and rangefinder: default names
        image, lat, lon = view(crop_raster(tmp_path), 15.0, -10.0)
        feeder.gnss_source = lambda stamp: gnss_fix(stamp, lat, lon)

        def active() -> bool:
            return 'active' in launch.output.split('configured: gallery', 1)[-1] \
                or launch.proc.poll() is not None
        assert feeder.spin_until(active, 240.0), launch.output
        assert launch.proc.poll() is None, launch.output
        assert feeder.state() == 'active'

        feeder.spin_for(1.0)
        stamp = feeder.publish_frame(image)
        fixes = feeder.received['fix']
        assert feeder.spin_until(lambda: fixes or launch.proc.poll() is not None, 120.0), \
            launch.output
        assert abs(fixes[0].header.stamp.sec + fixes[0].header.stamp.nanosec * 1e-9
                   - stamp) < 1e-6

        def inference() -> dict:
            status = diagnostic(feeder, 'inference')
            return {v.key: v.value for v in status.values} if status else {}
        assert feeder.spin_until(lambda: inference().get('frames_processed', '0') != '0', 10.0)
        values = inference()
        assert values['search_path'] == 'in_flight', values

        code = launch.interrupt()
        assert code == 0, launch.output
        assert 'process has finished cleanly' in launch.output, launch.output
    finally:
        launch.stop()
