"""The Gazebo world generator: well-formed SDF/YAML, files that exist, topics that match."""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import pytest
import yaml

from spikevim_ros.sim.gazebo import DRONE_MODEL, generate
from spikevim_ros.sim.simulate import SimTopics
from spikevim_ros.sim.world import MapWorld

REPO = Path(__file__).resolve().parents[1]
DEMO_MAP = REPO / 'spikevim_ros' / 'data' / 'demo_map'
LAUNCH = REPO / 'launch' / 'sim_gnss_denied.launch.py'


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    return generate(DEMO_MAP, tmp_path_factory.mktemp('gz') / 'world')


def test_world_is_well_formed_at_true_scale(generated):
    world = ET.parse(generated['world']).getroot()
    assert world.tag == 'sdf' and world.get('version') == '1.9'
    plane = world.find('./world/model[@name="orthophoto_ground"]/link/visual/geometry/plane')
    width, height = (float(v) for v in plane.find('size').text.split())
    e0, n0, e1, n1 = MapWorld.load(DEMO_MAP).bounds_en()
    assert width == pytest.approx(e1 - e0, rel=0.01)
    assert height == pytest.approx(n1 - n0, rel=0.01)
    texture = world.find('.//albedo_map').text
    image = cv2.imread(str(generated['world'].parent / texture))
    assert image is not None
    assert image.shape[1] / image.shape[0] == pytest.approx(width / height, rel=0.01)
    lat = float(world.find('.//spherical_coordinates/latitude_deg').text)
    lon = float(world.find('.//spherical_coordinates/longitude_deg').text)
    assert (lat, lon) == pytest.approx((55.54225, 38.25085), abs=1e-4)
    uri = world.find('./world/include/uri').text
    model_dir = generated['world'].parent / uri
    assert (model_dir / 'model.sdf').is_file() and (model_dir / 'model.config').is_file()
    config = ET.parse(model_dir / 'model.config').getroot()
    assert (model_dir / config.find('sdf').text).is_file()


def test_drone_sensors_publish_the_node_topics(generated):
    model = ET.parse(generated['model']).getroot()
    assert model.find('model').get('name') == DRONE_MODEL
    topics = SimTopics()
    camera = model.find('.//sensor[@type="camera"]')
    assert camera.find('topic').text == topics.image
    assert camera.find('camera/camera_info_topic').text == topics.camera_info
    # Nadir: the camera's +x (its optical axis in SDF) pitched down by 90 degrees.
    pitch = [float(v) for v in camera.find('pose').text.split()][4]
    assert pitch == pytest.approx(1.5708, abs=1e-3)
    assert model.find('.//sensor[@type="navsat"]/topic').text == topics.gnss


def test_bridge_yaml_matches_sensors_and_node(generated):
    entries = yaml.safe_load(generated['bridge'].read_text())
    by_ros = {e['ros_topic_name']: e for e in entries}
    topics = SimTopics()
    assert by_ros[topics.image]['ros_type_name'] == 'sensor_msgs/msg/Image'
    assert by_ros[topics.camera_info]['gz_type_name'] == 'gz.msgs.CameraInfo'
    assert by_ros[topics.gnss]['ros_type_name'] == 'sensor_msgs/msg/NavSatFix'
    assert by_ros['/clock']['direction'] == 'GZ_TO_ROS'
    assert by_ros[f'/model/{DRONE_MODEL}/cmd_vel']['direction'] == 'ROS_TO_GZ'
    for entry in entries:
        assert set(entry) == {'ros_topic_name', 'gz_topic_name', 'ros_type_name',
                              'gz_type_name', 'direction'}


def test_launch_file_wires_the_same_topics_into_the_node():
    tree = ast.parse(LAUNCH.read_text())
    constants = {node.targets[0].id: node.value.value for node in tree.body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)}
    topics = SimTopics()
    assert constants == {'IMAGE_TOPIC': topics.image, 'CAMERA_INFO_TOPIC': topics.camera_info,
                         'GNSS_TOPIC': topics.gnss}
    text = LAUNCH.read_text()
    # The node's own subscriptions are relative names remapped here or by localize.launch.py.
    node_source = (REPO / 'spikevim_ros' / 'ros' / 'localizer_node.py').read_text()
    for relative in ("'image'", "'camera_info'", "'gnss/fix'"):
        assert relative in node_source
    assert (REPO / 'launch' / 'localize.launch.py').is_file()
    for argument in ('image_topic', 'camera_info_topic', 'gnss_topic', 'gallery_dir', 'weights',
                     'use_sim_time'):
        assert f"'{argument}'" in (REPO / 'launch' / 'localize.launch.py').read_text()
        assert f"'{argument}'" in text
    assert "'world.sdf'" in text and "'bridge.yaml'" in text
