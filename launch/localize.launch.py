"""
Start the spikevim_ros localizer as a lifecycle node, optionally configured and activated.

    ros2 launch spikevim_ros localize.launch.py gallery_dir:=/data/gallery \
        image_topic:=/camera/image_raw gnss_topic:=/mavros/global_position/raw/fix

Feed ``/localizer/fix_selected`` to robot_localization's navsat_transform_node (or an autopilot
adapter); see docs/node.md.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

ARGUMENTS = (
    ('use_sim_time', 'false', 'Use /clock (simulation or bag replay) instead of the wall clock'),
    ('params_file', PathJoinSubstitution([FindPackageShare('spikevim_ros'), 'config',
                                          'localize.yaml']),
     'YAML file with the node parameters'),
    ('namespace', '', 'Namespace of the node'),
    ('image_topic', 'image', 'Camera images (sensor_msgs/Image; <topic>/compressed also works)'),
    ('camera_info_topic', 'camera_info', 'Camera intrinsics (sensor_msgs/CameraInfo, optional)'),
    ('gnss_topic', 'gnss/fix', 'Primary GNSS (sensor_msgs/NavSatFix)'),
    ('imu_topic', 'imu/data', 'Body orientation, ENU/FLU (sensor_msgs/Imu, optional)'),
    ('rangefinder_topic', 'rangefinder', 'Downward rangefinder (sensor_msgs/Range, optional)'),
    ('altitude_topic', 'altitude_agl', 'Height above ground/home (std_msgs/Float64, optional)'),
    ('odom_topic', 'odom', 'Odometry (nav_msgs/Odometry, optional)'),
    ('gallery_dir', '', 'Gallery directory (overrides params_file when not empty)'),
    ('weights', '', 'Encoder weights (overrides params_file when not empty)'),
    ('autostart', 'true', 'Configure and activate the lifecycle node at start'),
    ('log_level', 'info', 'Logging level (debug, info, warn, error)'),
)


def _is_true(text: str) -> bool:
    return text.strip().lower() in ('true', '1', 'yes', 'on')


def _launch_setup(context):
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    overrides = {'use_sim_time': _is_true(value('use_sim_time'))}
    for name in ('gallery_dir', 'weights'):
        if value(name):
            overrides[name] = value(name)
    image_topic = value('image_topic')
    node = LifecycleNode(
        package='spikevim_ros', executable='localizer_node', name='localizer',
        namespace=value('namespace'), output='screen',
        parameters=[value('params_file'), overrides],
        remappings=[('image', image_topic), ('image/compressed', f'{image_topic}/compressed'),
                    ('camera_info', value('camera_info_topic')),
                    ('gnss/fix', value('gnss_topic')), ('imu/data', value('imu_topic')),
                    ('rangefinder', value('rangefinder_topic')),
                    ('altitude_agl', value('altitude_topic')), ('odom', value('odom_topic'))],
        arguments=['--ros-args', '--log-level', value('log_level')])
    actions = [node]
    if _is_true(value('autostart')):
        activate = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                               transition_id=Transition.TRANSITION_ACTIVATE))
        actions += [
            RegisterEventHandler(OnStateTransition(target_lifecycle_node=node,
                                                   start_state='configuring',
                                                   goal_state='inactive', entities=[activate])),
            EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                        transition_id=Transition.TRANSITION_CONFIGURE)),
        ]
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and start the node."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=_launch_setup)])
