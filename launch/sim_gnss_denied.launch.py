"""
GNSS-denied flight: Gazebo Harmonic (or a recorded/simulated bag) feeding the localizer.

With Gazebo, generate the world first (plain files, no Gazebo needed)::

    python -m spikevim_ros.sim.gazebo MAP /tmp/gz_world
    ros2 launch spikevim_ros sim_gnss_denied.launch.py world_dir:=/tmp/gz_world \
        gallery_dir:=/data/gallery

Fly the drone by publishing geometry_msgs/Twist on /model/camera_drone/cmd_vel; cut the GNSS by
stopping the bridge's /gnss/fix entry or by remapping gnss_topic to a silent topic. Needs
ros_gz_sim and ros_gz_bridge. Without Gazebo, play a bag written by ``spikevim simulate``
(camera, GNSS, autopilot topics, /clock) into the same localizer::

    ros2 launch spikevim_ros sim_gnss_denied.launch.py bag:=/data/flight_bag \
        gallery_dir:=/data/gallery
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare

IMAGE_TOPIC = '/camera/image_raw'
CAMERA_INFO_TOPIC = '/camera/camera_info'
GNSS_TOPIC = '/gnss/fix'
AUTOPILOT_TOPICS = {'imu_topic': '/mavros/imu/data',
                    'rangefinder_topic': '/mavros/rangefinder/rangefinder',
                    'altitude_topic': '/mavros/global_position/rel_alt',
                    'odom_topic': '/mavros/local_position/odom'}


def generate_launch_description() -> LaunchDescription:
    """Start Gazebo and the bridge (or play a bag), and the localizer node."""
    world_dir = LaunchConfiguration('world_dir')
    bag = LaunchConfiguration('bag')
    from_bag = IfCondition(PythonExpression(["'", bag, "' != ''"]))
    from_gazebo = UnlessCondition(PythonExpression(["'", bag, "' != ''"]))
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution(
            [FindPackageShare('ros_gz_sim'), 'launch', 'gz_sim.launch.py'])),
        launch_arguments={'gz_args': ['-r ', PathJoinSubstitution([world_dir, 'world.sdf'])]
                          }.items(), condition=from_gazebo)
    bridge = Node(package='ros_gz_bridge', executable='parameter_bridge', output='screen',
                  parameters=[{'config_file': PathJoinSubstitution([world_dir, 'bridge.yaml']),
                               'use_sim_time': True}], condition=from_gazebo)
    player = ExecuteProcess(   # not a Node action: "spikevim play" takes no --ros-args
        cmd=[PathJoinSubstitution([FindPackagePrefix('spikevim_ros'), 'lib', 'spikevim_ros',
                                   'spikevim']),
             'play', bag, '--no-progress', '--wait-for', IMAGE_TOPIC],
        name='bag_player', output='screen', condition=from_bag)
    localizer = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution(
            [FindPackageShare('spikevim_ros'), 'launch', 'localize.launch.py'])),
        launch_arguments={'use_sim_time': 'true', 'image_topic': IMAGE_TOPIC,
                          'camera_info_topic': CAMERA_INFO_TOPIC, 'gnss_topic': GNSS_TOPIC,
                          **AUTOPILOT_TOPICS,
                          'gallery_dir': LaunchConfiguration('gallery_dir'),
                          'weights': LaunchConfiguration('weights')}.items())
    return LaunchDescription([
        DeclareLaunchArgument('world_dir', default_value='',
                              description='folder written by '
                              '"python -m spikevim_ros.sim.gazebo MAP DIR" (Gazebo source)'),
        DeclareLaunchArgument('bag', default_value='',
                              description='play this bag instead of running Gazebo'),
        DeclareLaunchArgument('gallery_dir', description='gallery built from the same map'),
        DeclareLaunchArgument('weights', default_value='', description='encoder weights'),
        gazebo, bridge, player, localizer,
    ])
