"""
Replay: a bag's messages through the node's pipeline, in real time (default) or offline.

Real time behaves like the node on this computer. A frame is localized as soon as the pipeline is
free; frames arriving while it is busy wait in a one-frame slot where a newer frame replaces
(drops) the older one, exactly like the node's newest-frame mailbox; a frame's outputs go out at
its start + its processing time (measured, or a fixed ``frame_budget_s`` for reproducible runs).
GNSS messages and the monitor's 0.1 s tick run meanwhile, as in the node. Offline mode processes
every frame and publishes at arrival (zero processing time): it says how good the localizer is,
not what a flight would get.

Every camera frame becomes a :class:`FrameRecord` (processed, dropped or bad). Only one image
is held at a time (plus the waiting one); per-frame scalars and a thinned GNSS track are all that
accumulate, so bags of any length replay in bounded memory. A frame that cannot be decoded or
localized is counted with its time and reason, and the replay carries on; a bag that ends early
(truncated file) is replayed up to the damage and the report says so.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikevim_ros.camera_messages import camera_from_info, compressed_to_rgb, image_to_rgb
from spikevim_ros.fix import STATUS_FIX, GeoFix, fix_from_navsat
from spikevim_ros.geo import LocalFrame
from spikevim_ros.gnss.state_message import gnss_state_fields
from spikevim_ros.localization.query import search_path
from spikevim_ros.replay.aircraft_inputs import ReplayAircraft
from spikevim_ros.replay.bag_source import (COMPRESSED_TYPE, IMAGE_TYPE, BagError, BagMessage,
                                            iter_messages, open_bag, pick_topic, topic_types)
from spikevim_ros.replay.metrics import (BAD, DROPPED, CoverageMeter, FrameCsvWriter,
                                         FrameRecord, spoofing_outcomes)
from spikevim_ros.sim.bagfile import BagWriter
from spikevim_ros.sim.gnss_model import FaultInjector, GnssFault, denied_windows
from spikevim_ros.sim.simulate import SimTopics

NAVSAT_TYPE = 'sensor_msgs/msg/NavSatFix'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
OUTPUT_NAMES = ('frames.csv', 'metrics.json', 'output_bag', 'report.md', 'report.html')


@dataclass
class ReplayOptions:
    """Topics, timing mode, fault injection and limits of a replay."""

    image_topic: str = SimTopics.image
    camera_info_topic: str = SimTopics.camera_info
    gnss_topic: str = SimTopics.gnss
    truth_topic: str = SimTopics.truth_fix
    scenario_topic: str = SimTopics.scenario
    inject: list[GnssFault] = field(default_factory=list)  # seconds from the bag start
    altitude_agl_m: float | None = None   # None: the simulated altitude, if the bag has one
    max_frames: int | None = None         # camera frames read from the bag
    offline: bool = False                 # every frame, zero processing time
    frame_budget_s: float | None = None   # real time: this processing time instead of measured
    max_fix_age_s: float = 2.0            # a published fix older than this covers no time
    tick_period_s: float = 0.1            # like the node's timer: monitor evaluated this often
    node_name: str = 'localizer'     # output bag topics: /<node_name>/fix ...
    distro: str = 'jazzy'
    progress: bool = True
    imu_topic: str = SimTopics.imu            # the node's aircraft inputs (see aircraft_inputs)
    rangefinder_topic: str = SimTopics.rangefinder
    altitude_topic: str = SimTopics.rel_alt
    odom_topic: str = SimTopics.odom
    node_params: dict | None = None           # the node's parameters (--params-file)

    def __post_init__(self) -> None:
        """Refuse a negative or non-finite frame budget and fix age."""
        for name in ('frame_budget_s', 'max_fix_age_s'):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f'{name} must be a finite number >= 0, got {value}')

    @property
    def mode(self) -> str:
        """Return how frames were timed, as written into metrics and reports."""
        if self.offline:
            return 'offline: every frame, zero processing time (not what a flight gets)'
        if self.frame_budget_s is not None:
            return f'real time: {self.frame_budget_s:g} s per frame (fixed budget)'
        return 'real time: measured processing time on this computer'


@dataclass
class ReplayTrace:
    """What a replay produced, in memory (frame records, events, thinned GNSS track)."""

    records: list[FrameRecord]
    gnss_en: np.ndarray
    frame: LocalFrame
    start_time_s: float
    denied: list[tuple[float, float]]      # seconds since start
    lost: list[tuple[float, float]]        # monitor LOST windows, seconds since start
    events: dict


class _TruthTrack:
    """Ground truth at any stamp by linear interpolation of a fix stream (small buffer)."""

    def __init__(self) -> None:
        self._fixes: deque[GeoFix] = deque(maxlen=4096)

    def add(self, fix: GeoFix) -> None:
        if fix.has_position and (not self._fixes or fix.stamp > self._fixes[-1].stamp):
            self._fixes.append(fix)

    def at(self, stamp: float, max_gap_s: float = 2.0) -> tuple[float, float] | None:
        fixes = self._fixes
        if not fixes:
            return None
        stamps = np.fromiter((f.stamp for f in fixes), dtype=np.float64, count=len(fixes))
        i = int(np.searchsorted(stamps, stamp))
        if i < len(fixes) and abs(stamps[i] - stamp) < 1e-6:
            return fixes[i].latitude, fixes[i].longitude
        if 0 < i < len(fixes) and stamps[i] - stamps[i - 1] <= max_gap_s:
            a, b = fixes[i - 1], fixes[i]
            w = (stamp - a.stamp) / (b.stamp - a.stamp)
            return (a.latitude + w * (b.latitude - a.latitude),
                    a.longitude + w * (b.longitude - a.longitude))
        nearest = min((j for j in (i - 1, i) if 0 <= j < len(fixes)),
                      key=lambda j: abs(stamps[j] - stamp))
        if abs(stamps[nearest] - stamp) <= max_gap_s / 2:
            return fixes[nearest].latitude, fixes[nearest].longitude
        return None

    def forget_before(self, stamp: float) -> None:
        while len(self._fixes) > 2 and self._fixes[1].stamp < stamp:
            self._fixes.popleft()


def _in_windows(t: float, windows: list[tuple[float, float]]) -> bool:
    return any(a <= t < b for a, b in windows)


@dataclass
class _Topics:
    image: str
    truth: str | None
    gnss: str | None
    camera_info: str | None


@dataclass
class _InFlight:
    """A frame being localized: started at ``started``, its outputs due at ``done_at``."""

    stamp: float
    started: float
    done_at: float
    processing_s: float
    result: object
    prior: object
    altitude: float | None
    attitude_known: bool
    odometry: object
    search_path: str


class Replay:
    """Drive a pipeline with a bag; see :func:`run_replay` for the one-call version."""

    def __init__(self, pipeline, options: ReplayOptions, out_dir: Path,
                 frame: LocalFrame | None = None, output_bag: bool = True) -> None:
        self.pipeline = pipeline
        self.options = options
        self.out_dir = Path(out_dir)
        self.frame = frame
        self.output_bag = output_bag

    def run(self, bag_path: str | Path) -> ReplayTrace:
        """Replay the bag; write frames.csv (and output_bag/) into a fresh output folder."""
        opts = self.options
        _refuse_earlier_results(self.out_dir)
        with open_bag(bag_path, opts.distro) as reader:
            types = topic_types(reader)
            topics = self._topics(bag_path, types)
            scenario = self._scenario(reader, types)
            in_bag = next(c.msgcount for c in reader.connections if c.topic == topics.image)
            aircraft = ReplayAircraft(
                {'imu/data': opts.imu_topic, 'rangefinder': opts.rangefinder_topic,
                 'altitude_agl': opts.altitude_topic, 'odom': opts.odom_topic},
                opts.node_params, opts.altitude_agl_m,
                scenario.get('flight', {}).get('altitude_agl_m'))
            aircraft.select(types)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            run = _ReplayRun(self, topics, scenario, reader.start_time * 1e-9, in_bag, aircraft)
            return run.replay(reader)

    def _topics(self, bag_path, types: dict[str, str]) -> _Topics:
        opts = self.options
        image = pick_topic(types, opts.image_topic, (IMAGE_TYPE,), 'image') or \
            pick_topic(types, opts.image_topic + '/compressed', (COMPRESSED_TYPE,), 'image')
        if image is None:
            raise BagError(f'{bag_path}: no camera image topic (looked for {opts.image_topic} '
                           f'and its /compressed stream); topics: {sorted(types)}')
        truth = pick_topic(types, opts.truth_topic, (NAVSAT_TYPE,), 'ground truth') \
            if opts.truth_topic in types else None
        gnss = pick_topic(types, opts.gnss_topic, (NAVSAT_TYPE,), 'GNSS',
                          exclude=tuple(t for t in (truth,) if t) + tuple(
                              t for t in types if 'spikevim' in t))
        info = pick_topic(types, opts.camera_info_topic, (CAMERA_INFO_TYPE,), 'camera info')
        return _Topics(image, truth, gnss, info)

    def _scenario(self, reader, types: dict[str, str]) -> dict:
        topic = self.options.scenario_topic
        if types.get(topic) != 'std_msgs/msg/String':
            return {}
        for message in iter_messages(reader, [topic]):
            try:
                return json.loads(message.message.data)
            except json.JSONDecodeError:
                return {}
        return {}


def _refuse_earlier_results(out_dir: Path) -> None:
    """Raise FileExistsError, before anything is written, when ``out_dir`` holds results."""
    found = [name for name in OUTPUT_NAMES if (out_dir / name).exists()]
    if found:
        raise FileExistsError(f'{out_dir} already holds replay results ({", ".join(found)}); '
                              'replay into a fresh output folder')


class _ReplayRun:
    """The state of one replay and its steps: message handlers, monitor ticks, frame events."""

    def __init__(self, owner: Replay, topics: _Topics, scenario: dict, start: float,
                 in_bag: int, aircraft: ReplayAircraft) -> None:
        opts = owner.options
        self.opts, self.pipe, self.topics, self.start = opts, owner.pipeline, topics, start
        self.in_bag = in_bag
        self.scenario = scenario
        denied = [(a - start, b - start) for a, b in scenario.get('denied_windows', [])]
        self.denied = sorted(denied + denied_windows(opts.inject))
        self.injector = FaultInjector(opts.inject, seed=11) if opts.inject else None
        self.aircraft = aircraft
        self.frame = owner.frame
        if self.frame is None and 'frame' in scenario:
            self.frame = LocalFrame(scenario['frame']['lat0'], scenario['frame']['lon0'])
        self.truth = _TruthTrack()
        self.camera = None
        self.pending: list[FrameRecord] = []   # waiting for ground truth, sorted by stamp
        self.records: list[FrameRecord] = []
        self.gnss_points: list[tuple[float, float]] = []
        self.last_gnss_point_t = -math.inf
        self.lost: list[list[float]] = []
        self.loss_events: list[dict] = []
        self.fallback_latencies: list[float | None] = []
        self.health: str | None = None
        self.written_health = None
        self.published: tuple[float, str, GeoFix] | None = None
        self.coverage = CoverageMeter(opts.max_fix_age_s)
        self.next_tick: float | None = None
        self.in_flight: _InFlight | None = None
        self.waiting: BagMessage | None = None  # the node's newest-frame slot
        self.frames_read = 0
        self.bad_frames: list[dict] = []
        self.truncated: str | None = None
        self.ended = False
        self.last_time = start
        self.csv = FrameCsvWriter(owner.out_dir / 'frames.csv')
        self.bag_out = _open_output_bag(owner.out_dir, opts.distro) if owner.output_bag else None
        self.bar = tqdm(total=min(in_bag, opts.max_frames or in_bag), desc='replay',
                        unit='frame', disable=not opts.progress)
        self.handlers = {topics.image: self.on_image}
        if topics.truth:
            self.handlers[topics.truth] = self.on_truth
        if topics.camera_info:
            self.handlers[topics.camera_info] = self.on_camera_info
        if topics.gnss:
            self.handlers[topics.gnss] = self.on_gnss
        for topic in aircraft.topics:
            self.handlers[topic] = self.on_aircraft_input

    # --- the loop ---------------------------------------------------------------------

    def replay(self, reader) -> ReplayTrace:
        try:
            for message in self.messages(reader):
                if message.topic == self.topics.image and self.opts.max_frames is not None \
                        and self.frames_read >= self.opts.max_frames:
                    break
                self.advance(message.time_s)
                self.last_time = message.time_s
                if message.message is None:
                    self.undecodable(message)
                else:
                    self.handlers[message.topic](message)
            self.ended = True   # no GNSS after the bag's end: its silence is no GNSS fault
            self.next_tick = math.inf
            while self.in_flight is not None:
                self.advance(self.in_flight.done_at)
            self.flush(math.inf)
            if getattr(reader, 'damage', None) and not self.truncated:
                self.truncated = (f'{reader.damage}; replayed up to '
                                  f'{self.last_time - self.start:.2f} s')
        finally:
            self.bar.close()
            self.csv.close()
            if self.bag_out is not None:
                self.bag_out.__exit__(None, None, None)
        return self.trace()

    def messages(self, reader):
        """Yield the bag's messages of the handled topics; stop, noted, where the bag breaks."""
        iterator = iter_messages(reader, list(self.handlers))
        while True:
            try:
                message = next(iterator)
            except StopIteration:
                return
            except Exception as exc:  # rosbags raises many types for a damaged file
                self.truncated = (f'bag unreadable after {self.last_time - self.start:.2f} s '
                                  f'({type(exc).__name__}: {exc}); replayed up to there')
                return
            yield message

    def undecodable(self, message: BagMessage) -> None:
        """Count a message that does not decode; a camera frame becomes a BAD record."""
        if message.topic == self.topics.image:
            self.frames_read += 1
            self.bar.update(1)
            record = self.new_record(message.time_s)
            record.status = BAD
            self.add_record(record)
        self.bad_frames.append({'topic': message.topic, 't': message.time_s - self.start,
                                'reason': message.error})

    def advance(self, until: float) -> None:
        """Run the monitor ticks and frame completions due up to ``until``, in time order."""
        if self.next_tick is None:
            self.next_tick = until
        while True:
            done = self.in_flight.done_at if self.in_flight is not None else math.inf
            if min(done, self.next_tick) > until:
                return
            if done <= self.next_tick:
                self.complete_frame()
            else:
                status = self.pipe.tick(self.next_tick)
                self.note_status(status)
                self.write_state(self.next_tick, status)
                self.next_tick += self.opts.tick_period_s

    # --- message handlers (one per input topic) ---------------------------------------

    def on_truth(self, message: BagMessage) -> None:
        self.truth.add(fix_from_navsat(message.message))
        self.flush(message.time_s)

    def on_camera_info(self, message: BagMessage) -> None:
        self.camera = camera_from_info(message.message) or self.camera

    def on_gnss(self, message: BagMessage) -> None:
        now = message.time_s
        fix = fix_from_navsat(message.message)
        if self.topics.truth is None and fix.status >= STATUS_FIX and \
                not _in_windows(fix.stamp - self.start, self.denied):
            self.truth.add(fix)
        if self.injector is not None:
            fix = self.injector.apply(now - self.start, fix)
            if fix is None:
                return
        if now - self.last_gnss_point_t >= 0.5 and fix.has_position:
            self.gnss_points.append(tuple(float(v) for v in self.to_en(fix.latitude,
                                                                       fix.longitude)))
            self.last_gnss_point_t = now
        self.note_selected(self.pipe.on_gnss(fix, now, self.aircraft.inputs.odometry(now)),
                           'gnss', now)
        self.aircraft.on_gnss(fix.altitude, fix.stamp, now, self.pipe.status)
        if self.topics.truth is None:
            self.flush(now)

    def on_aircraft_input(self, message: BagMessage) -> None:
        self.aircraft.feed(message.topic, message.message, message.time_s)

    def on_image(self, message: BagMessage) -> None:
        self.frames_read += 1
        self.bar.update(1)
        if self.in_flight is None:
            self.start_frame(message, message.time_s)
            return
        if self.waiting is not None:
            self.skip_frame(self.waiting, DROPPED)
        self.waiting = message

    # --- frames -------------------------------------------------------------------------

    def start_frame(self, message: BagMessage, now: float) -> None:
        """Localize a frame starting at ``now``; its outputs are due when its time is up."""
        began = time.perf_counter()
        try:
            stamp = _frame_stamp(message)
            decode = compressed_to_rgb if message.msgtype == COMPRESSED_TYPE else image_to_rgb
            image = decode(message.message)
            altitude, camera, attitude = self.aircraft.frame_inputs(
                now, image.shape[1], image.shape[0], self.camera)
            odometry = self.aircraft.inputs.odometry(now)
            result, prior, odometry = self.pipe.localize(image, now, altitude, camera, attitude,
                                                         odometry)
        except Exception as exc:  # one bad frame must never stop the replay (nor the node)
            self.skip_frame(message, BAD, f'{type(exc).__name__}: {exc}')
            return
        elapsed = time.perf_counter() - began
        if self.opts.offline:
            busy = 0.0
        else:
            budget = self.opts.frame_budget_s
            busy = elapsed if budget is None else budget
        self.in_flight = _InFlight(stamp, now, now + busy, elapsed, result, prior, altitude,
                                   attitude is not None, odometry,
                                   search_path(altitude, camera, attitude))
        if self.opts.offline:
            self.complete_frame()

    def complete_frame(self) -> None:
        """Publish the frame in flight at its due time; then start the waiting frame, if any."""
        job, self.in_flight = self.in_flight, None
        now = job.done_at
        output = self.pipe.conclude(job.result, job.prior, job.stamp, now,
                                    altitude_agl=job.altitude,
                                    attitude_known=job.attitude_known, odometry=job.odometry,
                                    path=job.search_path)
        self.aircraft.note(output)
        self.note_status(output.gnss_status)
        vision, own = output.vision_fix, output.own_fix
        if own is not None:
            self.write_fix('fix', now, own)
        source = 'gnss'
        if output.selected is not None and output.selected is own:
            source = 'vision' if own is vision else 'dead_reckoning'
        self.note_selected(output.selected, source, now)
        record = self.new_record(job.stamp)
        record.processing_s = job.processing_s
        record.published_t = now - self.start
        record.latency_s = now - job.stamp
        self.fill_output(record, output, vision, now)
        self.add_record(record)
        if self.waiting is not None:
            message, self.waiting = self.waiting, None
            self.start_frame(message, now)

    def skip_frame(self, message: BagMessage, status: str, reason: str = '') -> None:
        """Record a frame that produced nothing: dropped while busy, or bad (with reason)."""
        record = self.new_record(_frame_stamp(message))
        record.status = status
        if status == BAD:
            self.bad_frames.append({'topic': message.topic, 't': message.time_s - self.start,
                                    'reason': reason})
        self.add_record(record)

    def new_record(self, stamp: float) -> FrameRecord:
        t = stamp - self.start
        return FrameRecord(stamp=stamp, t=t, in_outage=_in_windows(t, self.denied),
                           gnss_health=self.health or '')

    def add_record(self, record: FrameRecord) -> None:
        bisect.insort(self.pending, record, key=lambda r: r.stamp)

    def fill_output(self, record: FrameRecord, output, vision: GeoFix | None,
                    now: float) -> None:
        record.result = output.result.reason
        dead = output.dead_reckoned
        if dead is not None:
            record.dead_reckoned_east, record.dead_reckoned_north = self.to_en(dead.latitude,
                                                                               dead.longitude)
            record.dead_reckoned_sigma_m = dead.horizontal_sigma_m
        record.search_path = output.search_path
        record.stage_ms = dict(output.result.timings_ms)
        record.encoder_ran = output.result.encoder_ran
        record.motion = output.motion
        if vision is not None and vision.has_position:
            record.vision_east, record.vision_north = self.to_en(vision.latitude,
                                                                 vision.longitude)
            record.vision_sigma_m = vision.horizontal_sigma_m
            cov = np.asarray(vision.covariance_enu, dtype=np.float64)[:2, :2]
            record.vision_cov_ee, record.vision_cov_nn = float(cov[0, 0]), float(cov[1, 1])
            record.vision_cov_en = float(cov[0, 1])
            for term, sigma in output.covariance_terms_m.items():
                setattr(record, f'sigma_{term}_m', float(sigma))
            record.tilt_sigma_deg = output.tilt_sigma_deg
            record.vision_confident = bool(output.result.verified)
        published = self.published
        if published is not None and now - published[2].stamp <= self.opts.max_fix_age_s \
                and published[2].has_position:
            record.selected_source = published[1]
            record.selected_east, record.selected_north = self.to_en(published[2].latitude,
                                                                     published[2].longitude)

    def flush(self, ready_until: float) -> None:
        """Judge and write, in stamp order, the records whose ground truth has arrived."""
        held = []   # frames not yet recorded: later records wait for them
        if self.in_flight is not None:
            held.append(self.in_flight.stamp)
        if self.waiting is not None:
            held.append(_frame_stamp(self.waiting))
        limit = min(held, default=math.inf)
        while self.pending and self.pending[0].stamp <= ready_until \
                and self.pending[0].stamp < limit:
            record = self.pending.pop(0)
            self.judge(record)
            self.csv.write(record)
            self.records.append(record)
        oldest = min([r.stamp for r in self.pending[:1]] + held, default=ready_until)
        self.truth.forget_before(oldest - 5.0)

    def judge(self, record: FrameRecord) -> None:
        """Fill in the ground truth and the vision fix's normalised error."""
        position = self.truth.at(record.stamp)
        if position is None:
            return
        record.truth_east, record.truth_north = self.to_en(*position)
        cov = record.vision_covariance
        if math.isfinite(record.vision_east) and np.all(np.isfinite(cov)) \
                and np.linalg.det(cov) > 0.0:
            error = np.array([record.vision_east - record.truth_east,
                              record.vision_north - record.truth_north])
            record.vision_nees = float(error @ np.linalg.solve(cov, error))

    # --- monitor and outputs ------------------------------------------------------------

    def to_en(self, lat: float, lon: float) -> tuple[float, float]:
        if self.frame is None:
            return math.nan, math.nan
        east, north = self.frame.to_en(lat, lon)
        return float(east), float(north)

    def note_status(self, status) -> None:
        name = status.health.name if hasattr(status.health, 'name') else str(status.health)
        if name == self.health or (self.ended and name != 'OK'):
            return
        if name != 'OK' and self.health is not None:
            self.lost.append([status.since - self.start, math.inf])
            self.loss_events.append({'t': status.since - self.start, 'reason': status.reason})
            self.fallback_latencies.append(None)
        elif name == 'OK' and self.lost and self.lost[-1][1] == math.inf:
            self.lost[-1][1] = status.since - self.start
        self.health = name

    def note_selected(self, fix: GeoFix | None, source: str, now: float) -> None:
        if fix is None:
            return
        self.published = (now, source, fix)
        if source != 'dead_reckoning':    # covered time: by fixes measured, not extrapolated
            self.coverage.published(now - self.start, fix.stamp - self.start)
        self.write_fix('fix_selected', now, fix)
        if source == 'vision' and self.fallback_latencies and \
                self.fallback_latencies[-1] is None and self.lost and \
                self.lost[-1][1] == math.inf:
            self.fallback_latencies[-1] = now - self.start - self.lost[-1][0]
            self.loss_events[-1]['first_fallback_fix_age_s'] = now - fix.stamp

    def write_fix(self, name: str, now: float, fix: GeoFix) -> None:
        if self.bag_out is not None:
            self.bag_out.write(f'/{self.opts.node_name}/{name}', now, self.bag_out.navsat(fix))

    def write_state(self, now: float, status) -> None:
        """Write ~/gnss_state like the node: a DiagnosticStatus whenever the health changes."""
        bag = self.bag_out
        if bag is None or status.health == self.written_health:
            return
        self.written_health = status.health
        fields_ = gnss_state_fields(status, now)
        bag.write(f'/{self.opts.node_name}/gnss_state', now, bag.msg(
            'diagnostic_msgs/msg/DiagnosticStatus', level=fields_['level'],
            name=fields_['name'], message=fields_['message'],
            hardware_id=fields_['hardware_id'],
            values=[bag.msg('diagnostic_msgs/msg/KeyValue', key=k, value=v)
                    for k, v in fields_['values'].items()]))

    # --- results ------------------------------------------------------------------------

    def trace(self) -> ReplayTrace:
        end_t = max((r.t for r in self.records), default=0.0)
        lost_windows = [(a, b if b != math.inf else end_t) for a, b in self.lost]
        return ReplayTrace(records=self.records,
                           gnss_en=np.array(self.gnss_points).reshape(-1, 2),
                           frame=self.frame, start_time_s=self.start, denied=self.denied,
                           lost=lost_windows, events=self.events(lost_windows))

    def events(self, lost_windows) -> dict:
        faults = []
        for fault in self.scenario.get('faults', []) + [f.to_dict() for f in self.opts.inject]:
            if fault['kind'] in ('drift', 'jump'):
                begins = fault.get('start_stamp', self.start + fault['start_s'])
                faults.append(dict(fault, start_s=begins - self.start))
        denied = self.denied
        first_denied = denied[0][0] if denied else None
        first_loss = next((i for i, e in enumerate(self.loss_events)
                           if first_denied is not None and e['t'] >= first_denied - 1.0), None)
        return {
            'mode': self.opts.mode,
            'max_fix_age_s': self.opts.max_fix_age_s,
            'denied_windows_s': [list(w) for w in denied],
            'monitor_lost_windows_s': [list(w) for w in lost_windows],
            'outage_time_coverage': self.coverage.fraction(denied),
            'loss_declared': [dict(e, first_fallback_latency_s=lat)
                              for e, lat in zip(self.loss_events, self.fallback_latencies)],
            'detection_delay_s': (self.loss_events[first_loss]['t'] - first_denied)
            if first_loss is not None else None,
            'first_fallback_latency_s': self.fallback_latencies[first_loss]
            if first_loss is not None else None,
            'spoofing': spoofing_outcomes(faults, self.loss_events, lost_windows),
            'frames_in_bag': self.in_bag,
            'bad_frames': self.bad_frames,
            'truncated': self.truncated,
            'aircraft_inputs': self.aircraft.summary(),
        }


def _open_output_bag(out_dir: Path, distro: str) -> BagWriter:
    writer = BagWriter(out_dir / 'output_bag', distro, 'mcap')
    return writer.__enter__()


def _frame_stamp(message: BagMessage) -> float:
    """Return the header stamp of a frame, or its bag time when the stamp is unset or broken."""
    try:
        stamp = message.message.header.stamp
        value = stamp.sec + stamp.nanosec * 1e-9
    except (AttributeError, TypeError):
        return message.time_s
    return value if value > 0.0 else message.time_s
