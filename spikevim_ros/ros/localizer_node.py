"""
The ``localizer_node`` lifecycle node: frames + primary GNSS -> ``~/fix``, ``~/fix_selected``.

Thin wiring around :class:`spikevim_ros.pipeline.FallbackPipeline`:

* configure: load the gallery and the encoder (the transition fails with a logged reason when they
  are missing or do not match); activate: create subscriptions, publishers and the inference
  trigger; deactivate / cleanup / shutdown free them.
* Only the newest frame is kept. Image callbacks store it and trigger a guard condition whose
  callback (its own callback group) runs inference, so subscriptions never block and stale frames
  are dropped, not queued. A multi-threaded executor runs both.
* Time comes from message stamps and the node clock, so ``use_sim_time`` works.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy,
                       qos_profile_sensor_data)
from rclpy.qos_overriding_options import QoSOverridingOptions
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, NavSatFix, Range
from std_msgs.msg import Float64

from spikevim_ros.aircraft import AircraftInputs
from spikevim_ros.aircraft.messages import feed_input, header_stamp
from spikevim_ros.fix import fix_from_navsat
from spikevim_ros.gnss import GnssMonitor, GnssStatus
from spikevim_ros.gnss.state_message import gnss_state_fields
from spikevim_ros.camera_messages import (ImageConversionError, camera_for_image,
                                          camera_from_info, compressed_to_rgb)
from spikevim_ros.localization.types import STAGES
from spikevim_ros.pipeline import FallbackPipeline, FrameOutput
from spikevim_ros.ros import parameters
from spikevim_ros.ros.diagnostics import ERROR, OK, WARN, Report, start_diagnostics
from spikevim_ros.ros.image_conversion import select_image_converter
from spikevim_ros.ros.navsat import fix_to_msg
from spikevim_ros.ros.time import stamp_to_seconds

NODE_NAME = 'localizer'
OUTPUT_QOS = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
STATE_QOS = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                       durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
GNSS_CHECK_PERIOD_S = 0.1
RATE_WINDOW_S = 5.0
ERROR_HOLD_S = 5.0
FAILURE, SUCCESS = TransitionCallbackReturn.FAILURE, TransitionCallbackReturn.SUCCESS


class NewestFrame:
    """A one-frame mailbox: putting a frame replaces (and counts) an unprocessed one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item = None
        self.replaced = 0

    def put(self, item) -> None:
        """Store ``item``, dropping the previous one if inference has not taken it."""
        with self._lock:
            if self._item is not None:
                self.replaced += 1
            self._item = item

    def take(self):
        """Return and remove the stored item (None if empty)."""
        with self._lock:
            item, self._item = self._item, None
            return item


class FrameStats:
    """Counters and the latest results shown in /diagnostics."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: deque[float] = deque()
        self.received = self.rate_limited = self.processed = self.fixes = 0
        self.conversion_errors = self.failures = 0
        self.last_error = ''
        self.last_error_time = -math.inf
        self.latencies_ms: deque[float] = deque(maxlen=50)
        self.inference_ms = math.nan
        self.last: FrameOutput | None = None

    def arrival(self, now: float) -> None:
        """Count one received frame."""
        with self.lock:
            self.received += 1
            self.arrivals.append(now)
            while self.arrivals and self.arrivals[0] < now - RATE_WINDOW_S:
                self.arrivals.popleft()

    def error(self, text: str, now: float, conversion: bool) -> None:
        """Record a frame that could not be used."""
        with self.lock:
            self.conversion_errors += conversion
            self.failures += not conversion
            self.last_error, self.last_error_time = text, now

    def rate(self, now: float) -> float:
        """Return the input rate over the last window (Hz)."""
        with self.lock:
            recent = [t for t in self.arrivals if t >= now - RATE_WINDOW_S]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)


class LocalizerNode(LifecycleNode):
    """Visual GNSS fallback: see the module docstring and docs/node.md."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for spec in parameters.PARAMETERS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._convert, self._converter_name = select_image_converter()
        self._io_group = MutuallyExclusiveCallbackGroup()
        self._inference_group = MutuallyExclusiveCallbackGroup()
        self._publish_lock = threading.RLock()
        self._frames = NewestFrame()
        self._stats = FrameStats()
        self._pipeline: FallbackPipeline | None = None
        self._gallery = self._encoder = None
        self._configure_error = ''
        self._io_entities: list = []
        self._outputs: dict[str, object] = {}
        self._adapters: dict[str, object] = {}
        self._trigger = None
        self._camera = None
        self._inputs = AircraftInputs(parameters.inputs_config(self._values()))
        self._last_accepted_stamp: float | None = None
        self._published_health = None
        self._active = False
        _, self._diagnostics_backend = start_diagnostics(
            self, self._param('diagnostics_period'), hardware_id='spikevim_ros',
            sections={'input': self._report_input, 'inference': self._report_inference,
                      'gnss': self._report_gnss, 'aircraft': self._report_aircraft},
            callback_group=self._io_group)

    # ------------------------------------------------------------ parameters

    def _param(self, name: str):
        return self.get_parameter(name).value

    def _values(self) -> dict:
        return {spec.name: self._param(spec.name) for spec in parameters.PARAMETERS}

    def _on_set_parameters(self, changes) -> SetParametersResult:
        values = self._values()
        for change in changes:
            spec = parameters.SPECS.get(change.name)
            if spec is None:
                continue
            problem = spec.problem(change.value)
            if problem is None and spec.setup and self._pipeline is not None \
                    and change.value != values[change.name]:
                problem = (f'{change.name} is read at configure/activate: change it while the '
                           'node is unconfigured (after cleanup)')
            if problem is not None:
                return SetParametersResult(successful=False, reason=problem)
            values[change.name] = change.value
        try:
            monitor_config = parameters.monitor_config(values)
            pipeline_config = parameters.pipeline_config(values)
            inputs_config = parameters.inputs_config(values)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        self._inputs.configure(inputs_config)
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.monitor.config = monitor_config
            pipeline.config = pipeline_config
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the gallery and the matching encoder; fail with a logged reason otherwise."""
        try:
            self._pipeline = self._build_pipeline()
        except Exception as error:  # any load problem fails the transition, never the node
            self._configure_error = f'{type(error).__name__}: {error}'
            self.get_logger().error(f'configure failed: {self._configure_error}')
            return FAILURE
        self._configure_error = ''
        self.get_logger().info(
            f'configured: gallery {self._gallery.directory} ({len(self._gallery)} tiles), encoder '
            f'{self._encoder.variant}/{self._encoder.weights_id} ({self._encoder.runtime}), '
            f'image converter: {self._converter_name}, diagnostics: {self._diagnostics_backend}')
        return SUCCESS

    def _build_pipeline(self) -> FallbackPipeline:
        from spikevim_ros.encoder import build_encoder
        from spikevim_ros.gallery import Gallery
        from spikevim_ros.gallery.store import check_encoder
        from spikevim_ros.localization import Localizer, LocalizerConfig

        values = self._values()
        if not values['gallery_dir']:
            raise ValueError('parameter gallery_dir is empty: set it to a gallery built with '
                             '"spikevim gallery build"')
        gallery = Gallery.load(values['gallery_dir'],
                               verify_checksums=values['verify_gallery_checksums'])
        encoder = build_encoder(gallery.manifest['encoder']['variant'],
                                weights=values['weights'], runtime=values['runtime'])
        check_encoder(gallery.manifest, encoder, gallery.directory)
        self._gallery, self._encoder = gallery, encoder
        localizer = Localizer(gallery, encoder, LocalizerConfig())
        return FallbackPipeline(localizer, GnssMonitor(parameters.monitor_config(values)),
                                parameters.pipeline_config(values))

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create publishers, subscriptions, the inference trigger and the GNSS check timer."""
        overrides = QoSOverridingOptions.with_default_policies()
        pubs = {
            'fix': self.create_publisher(NavSatFix, '~/fix', OUTPUT_QOS,
                                         qos_overriding_options=overrides),
            'fix_selected': self.create_publisher(NavSatFix, '~/fix_selected', OUTPUT_QOS,
                                                  qos_overriding_options=overrides),
            'gnss_state': self.create_publisher(DiagnosticStatus, '~/gnss_state', STATE_QOS,
                                                qos_overriding_options=overrides),
        }
        self._adapters = self._create_adapters()
        sensor, group = qos_profile_sensor_data, self._io_group
        self._io_entities = [
            self.create_subscription(Image, 'image', self._on_image, image_qos(),
                                     callback_group=group, qos_overriding_options=overrides),
            self.create_subscription(CompressedImage, 'image/compressed', self._on_image,
                                     image_qos(), callback_group=group,
                                     qos_overriding_options=overrides),
            self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info, sensor,
                                     callback_group=group),
            self.create_subscription(NavSatFix, 'gnss/fix', self._on_gnss, sensor,
                                     callback_group=group),
            *(self.create_subscription(kind, topic, self._input_callback(topic), sensor,
                                       callback_group=group)
              for topic, kind in (('imu/data', Imu), ('rangefinder', Range),
                                  ('altitude_agl', Float64), ('odom', Odometry))),
            self.create_timer(GNSS_CHECK_PERIOD_S, self._check_gnss, callback_group=group),
        ]
        self._trigger = self.create_guard_condition(self._run_inference,
                                                    callback_group=self._inference_group)
        with self._publish_lock:
            self._outputs = pubs
            self._published_health = None
            self._active = True
        self._publish_state(self._pipeline.tick(self._now()))
        self.get_logger().info('active')
        return super().on_activate(state)

    def _create_adapters(self) -> dict[str, object]:
        adapters: dict[str, object] = {}
        device = self._param('nmea_device')
        if device:
            from spikevim_ros.adapters.nmea import NmeaSink
            try:
                adapters['nmea'] = NmeaSink(device, self._param('nmea_baud'))
            except OSError as error:
                self.get_logger().error(f'NMEA output disabled: cannot open {device}: {error}')
        if self._param('mavros_gps_input'):
            try:
                from mavros_msgs.msg import GPSINPUT
            except ImportError:
                self.get_logger().error('mavros_gps_input is true but mavros_msgs does not '
                                        'import; GPS_INPUT output disabled')
            else:
                adapters['gps_input'] = self.create_publisher(
                    GPSINPUT, 'mavros/gps_input/gps_input', OUTPUT_QOS)
        return adapters

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy subscriptions, publishers and adapters; keep the loaded gallery."""
        self._teardown_io()
        self.get_logger().info('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the gallery, the encoder and the pipeline."""
        self._teardown_io()
        self._pipeline = self._gallery = self._encoder = None
        self.get_logger().info('cleaned up')
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free everything."""
        return self.on_cleanup(state)

    def _teardown_io(self) -> None:
        with self._publish_lock:
            self._active = False
            for entity in self._io_entities:
                if hasattr(entity, 'timer_period_ns'):
                    self.destroy_timer(entity)
                else:
                    self.destroy_subscription(entity)
            if self._trigger is not None:
                self.destroy_guard_condition(self._trigger)
            for publisher in self._outputs.values():
                self.destroy_publisher(publisher)
            for name, adapter in self._adapters.items():
                if name == 'nmea':
                    adapter.close()
                else:
                    self.destroy_publisher(adapter)
            self._io_entities, self._outputs, self._adapters, self._trigger = [], {}, {}, None
        self._frames.take()
        self._last_accepted_stamp = None

    # ------------------------------------------------------------ inputs

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, msg) -> None:
        now = self._now()
        self._stats.arrival(now)
        stamp = stamp_to_seconds(msg.header.stamp)
        rate = self._param('max_frame_rate')
        last = self._last_accepted_stamp
        if rate > 0.0 and last is not None and 0.0 <= stamp - last < 1.0 / rate - 1e-6:
            with self._stats.lock:
                self._stats.rate_limited += 1
            return
        self._last_accepted_stamp = stamp
        self._frames.put(msg)
        trigger = self._trigger
        if trigger is not None:
            trigger.trigger()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera = camera_from_info(msg)

    def _input_callback(self, topic: str):
        def callback(msg) -> None:
            problem = feed_input(self._inputs, topic, msg, self._now())
            if problem is not None:
                self.get_logger().warning(f'{topic} rejected: {problem}',
                                          throttle_duration_sec=5.0)
        return callback

    def _on_gnss(self, msg: NavSatFix) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        now = self._now()
        selected = pipeline.on_gnss(fix_from_navsat(msg), now, self._inputs.odometry(now))
        self._inputs.on_gnss_altitude(float(msg.altitude), header_stamp(msg), now,
                                      healthy=pipeline.status.ok)
        if selected is not None:
            self._publish('fix_selected', msg)
        self._publish_state(pipeline.status)

    def cancel_work(self) -> None:
        """Make the frame being localized stop at its next check (shutting down)."""
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.localizer.cancel()

    def _check_gnss(self) -> None:
        pipeline = self._pipeline
        if pipeline is not None:
            self._publish_state(pipeline.tick(self._now()))

    # ------------------------------------------------------------ inference

    def _current_altitude(self, now: float) -> float | None:
        height = self._inputs.height(now)
        if height is not None:
            return height[0]
        default = self._param('default_altitude_agl')
        return default if default > 0.0 else None

    def _camera_for(self, image) -> object:
        from spikevim_ros.camera import PinholeCamera

        height, width = image.shape[:2]
        camera = self._camera
        if camera is None and self._param('camera_hfov_deg') >= 1.0:
            camera = PinholeCamera.from_hfov(width, height, self._param('camera_hfov_deg'))
        return camera_for_image(camera, width, height)

    def _run_inference(self) -> None:
        msg, pipeline = self._frames.take(), self._pipeline
        if msg is None or pipeline is None:
            return
        started = time.perf_counter()
        now = self._now()
        try:
            image = compressed_to_rgb(msg) if isinstance(msg, CompressedImage) \
                else self._convert(msg)
        except ImageConversionError as error:
            self._stats.error(str(error), now, conversion=True)
            self.get_logger().warning(f'frame dropped: {error}', throttle_duration_sec=5.0)
            return
        stamp = stamp_to_seconds(msg.header.stamp) or now
        try:
            out = pipeline.on_frame(image, stamp, now, altitude_agl=self._current_altitude(now),
                                    camera=self._camera_for(image),
                                    attitude_deg=self._inputs.camera_attitude(now),
                                    odometry=self._inputs.odometry(now),
                                    frame_id=msg.header.frame_id or self._param('frame_id'))
        except Exception as error:  # one bad frame must never stop the node
            self._stats.error(f'{type(error).__name__}: {error}', now, conversion=False)
            self.get_logger().error(f'localization failed: {error}', throttle_duration_sec=5.0)
            return
        if out.own_fix is not None:
            self._publish('fix', fix_to_msg(out.own_fix, service=0))
        if out.selected is not None:
            self._publish('fix_selected', fix_to_msg(out.selected, service=0))
        self._publish_state(out.gnss_status)
        published = self._now()
        with self._stats.lock:
            self._stats.processed += 1
            self._stats.fixes += out.vision_fix is not None
            self._stats.last = out
            self._stats.latencies_ms.append((published - stamp) * 1e3)
            self._stats.inference_ms = (time.perf_counter() - started) * 1e3

    # ------------------------------------------------------------ outputs

    def _publish(self, name: str, msg) -> None:
        with self._publish_lock:
            if not self._active:
                return
            self._outputs[name].publish(msg)
            if name == 'fix_selected':
                self._feed_adapters(fix_from_navsat(msg))

    def _feed_adapters(self, fix) -> None:
        separation = self._param('geoid_separation')
        if 'nmea' in self._adapters:
            try:
                self._adapters['nmea'].write_fix(fix, geoid_separation_m=separation)
            except OSError as error:
                self.get_logger().warning(f'NMEA write failed: {error}',
                                          throttle_duration_sec=5.0)
        if 'gps_input' in self._adapters:
            from spikevim_ros.adapters.gps_input import make_gps_input
            self._adapters['gps_input'].publish(make_gps_input(fix,
                                                               geoid_separation_m=separation))

    def _publish_state(self, status: GnssStatus) -> None:
        with self._publish_lock:
            if not self._active or status.health == self._published_health:
                return
            self._published_health = status.health
            self._outputs['gnss_state'].publish(gnss_state_msg(status, self._now()))
        text = f'GNSS {status.health.value}: {status.reason}'
        if status.ok:
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)

    # ------------------------------------------------------------ diagnostics

    def _lifecycle_label(self) -> str:
        if self._configure_error:
            return 'unconfigured (configure failed)'
        if self._pipeline is None:
            return 'unconfigured'
        return 'active' if self._active else 'inactive'

    def _report_input(self) -> Report:
        now = self._now()
        stats = self._stats
        values = {'state': self._lifecycle_label(), 'input_rate_hz': stats.rate(now),
                  'frames_received': stats.received, 'frames_replaced': self._frames.replaced,
                  'frames_rate_limited': stats.rate_limited,
                  'conversion_errors': stats.conversion_errors,
                  'image_converter': self._converter_name, 'last_error': stats.last_error}
        if now - stats.last_error_time <= ERROR_HOLD_S and stats.last_error:
            return Report(WARN, f'frame dropped: {stats.last_error}', values)
        return Report(OK, f'{values["input_rate_hz"]:.1f} Hz', values)

    def _report_inference(self) -> Report:
        stats, gallery, encoder = self._stats, self._gallery, self._encoder
        with stats.lock:
            latencies = list(stats.latencies_ms)
            last = stats.last
            values = {'state': self._lifecycle_label(), 'frames_processed': stats.processed,
                      'vision_fixes': stats.fixes, 'failures': stats.failures,
                      'inference_ms': stats.inference_ms}
        values.update({
            'latency_ms_last': latencies[-1] if latencies else math.nan,
            'latency_ms_mean': sum(latencies) / len(latencies) if latencies else math.nan,
            'match_quality': last.result.quality if last else math.nan,
            'verified': last.result.verified if last else False,
            'last_result': last.result.reason if last else '',
            **{f'sigma_{term}_m': sigma
               for term, sigma in (last.covariance_terms_m.items() if last else ())},
            'tilt_sigma_deg': last.tilt_sigma_deg if last else math.nan,
            **{f'{stage}_ms': last.result.timings_ms.get(stage, math.nan) if last else math.nan
               for stage in STAGES},
            'search_path': last.search_path if last else '',
            'encoder_ran': last.result.encoder_ran if last else False,
            'motion': last.motion if last else '',
            'gallery_tiles': len(gallery) if gallery is not None else 0,
            'encoder': f'{encoder.variant}/{encoder.weights_id}/{encoder.runtime}'
            if encoder is not None else ''})
        if self._configure_error:
            return Report(ERROR, f'configure failed: {self._configure_error}', values)
        if last is None:
            return Report(OK, f'no frame processed ({values["state"]})', values)
        return Report(OK, 'vision fix' if last.vision_fix else f'no fix: {last.result.reason}',
                      values)

    def _report_aircraft(self) -> Report:
        now = self._now()
        health = self._inputs.health(now)
        height = self._inputs.height(now)
        values = {'height_source': height[1] if height else 'none',
                  'height_m': height[0] if height else math.nan,
                  'attitude_known': self._inputs.camera_attitude(now) is not None}
        for name, item in health.items():
            values.update({f'{name}_{key}': value for key, value in item.values.items()})
        problems = [item.message for item in health.values() if not item.ok]
        if problems:
            return Report(WARN, '; '.join(problems), values)
        return Report(OK, f'height from {values["height_source"]}, attitude '
                      f'{"known" if values["attitude_known"] else "unknown"}', values)

    def _report_gnss(self) -> Report:
        pipeline = self._pipeline
        status = pipeline.status if pipeline is not None else None
        if status is None:
            return Report(OK, 'not monitoring (node not configured)', {})
        now = self._now()
        values = {'health': status.health.value, 'reason': status.reason, 'since': status.since,
                  'last_good_fix_age_s': status.last_good_age(now)}
        return Report(OK if status.ok else WARN, f'GNSS {status.health.value}: {status.reason}',
                      values)


def image_qos() -> QoSProfile:
    """
    Return a fresh sensor-data QoS for the image inputs.

    Start-up parameters ``qos_overrides./image.subscription.reliability`` / ``.depth`` (and
    ``/image/compressed``) override it; a fresh profile keeps the override off other topics.
    """
    sensor = qos_profile_sensor_data
    return QoSProfile(history=sensor.history, depth=sensor.depth,
                      reliability=sensor.reliability, durability=sensor.durability)


def gnss_state_msg(status: GnssStatus, now: float) -> DiagnosticStatus:
    """Return the latched ``~/gnss_state`` message for a GNSS status."""
    fields = gnss_state_fields(status, now)
    return DiagnosticStatus(level=OK if status.ok else WARN, name=fields['name'],
                            message=fields['message'], hardware_id=fields['hardware_id'],
                            values=[KeyValue(key=k, value=v)
                                    for k, v in fields['values'].items()])


def main(args: list[str] | None = None) -> int:
    """Run the node with a multi-threaded executor until shut down."""
    rclpy.init(args=args)
    try:
        node = LocalizerNode()
    except ParameterException as error:
        print(f'localizer_node: invalid parameter: {error}', file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.cancel_work()          # a frame in progress stops at its next check
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
