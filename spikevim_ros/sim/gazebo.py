"""
Gazebo (Harmonic) world generator for ``launch/sim_gnss_denied.launch.py``.

The orthophoto becomes textured ground at its true scale, with a camera drone and a
``ros_gz_bridge`` configuration.

Nothing here needs Gazebo; the output is plain files::

    python -m spikevim_ros.sim.gazebo MAP OUT_DIR [--altitude 150] [--hfov 60] ...

OUT_DIR then holds ``world.sdf``, ``ground.png``, ``models/camera_drone/{model.sdf,model.config}``
and ``bridge.yaml``. The world's origin is the map centre; its spherical coordinates make the
drone's NavSat sensor report the same latitude/longitude as the map.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import cv2
import yaml

from spikevim_ros.sim.simulate import SimTopics
from spikevim_ros.sim.world import MapWorld

DRONE_MODEL = 'camera_drone'


@dataclass(frozen=True)
class GazeboConfig:
    """Camera and start pose of the generated drone."""

    width: int = 640
    height: int = 480
    hfov_deg: float = 60.0
    camera_rate_hz: float = 5.0
    gnss_rate_hz: float = 5.0
    start_altitude_m: float = 150.0
    max_texture_px: int = 8192


def bridge_entries(topics: SimTopics = SimTopics()) -> list[dict]:
    """Return the ros_gz_bridge topic list (Gazebo topics named like the ROS ones)."""
    def entry(ros: str, ros_type: str, gz_type: str, direction: str = 'GZ_TO_ROS') -> dict:
        return {'ros_topic_name': ros, 'gz_topic_name': ros, 'ros_type_name': ros_type,
                'gz_type_name': gz_type, 'direction': direction}

    return [entry(topics.clock, 'rosgraph_msgs/msg/Clock', 'gz.msgs.Clock'),
            entry(topics.image, 'sensor_msgs/msg/Image', 'gz.msgs.Image'),
            entry(topics.camera_info, 'sensor_msgs/msg/CameraInfo', 'gz.msgs.CameraInfo'),
            entry(topics.gnss, 'sensor_msgs/msg/NavSatFix', 'gz.msgs.NavSat'),
            entry(f'/model/{DRONE_MODEL}/cmd_vel', 'geometry_msgs/msg/Twist', 'gz.msgs.Twist',
                  'ROS_TO_GZ')]


def drone_sdf(config: GazeboConfig, topics: SimTopics = SimTopics()) -> str:
    """Return the drone model: a light box with a nadir camera, a NavSat and velocity control."""
    import math

    hfov = math.radians(config.hfov_deg)
    return f'''<?xml version="1.0"?>
<sdf version="1.9">
  <model name="{DRONE_MODEL}">
    <link name="base_link">
      <gravity>false</gravity>
      <inertial><mass>1.5</mass>
        <inertia><ixx>0.03</ixx><iyy>0.03</iyy><izz>0.05</izz></inertia></inertial>
      <visual name="body"><geometry><box><size>0.5 0.5 0.15</size></box></geometry></visual>
      <collision name="body"><geometry><box><size>0.5 0.5 0.15</size></box></geometry>
      </collision>
      <sensor name="nadir_camera" type="camera">
        <pose>0 0 -0.1 0 1.5707963 0</pose>
        <always_on>true</always_on>
        <update_rate>{config.camera_rate_hz}</update_rate>
        <topic>{escape(topics.image)}</topic>
        <camera>
          <camera_info_topic>{escape(topics.camera_info)}</camera_info_topic>
          <horizontal_fov>{hfov:.6f}</horizontal_fov>
          <image><width>{config.width}</width><height>{config.height}</height>
            <format>R8G8B8</format></image>
          <clip><near>1.0</near><far>5000</far></clip>
        </camera>
      </sensor>
      <sensor name="gnss" type="navsat">
        <always_on>true</always_on>
        <update_rate>{config.gnss_rate_hz}</update_rate>
        <topic>{escape(topics.gnss)}</topic>
      </sensor>
    </link>
    <plugin filename="gz-sim-velocity-control-system"
            name="gz::sim::systems::VelocityControl"/>
  </model>
</sdf>
'''


def world_sdf(world: MapWorld, width_m: float, height_m: float, centre_en: tuple[float, float],
              config: GazeboConfig) -> str:
    """Return the world: ground plane textured with ``ground.png`` and the drone included."""
    lat, lon = (float(v) for v in world.frame.to_latlon(*centre_en))
    return f'''<?xml version="1.0"?>
<sdf version="1.9">
  <world name="spikevim_gnss_denied">
    <physics name="1ms" type="ignored"><max_step_size>0.004</max_step_size>
      <real_time_factor>1.0</real_time_factor></physics>
    <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
    <plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>
    <plugin filename="gz-sim-scene-broadcaster-system"
            name="gz::sim::systems::SceneBroadcaster"/>
    <plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors">
      <render_engine>ogre2</render_engine></plugin>
    <plugin filename="gz-sim-navsat-system" name="gz::sim::systems::NavSat"/>
    <spherical_coordinates>
      <surface_model>EARTH_WGS84</surface_model>
      <world_frame_orientation>ENU</world_frame_orientation>
      <latitude_deg>{lat:.9f}</latitude_deg>
      <longitude_deg>{lon:.9f}</longitude_deg>
      <elevation>0</elevation>
      <heading_deg>0</heading_deg>
    </spherical_coordinates>
    <light type="directional" name="sun">
      <cast_shadows>false</cast_shadows><pose>0 0 500 0 0 0</pose>
      <diffuse>1 1 1 1</diffuse><direction>-0.3 0.2 -0.9</direction>
    </light>
    <model name="orthophoto_ground">
      <static>true</static>
      <link name="ground">
        <collision name="ground"><geometry><plane><normal>0 0 1</normal>
          <size>{width_m:.3f} {height_m:.3f}</size></plane></geometry></collision>
        <visual name="orthophoto">
          <geometry><plane><normal>0 0 1</normal>
            <size>{width_m:.3f} {height_m:.3f}</size></plane></geometry>
          <material>
            <diffuse>1 1 1 1</diffuse><specular>0 0 0 1</specular>
            <pbr><metal><albedo_map>ground.png</albedo_map><roughness>1</roughness>
              <metalness>0</metalness></metal></pbr>
          </material>
        </visual>
      </link>
    </model>
    <include>
      <uri>models/{DRONE_MODEL}</uri>
      <name>{DRONE_MODEL}</name>
      <pose>0 0 {config.start_altitude_m:.1f} 0 0 0</pose>
    </include>
  </world>
</sdf>
'''


def generate(map_source: str | Path, out_dir: str | Path,
             config: GazeboConfig = GazeboConfig()) -> dict[str, Path]:
    """Write the world, texture, drone model and bridge config; return their paths."""
    world = MapWorld.load(map_source)
    out = Path(out_dir)
    model_dir = out / 'models' / DRONE_MODEL
    model_dir.mkdir(parents=True, exist_ok=True)
    image, (e0, e1, n0, n1) = world.overview(max_side_px=config.max_texture_px)
    paths = {'texture': out / 'ground.png', 'world': out / 'world.sdf',
             'model': model_dir / 'model.sdf', 'model_config': model_dir / 'model.config',
             'bridge': out / 'bridge.yaml'}
    if not cv2.imwrite(str(paths['texture']), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f'cannot write {paths["texture"]}')
    # The plane is centred on the world origin; the texture's centre is the world origin, so
    # the spherical coordinates are those of the texture centre.
    centre = ((e0 + e1) / 2.0, (n0 + n1) / 2.0)
    paths['world'].write_text(world_sdf(world, e1 - e0, n1 - n0, centre, config))
    paths['model'].write_text(drone_sdf(config))
    paths['model_config'].write_text(
        f'<?xml version="1.0"?>\n<model>\n  <name>{DRONE_MODEL}</name>\n  <version>1.0</version>'
        '\n  <sdf version="1.9">model.sdf</sdf>\n  <description>Quad-sized body with a nadir '
        'camera and a NavSat sensor (spikevim_ros).</description>\n</model>\n')
    paths['bridge'].write_text(yaml.safe_dump(bridge_entries(), sort_keys=False))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command line: generate a Gazebo world from a map."""
    parser = argparse.ArgumentParser(
        prog='python -m spikevim_ros.sim.gazebo',
        description='Write a Gazebo Harmonic world (orthophoto ground at true scale, camera '
                    'drone, ros_gz_bridge YAML) for launch/sim_gnss_denied.launch.py.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('map', type=Path, help='GeoTIFF, corners table or folder')
    parser.add_argument('out', type=Path, help='output folder')
    parser.add_argument('--size', type=int, nargs=2, default=(640, 480), metavar=('W', 'H'))
    parser.add_argument('--hfov', type=float, default=60.0, help='camera field of view (deg)')
    parser.add_argument('--camera-rate', type=float, default=5.0)
    parser.add_argument('--altitude', type=float, default=150.0, help='start altitude (m)')
    args = parser.parse_args(argv)
    paths = generate(args.map, args.out, GazeboConfig(
        width=args.size[0], height=args.size[1], hfov_deg=args.hfov,
        camera_rate_hz=args.camera_rate, start_altitude_m=args.altitude))
    for name, path in paths.items():
        print(f'{name}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
