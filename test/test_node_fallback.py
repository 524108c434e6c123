"""
localizer_node over real DDS: GNSS fallback, outputs, bad frames, parameters, lifecycle.

The node runs in its own process; this process publishes rendered map views and GNSS fixes and
listens to the outputs. One node process per scenario group keeps the suite short.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from fallback_world import build_small_gallery, crop_raster, view  # noqa: E402
from spikevim_ros.adapters.nmea import parse_gga_position  # noqa: E402
from spikevim_ros.fix import STATUS_NO_FIX  # noqa: E402
from spikevim_ros.geo import horizontal_distance_m  # noqa: E402
from spikevim_ros.ros.parameters import PARAMETERS  # noqa: E402
from spikevim_ros.ros.time import stamp_to_seconds  # noqa: E402

from ros_feeder import Feeder, diagnostic, latest_health  # noqa: E402
from sim_scenarios import gnss_fix  # noqa: E402

GNSS_ALT = 312.5
RECOVER_S = 1.0


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    from spikevim_ros.encoder import build_encoder

    root = tmp_path_factory.mktemp('node_world')
    build_small_gallery(root, build_encoder('T', 'demo'))
    return root / 'gallery', crop_raster(root)


@pytest.fixture
def feeder(rclpy_context):
    feeder = Feeder(rclpy_context)
    yield feeder
    feeder.close()


def start_node(ros_process, *params: str):
    args = ['--ros-args']
    for param in params:
        args += ['-p', param]
    return ros_process('spikevim_ros.ros.localizer_node', *args)


def stamps(messages) -> list[float]:
    return [round(stamp_to_seconds(m.header.stamp), 6) for m in messages]


def wait_output(feeder: Feeder, topic: str, stamp: float, proc, timeout: float = 120.0):
    """Return the message on ``topic`` stamped ``stamp`` (fails if none arrives)."""
    def found():
        return [m for m in feeder.received[topic]
                if abs(stamp_to_seconds(m.header.stamp) - stamp) < 1e-6]
    assert feeder.spin_until(lambda: found() or proc.poll() is not None, timeout), \
        f'no {topic} for the frame stamped {stamp:.3f}; {explain(feeder)}'
    assert proc.poll() is None, proc.stdout.read()
    return found()[0]


def explain(feeder: Feeder) -> str:
    inference = diagnostic(feeder, 'inference')
    return (f'~/fix stamps {stamps(feeder.received["fix"])}; inference: '
            f'{inference and inference.values}; gnss: {feeder.received["gnss_state"][-1].message}')


def assert_vision_fix(msg, lat: float, lon: float) -> None:
    assert msg.header.frame_id == 'cam_down'
    assert msg.status.status == 0 and msg.status.service == 0
    assert horizontal_distance_m(lat, lon, msg.latitude, msg.longitude) < 10.0
    assert not math.isnan(msg.altitude)
    assert msg.position_covariance_type == msg.COVARIANCE_TYPE_APPROXIMATED
    cov = np.array(msg.position_covariance).reshape(3, 3)
    assert np.all(np.isfinite(cov)) and cov[0, 0] > 0 and cov[1, 1] > 0
    assert cov[2, 2] == pytest.approx(10.0 ** 2)


def test_fallback_outputs_bad_frames_parameters_and_lifecycle(
        world, feeder, ros_process, tmp_path):
    gallery_dir, raster = world
    nmea = tmp_path / 'nmea.txt'
    proc = start_node(ros_process, f'gallery_dir:={gallery_dir}', 'recover_good_fixes:=3',
                      f'recover_seconds:={RECOVER_S}', 'gnss_timeout:=0.5',
                      'max_frame_rate:=0.0', 'camera_hfov_deg:=60.0',
                      'default_altitude_agl:=80.0', 'diagnostics_period:=0.3',
                      f'nmea_device:={nmea}')
    assert feeder.transition('configure'), proc.stdout.read() if proc.poll() else 'configure'
    assert feeder.transition('activate')
    assert feeder.state() == 'active'
    names = feeder.parameter_names()
    ours = {spec.name for spec in PARAMETERS}
    assert ours <= names
    rclpy_builtin = {'use_sim_time', 'start_type_description_service',  # Jazzy
                     'diagnostic_updater.period'}                        # when it imports
    assert {n for n in names - ours if not n.startswith('qos_overrides.')} <= rclpy_builtin
    assert any(n.startswith('qos_overrides./localizer/fix.publisher.') for n in names)

    image, lat, lon = view(raster, 15.0, -10.0)
    good = {'mode': 'good'}

    def gnss_source(stamp):
        mode = good['mode']
        if mode == 'silence':
            return None
        if mode == 'no_fix':
            return gnss_fix(stamp, lat, lon, GNSS_ALT, status=STATUS_NO_FIX)
        if mode == 'nan':
            return gnss_fix(stamp, math.nan, lon, GNSS_ALT)
        if mode == 'degraded':
            return gnss_fix(stamp, lat, lon, GNSS_ALT, sigma=30.0)
        if mode == 'spoofed':
            return gnss_fix(stamp, lat, lon + 0.005, GNSS_ALT)
        return gnss_fix(stamp, lat, lon, GNSS_ALT)

    feeder.gnss_source = gnss_source
    selected = feeder.received['fix_selected']
    assert feeder.spin_until(lambda: (selected and latest_health(feeder) == 'OK')
                             or proc.poll() is not None, 20.0), 'GNSS never became OK'
    assert proc.poll() is None, proc.stdout.read()
    assert all(m.header.frame_id == 'gnss' for m in selected)

    # ~/fix for a frame while GNSS is OK; ~/fix_selected stays on GNSS
    stamp = feeder.publish_frame(image, 'rgb8')
    fix = wait_output(feeder, 'fix', stamp, proc)
    assert_vision_fix(fix, lat, lon)
    assert fix.altitude == GNSS_ALT
    assert all(m.header.frame_id == 'gnss' for m in selected)
    # the inference diagnostics break the fix's covariance into its terms
    terms = ('sigma_alignment_m', 'sigma_tilt_m', 'sigma_map_m')
    assert feeder.spin_until(lambda: set(terms) <= {v.key for v in (
        diagnostic(feeder, 'inference') or DiagnosticStatus()).values}, 20.0)
    values = {v.key: float(v.value) for v in diagnostic(feeder, 'inference').values
              if v.key in terms}
    assert values['sigma_alignment_m'] > 0.0 and values['sigma_map_m'] == 1.0, values

    # corrupt and wrongly encoded frames: warning in /diagnostics, node keeps running
    feeder.publish_raw(b'\x00' * 100, 'rgb8', 320, 240, 960, feeder.now())
    assert feeder.spin_until(lambda: (diagnostic(feeder, 'input') or DiagnosticStatus()).level
                             == DiagnosticStatus.WARN, 20.0)
    assert 'image data has 100 bytes' in diagnostic(feeder, 'input').message
    feeder.publish_raw(image.tobytes(), 'h264', 320, 240, 960, feeder.now())
    assert feeder.spin_until(lambda: 'h264' in diagnostic(feeder, 'input').message, 20.0)
    assert proc.poll() is None

    failures = [('no_fix', 'bgr8', 'no fix'), ('nan', 'rgba8', 'non-finite'),
                ('silence', 'jpeg', 'no GNSS fix for'), ('degraded', 'rgb8', 'sigma'),
                ('spoofed', 'bgr8', 'spoofing')]
    for mode, encoding, words in failures:
        good['mode'] = mode
        if mode != 'spoofed':   # a spoofed jump is only visible against a vision fix
            assert feeder.spin_until(lambda: latest_health(feeder) == 'LOST', 10.0), mode
        feeder.spin_for(0.3)
        before = len(selected)
        stamp = feeder.publish_frame(image, encoding, pad=8 if encoding == 'bgr8' else 0)
        vision = wait_output(feeder, 'fix_selected', stamp, proc)
        assert_vision_fix(vision, lat, lon)
        if mode == 'spoofed':   # spoofed fixes pass until the frame exposes them, never after
            before = next(i for i, m in enumerate(selected) if m is vision)
            feeder.spin_for(1.0)
        assert all(m.header.frame_id == 'cam_down' for m in selected[before:]), mode
        assert latest_health(feeder) == 'LOST'
        assert words in feeder.received['gnss_state'][-1].message, mode
        if mode == 'spoofed':
            break
        # back to good: GNSS is selected again only after the hysteresis
        good['mode'] = 'good'
        first_good = len(feeder.gnss_sent)

        def gnss_back():
            return [m for m in selected[before:] if m.header.frame_id == 'gnss']
        assert feeder.spin_until(lambda: latest_health(feeder) == 'OK' and gnss_back(), 10.0), \
            mode
        back = gnss_back()
        first_good_stamp = feeder.gnss_sent[first_good].stamp
        assert stamps(back)[0] >= first_good_stamp + RECOVER_S - 0.15, mode

    gga = [line for line in nmea.read_bytes().decode('ascii').split('\r\n') if 'GGA' in line]
    assert len(gga) >= len(selected)
    assert parse_gga_position(gga[-1])[0] == pytest.approx(lat, abs=1e-4)

    # parameters: ranges and types refused with a reason; setup ones locked while configured
    result = feeder.set_parameter('gnss_timeout', -1.0)
    assert not result.successful and 'gnss_timeout' in result.reason
    result = feeder.set_parameter('recover_good_fixes', 2.5)
    assert not result.successful
    result = feeder.set_parameter('gallery_dir', '/elsewhere')
    assert not result.successful and 'unconfigured' in result.reason
    assert feeder.set_parameter('spoof_gate_chi2', 20.0).successful

    # lifecycle: inactive nodes publish nothing; cleanup and shutdown work
    assert feeder.transition('deactivate') and feeder.state() == 'inactive'
    count = len(feeder.received['fix'])
    feeder.publish_frame(image)
    feeder.spin_for(1.5)
    assert len(feeder.received['fix']) == count
    assert feeder.transition('cleanup') and feeder.state() == 'unconfigured'
    assert feeder.set_parameter('gallery_dir', str(gallery_dir)).successful
    assert feeder.transition('shutdown') and feeder.state() == 'finalized'
    assert proc.poll() is None


def test_failed_configure_then_sim_time_staleness(world, feeder, ros_process):
    gallery_dir, raster = world
    refused = ros_process('spikevim_ros.ros.localizer_node', '--ros-args', '-r',
                          '__node:=refused', '-p', 'gnss_timeout:=-1.0')
    proc = start_node(ros_process, 'use_sim_time:=true', 'gallery_dir:=/no/such/gallery',
                      'gnss_timeout:=1.0', 'recover_good_fixes:=1', 'recover_seconds:=0.0',
                      'diagnostics_period:=0.2')
    feeder.sim_time = 1000.0
    assert not feeder.transition('configure')
    assert feeder.state() == 'unconfigured'

    def configure_error():
        status = diagnostic(feeder, 'inference')
        return status is not None and status.level == DiagnosticStatus.ERROR
    assert feeder.advance_until(configure_error, 20.0)    # timers follow simulated time
    assert 'does not exist' in diagnostic(feeder, 'inference').message
    assert feeder.set_parameter('gallery_dir', str(gallery_dir)).successful
    assert feeder.transition('configure') and feeder.transition('activate')

    _, lat, lon = view(raster, 0.0, 0.0)
    feeder.gnss_source = lambda stamp: gnss_fix(stamp, lat, lon)
    assert feeder.advance_until(lambda: latest_health(feeder) == 'OK', 10.0)
    feeder.gnss_source = None          # GNSS silent, simulated time frozen: still fresh
    feeder.spin_for(2.5)
    assert latest_health(feeder) == 'OK'
    silent_since = feeder.sim_time
    assert feeder.advance_until(lambda: latest_health(feeder) == 'LOST', 3.0)
    assert feeder.sim_time - silent_since >= 1.0       # the 1 s timeout, in simulated time
    state = feeder.received['gnss_state'][-1]
    assert 'no GNSS fix for' in state.message
    since = float(next(v.value for v in state.values if v.key == 'since'))
    assert silent_since < since <= feeder.sim_time + 1e-6
    assert proc.poll() is None
    assert refused.wait(timeout=60) == 2
    assert 'gnss_timeout' in refused.stdout.read()
