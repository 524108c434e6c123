"""
GNSS-denied flight in Gazebo Harmonic: the orthophoto world, the bridge, and the localizer.

Generate the world first (plain files, no Gazebo needed)::

    python -m spikevim_ros.sim.gazebo MAP /tmp/gz_world
    ros2 launch spikevim_ros sim_gnss_denied.launch.py world_dir:=/tmp/gz_world \
        gallery_dir:=/data/gallery

Fly the drone by publishing geometry_msgs/Twist on /model/camera_drone/cmd_vel; cut the GNSS by
stopping the bridge's /gnss/fix entry or by remapping gnss_topic to a silent topic. Needs
ros_gz_sim and ros_gz_bridge (not exercised in this repository's CI).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

IMAGE_TOPIC = '/camera/image_raw'
CAMERA_INFO_TOPIC = '/camera/camera_info'
GNSS_TOPIC = '/gnss/fix'


def generate_launch_description() -> LaunchDescription:
    """Start Gazebo with the generated world, the ros_gz bridge and the localizer node."""
    world_dir = LaunchConfiguration('world_dir')
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution(
            [FindPackageShare('ros_gz_sim'), 'launch', 'gz_sim.launch.py'])),
        launch_arguments={'gz_args': ['-r ', PathJoinSubstitution([world_dir, 'world.sdf'])]
                          }.items())
    bridge = Node(package='ros_gz_bridge', executable='parameter_bridge', output='screen',
                  parameters=[{'config_file': PathJoinSubstitution([world_dir, 'bridge.yaml']),
                               'use_sim_time': True}])
    localizer = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution(
            [FindPackageShare('spikevim_ros'), 'launch', 'localize.launch.py'])),
        launch_arguments={'use_sim_time': 'true', 'image_topic': IMAGE_TOPIC,
                          'camera_info_topic': CAMERA_INFO_TOPIC, 'gnss_topic': GNSS_TOPIC,
                          'gallery_dir': LaunchConfiguration('gallery_dir'),
                          'weights': LaunchConfiguration('weights')}.items())
    return LaunchDescription([
        DeclareLaunchArgument('world_dir', description='folder written by '
                              '"python -m spikevim_ros.sim.gazebo MAP DIR"'),
        DeclareLaunchArgument('gallery_dir', description='gallery built from the same map'),
        DeclareLaunchArgument('weights', default_value='', description='encoder weights'),
        gazebo, bridge, localizer,
    ])
