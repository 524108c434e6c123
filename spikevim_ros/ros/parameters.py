"""
The localizer node's parameters: one table that the node, the params file and the docs share.

ROS-free (the descriptor is built lazily), so the launch/params-file checks and the documentation
table come from the same source as the node's ``declare_parameter`` calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from spikevim_ros.aircraft import AircraftInputsConfig, CameraMount
from spikevim_ros.gnss import GnssMonitorConfig
from spikevim_ros.pipeline import PipelineConfig

Value = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: default, unit, range, and whether it may change at run time."""

    name: str
    default: Value
    description: str
    unit: str = ''
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False
    setup: bool = False   # read at configure/activate: may change only while unconfigured
    target: str = ''      # 'monitor.<field>' or 'pipeline.<field>' for live updates

    def problem(self, value: Value) -> str | None:
        """Return why ``value`` is refused, or None when it is acceptable."""
        if type(value) is not type(self.default):
            return (f'{self.name} must be a {type(self.default).__name__}, '
                    f'got {type(value).__name__} {value!r}')
        if isinstance(value, float) and not math.isfinite(value):
            return f'{self.name} must be finite, got {value}'
        if self.low is not None and not self.low <= value <= self.high:
            return f'{self.name}={value} is outside [{self.low:g}, {self.high:g}] {self.unit}'
        if self.choices and value not in self.choices:
            return f'{self.name}={value!r} is not one of {", ".join(self.choices)}'
        return None

    def descriptor(self):
        """Return the ``rcl_interfaces/ParameterDescriptor`` (ranges, read-only, text)."""
        from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                        ParameterType)

        kinds = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
                 float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
        text = self.description + (f' [{self.unit}]' if self.unit else '') + \
            (' (changes only while unconfigured)' if self.setup else '')
        constraints = f'one of: {", ".join(self.choices)}' if self.choices else ''
        descriptor = ParameterDescriptor(name=self.name, type=kinds[type(self.default)],
                                         description=text, read_only=self.read_only,
                                         additional_constraints=constraints)
        if isinstance(self.default, float) and self.low is not None:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(self.low), to_value=float(self.high), step=0.0)]
        elif isinstance(self.default, int) and not isinstance(self.default, bool) \
                and self.low is not None:
            descriptor.integer_range = [IntegerRange(from_value=int(self.low),
                                                     to_value=int(self.high), step=1)]
        return descriptor


PARAMETERS: tuple[ParamSpec, ...] = (
    # read at configure / activate
    ParamSpec('gallery_dir', '', 'Gallery directory built by "spikevim gallery build" '
              '(required)', setup=True),
    ParamSpec('weights', 'demo', 'Encoder weights: a .safetensors or .pth file, "demo" (the '
              'shipped demo model) or "none" (untrained). Must be the weights the gallery was '
              'built with', setup=True),
    ParamSpec('runtime', 'auto', 'Encoder runtime', choices=('auto', 'eager', 'fast', 'int8'),
              setup=True),
    ParamSpec('verify_gallery_checksums', True, 'Check the sha256 of every gallery file at '
              'configure', setup=True),
    ParamSpec('max_frame_rate', 5.0, 'Frames accepted per second of image stamps (newer frames '
              'replace older ones anyway); 0: no limit', 'Hz', 0.0, 100.0),
    ParamSpec('diagnostics_period', 1.0, 'Period of /diagnostics', 's', 0.1, 60.0,
              read_only=True),
    ParamSpec('frame_id', 'camera', 'frame_id of ~/fix when the image header has none'),
    ParamSpec('camera_hfov_deg', 0.0, 'Horizontal field of view used until camera_info '
              'arrives; below 1: unknown (the localizer searches the scale)', 'deg', 0.0, 170.0),
    ParamSpec('default_altitude_agl', 0.0, 'Height above ground used when no height input '
              '(rangefinder, altitude_agl, GNSS) is fresh; 0: unknown', 'm', 0.0, 10000.0),
    # aircraft inputs (applied live)
    ParamSpec('altitude_timeout', 2.0, 'Age after which a height message (rangefinder, '
              'altitude_agl, GNSS) is stale', 's', 0.05, 60.0),
    ParamSpec('height_from_gnss', False, 'While GNSS is healthy, use its altitude minus '
              'ground_altitude as height above ground (after rangefinder and altitude_agl)'),
    ParamSpec('attitude_timeout', 0.5, 'Age after which an imu orientation is stale', 's',
              0.01, 60.0),
    ParamSpec('camera_mount_roll', 0.0, 'Camera tilt to the image right from body nadir', 'deg',
              -90.0, 90.0),
    ParamSpec('camera_mount_pitch', 0.0, 'Camera tilt forward (towards the nose) from body '
              'nadir', 'deg', -90.0, 90.0),
    ParamSpec('camera_mount_yaw', 0.0, 'Image top turned clockwise (seen from above) from the '
              'nose', 'deg', -180.0, 180.0),
    ParamSpec('camera_gimbal_nadir', False, 'The camera sits on a gimbal that holds it level: '
              'only the body heading (and the mount) orient it'),
    ParamSpec('odometry_timeout', 1.0, 'Age after which an odom message is stale', 's', 0.01,
              60.0),
    ParamSpec('odometry_max_speed', 60.0, 'Faster odometry, or a position step beyond this '
              'speed (+5 m), is rejected', 'm/s', 1.0, 500.0),
    # GNSS monitor (applied live)
    ParamSpec('gnss_timeout', 1.0, 'LOST when no GNSS fix arrived for this long', 's', 0.05,
              60.0, target='monitor.timeout_s'),
    ParamSpec('gnss_max_horizontal_sigma', 10.0, 'LOST when a GNSS fix reports a larger '
              'horizontal 1-sigma (covariance known)', 'm', 0.1, 1000.0,
              target='monitor.max_horizontal_sigma_m'),
    ParamSpec('spoof_gate_chi2', 13.8, 'Squared Mahalanobis gate between GNSS and a confident '
              'vision fix (13.8: chi2 2 dof 99.9 %)', '', 1.0, 1000.0,
              target='monitor.spoof_gate_chi2'),
    ParamSpec('spoof_max_gap', 1.0, 'Compare GNSS and vision fixes only this close in stamp',
              's', 0.0, 10.0, target='monitor.spoof_max_gap_s'),
    ParamSpec('spoof_speed', 20.0, 'Motion allowance per second of stamp difference in the '
              'spoofing gate', 'm/s', 0.0, 200.0, target='monitor.spoof_speed_m_s'),
    ParamSpec('recover_good_fixes', 5, 'Consecutive good GNSS fixes needed to return to OK',
              '', 0, 1000, target='monitor.recover_good_fixes'),
    ParamSpec('recover_seconds', 2.0, '... spanning at least this long', 's', 0.0, 600.0,
              target='monitor.recover_seconds'),
    # search prior and vision fix altitude (applied live)
    ParamSpec('prior_radius', 100.0, 'Search radius around a fresh trusted position (plus 3 '
              'sigma of it)', 'm', 1.0, 100000.0, target='pipeline.prior_radius_m'),
    ParamSpec('prior_growth', 15.0, 'Search radius growth per second since that position',
              'm/s', 0.0, 500.0, target='pipeline.prior_growth_m_s'),
    ParamSpec('prior_odometry_drift', 0.05, 'With a valid odom input the search prior moves '
              'with the odometry; its radius grows by this fraction of the distance moved (plus '
              '0.5 m/s) instead of prior_growth', '', 0.0, 1.0, target='pipeline.odometry_drift'),
    ParamSpec('prior_max_radius', 3000.0, 'Beyond this radius the whole gallery is searched',
              'm', 1.0, 1.0e6, target='pipeline.prior_max_radius_m'),
    ParamSpec('confirm_above_radius', 500.0, 'A match found with no prior or a wider one is '
              'published only once a second frame agrees with it through the motion', 'm', 1.0,
              1.0e6, target='pipeline.confirm_above_radius_m'),
    ParamSpec('confirm_within', 10.0, '... arriving within this time', 's', 0.0, 600.0,
              target='pipeline.confirm_within_s'),
    ParamSpec('confirm_after_gap', 10.0, 'So is a match arriving this long after the newest '
              'trusted position (vision or GNSS): the first match after a lost track', 's', 0.0,
              3600.0, target='pipeline.confirm_after_gap_s'),
    ParamSpec('ground_altitude', 0.0, 'Ellipsoidal height of the ground; vision fix altitude '
              'before any GNSS altitude is known is this plus the height above ground', 'm',
              -500.0, 9000.0, target='pipeline.ground_altitude_m'),
    ParamSpec('vertical_sigma', 10.0, 'Altitude 1-sigma written into vision fixes', 'm', 0.1,
              1000.0, target='pipeline.vertical_sigma_m'),
    ParamSpec('tilt_sigma', 1.0, 'Camera tilt from nadir (1-sigma per axis) when no attitude is '
              'given: 1 for a gimbal, 3-5 for a body-fixed camera; adds height x tan(tilt) to '
              'the vision fix covariance', 'deg', 0.0, 45.0, target='pipeline.tilt_sigma_deg'),
    ParamSpec('attitude_sigma', 0.5, 'Error of a given camera attitude (1-sigma per axis)',
              'deg', 0.0, 45.0, target='pipeline.attitude_sigma_deg'),
    ParamSpec('learn_tilt_sigma', True, 'Learn the two sigmas above from the differences between '
              'verified vision fixes and healthy GNSS (starting from the set values)',
              target='pipeline.learn_tilt_sigma'),
    ParamSpec('visual_odometry', True, 'Without a valid odom input, measure the motion between '
              'frames with the camera and move the search prior with it',
              target='pipeline.visual_odometry'),
    ParamSpec('publish_dead_reckoning', False, 'A frame without a vision fix publishes the last '
              'verified fix moved by the odometry on ~/fix (and ~/fix_selected while GNSS is '
              'lost), its covariance grown with distance and time', target='pipeline.'
              'publish_dead_reckoning'),
    # autopilot adapters
    ParamSpec('geoid_separation', 0.0, 'Ellipsoid minus geoid height at the site (NMEA and '
              'GPS_INPUT altitudes are above mean sea level)', 'm', -120.0, 120.0),
    ParamSpec('nmea_device', '', 'Serial port or file that receives GGA+GST of ~/fix_selected; '
              'empty: off', setup=True),
    ParamSpec('nmea_baud', 115200, 'Baud rate of nmea_device (needs pyserial)', 'baud', 1200,
              4000000, setup=True),
    ParamSpec('mavros_gps_input', False, 'Publish ~/fix_selected as mavros_msgs/GPSINPUT on '
              'mavros/gps_input/gps_input (ArduPilot GPS1_TYPE=14); needs mavros_msgs',
              setup=True),
)

SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}


def _configs(values: dict[str, Value], prefix: str) -> dict[str, Value]:
    return {spec.target.split('.', 1)[1]: values[spec.name] for spec in PARAMETERS
            if spec.target.startswith(prefix + '.')}


def monitor_config(values: dict[str, Value]) -> GnssMonitorConfig:
    """Return the GNSS monitor configuration for parameter ``values``."""
    return GnssMonitorConfig(**_configs(values, 'monitor'))


def pipeline_config(values: dict[str, Value]) -> PipelineConfig:
    """Return the pipeline configuration for parameter ``values``."""
    return PipelineConfig(**_configs(values, 'pipeline'))


def inputs_config(values: dict[str, Value]) -> AircraftInputsConfig:
    """Return the aircraft inputs configuration for parameter ``values``."""
    mount = CameraMount(values['camera_mount_roll'], values['camera_mount_pitch'],
                        values['camera_mount_yaw'], values['camera_gimbal_nadir'])
    return AircraftInputsConfig(
        attitude_timeout_s=values['attitude_timeout'], height_timeout_s=values['altitude_timeout'],
        odometry_timeout_s=values['odometry_timeout'], mount=mount,
        height_from_gnss=values['height_from_gnss'], ground_altitude_m=values['ground_altitude'],
        odometry_max_speed_m_s=values['odometry_max_speed'])


def defaults() -> dict[str, Value]:
    """Return every parameter's default value."""
    return {spec.name: spec.default for spec in PARAMETERS}


def load_params_file(path, node_name: str = 'localizer') -> dict[str, Value]:
    """
    Return every parameter's value from a ROS 2 params file, defaults for the ones it omits.

    Reads the sections ``/**``, ``<node_name>`` and ``/<node_name>`` (in that order, later ones
    win), as ``ros2 run ... --params-file`` does for a node named ``node_name``; refuses unknown
    names and values the node would refuse, naming them.
    """
    import yaml

    document = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
    values = defaults()
    found = False
    for section in ('/**', node_name, f'/{node_name}'):
        entries = (document.get(section) or {}).get('ros__parameters') if isinstance(
            document.get(section), dict) else None
        if entries is None:
            continue
        found = True
        for name, value in entries.items():
            if name == 'use_sim_time':
                continue
            spec = SPECS.get(name)
            if spec is None:
                raise ValueError(f'{path}: unknown parameter {name!r}')
            problem = spec.problem(value)
            if problem is not None:
                raise ValueError(f'{path}: {problem}')
            values[name] = value
    if not found:
        raise ValueError(f'{path}: no "/**" or "{node_name}" section with ros__parameters')
    return values


def markdown_table() -> str:
    """Return the parameters as a Markdown table (docs/node.md holds it; a test compares)."""
    lines = ['| parameter | default | unit | range | changes | description |',
             '|---|---|---|---|---|---|']
    for spec in PARAMETERS:
        if spec.choices:
            allowed = ' / '.join(spec.choices)
        elif spec.low is not None:
            allowed = f'{spec.low:g} .. {spec.high:g}'
        else:
            allowed = ''
        changes = 'read-only' if spec.read_only else 'unconfigured' if spec.setup else 'live'
        lines.append(f'| `{spec.name}` | `{spec.default!r}` | {spec.unit} | {allowed} | '
                     f'{changes} | {spec.description} |')
    return '\n'.join(lines)
