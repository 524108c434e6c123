"""
Offline replay: a bag's messages through the node's pipeline, in bag time.

Messages go to :class:`~spikevim_ros.pipeline.FallbackPipeline` exactly as the node would receive
them, and every frame becomes a :class:`FrameRecord`.

Only one image is held at a time; per-frame scalars (a few hundred bytes each) and a thinned GNSS
track are all that accumulate, so bags of any length replay in bounded memory.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikevim_ros.camera_messages import camera_from_info, compressed_to_rgb, image_to_rgb
from spikevim_ros.fix import STATUS_FIX, GeoFix
from spikevim_ros.geo import LocalFrame
from spikevim_ros.replay.aircraft_inputs import ReplayAircraft
from spikevim_ros.replay.bag_source import (COMPRESSED_TYPE, IMAGE_TYPE, BagError,
                                            iter_messages, open_bag, pick_topic, topic_types)
from spikevim_ros.replay.metrics import FrameCsvWriter, FrameRecord
from spikevim_ros.sim.bagfile import BagWriter, fix_from_navsat
from spikevim_ros.sim.gnss_model import FaultInjector, GnssFault, denied_windows
from spikevim_ros.sim.simulate import SimTopics

NAVSAT_TYPE = 'sensor_msgs/msg/NavSatFix'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'


@dataclass
class ReplayOptions:
    """Topics, fault injection and limits of a replay."""

    image_topic: str = SimTopics.image
    camera_info_topic: str = SimTopics.camera_info
    gnss_topic: str = SimTopics.gnss
    truth_topic: str = SimTopics.truth_fix
    scenario_topic: str = SimTopics.scenario
    inject: list[GnssFault] = field(default_factory=list)  # seconds from the bag start
    altitude_agl_m: float | None = None   # None: the simulated altitude, if the bag has one
    max_frames: int | None = None
    tick_period_s: float = 0.1            # like the node's timer: monitor evaluated this often
    node_name: str = 'localizer'     # output bag topics: /<node_name>/fix ...
    distro: str = 'jazzy'
    progress: bool = True
    imu_topic: str = SimTopics.imu            # the node's aircraft inputs (see aircraft_inputs)
    rangefinder_topic: str = SimTopics.rangefinder
    altitude_topic: str = SimTopics.rel_alt
    odom_topic: str = SimTopics.odom
    node_params: dict | None = None           # the node's parameters (--params-file)


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

    def covers(self, stamp: float) -> bool:
        return bool(self._fixes) and self._fixes[-1].stamp >= stamp

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


class Replay:
    """Drive a pipeline with a bag; see :func:`run_replay` for the one-call version."""

    def __init__(self, pipeline, options: ReplayOptions, out_dir: Path,
                 frame: LocalFrame | None = None, output_bag: bool = True) -> None:
        self.pipeline = pipeline
        self.options = options
        self.out_dir = Path(out_dir)
        self.frame = frame
        self.output_bag = output_bag
        self._written_health = None

    def run(self, bag_path: str | Path) -> ReplayTrace:
        """Replay the bag; write frames.csv (and output_bag/) to the output folder."""
        opts = self.options
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open_bag(bag_path, opts.distro) as reader:
            types = topic_types(reader)
            image_topic = pick_topic(types, opts.image_topic, (IMAGE_TYPE,), 'image') or \
                pick_topic(types, opts.image_topic + '/compressed', (COMPRESSED_TYPE,), 'image')
            if image_topic is None:
                raise BagError(f'{bag_path}: no camera image topic (looked for '
                               f'{opts.image_topic} and its /compressed stream); topics: '
                               f'{sorted(types)}')
            truth_topic = pick_topic(types, opts.truth_topic, (NAVSAT_TYPE,), 'ground truth') \
                if opts.truth_topic in types else None
            gnss_topic = pick_topic(types, opts.gnss_topic, (NAVSAT_TYPE,), 'GNSS',
                                    exclude=tuple(t for t in (truth_topic,) if t) + tuple(
                                        t for t in types if 'spikevim' in t))
            info_topic = pick_topic(types, opts.camera_info_topic, (CAMERA_INFO_TYPE,),
                                    'camera info')
            scenario = self._scenario(reader, types)
            start = reader.start_time * 1e-9
            in_bag = next(c.msgcount for c in reader.connections if c.topic == image_topic)
            total = min(in_bag, opts.max_frames) if opts.max_frames else in_bag
            topics = [t for t in (image_topic, truth_topic, gnss_topic, info_topic) if t]
            self.aircraft = ReplayAircraft(
                {'imu/data': opts.imu_topic, 'rangefinder': opts.rangefinder_topic,
                 'altitude_agl': opts.altitude_topic, 'odom': opts.odom_topic},
                opts.node_params, opts.altitude_agl_m,
                scenario.get('flight', {}).get('altitude_agl_m'))
            topics += self.aircraft.select(types)
            return self._loop(reader, topics, image_topic, truth_topic, gnss_topic, info_topic,
                              scenario, start, total, in_bag)

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

    def _loop(self, reader, topics, image_topic, truth_topic, gnss_topic, info_topic,
              scenario: dict, start: float, total: int, in_bag: int) -> ReplayTrace:
        opts = self.options
        pipe = self.pipeline
        denied = [(a - start, b - start) for a, b in scenario.get('denied_windows', [])]
        injected = denied_windows(opts.inject)
        denied = sorted(denied + injected)
        injector = FaultInjector(opts.inject, seed=11) if opts.inject else None
        aircraft = self.aircraft
        frame = self.frame
        if frame is None and 'frame' in scenario:
            frame = LocalFrame(scenario['frame']['lat0'], scenario['frame']['lon0'])
        truth = _TruthTrack()
        camera = None
        pending: deque[tuple[FrameRecord, GeoFix | None]] = deque()
        records: list[FrameRecord] = []
        gnss_points: list[tuple[float, float]] = []
        last_gnss_point_t = -math.inf
        lost: list[list[float]] = []
        loss_events: list[dict] = []
        fallback_latencies: list[float | None] = []
        health = None
        published_selected: tuple[float, str, GeoFix] | None = None
        next_tick = None
        csv = FrameCsvWriter(self.out_dir / 'frames.csv')
        bag_out = self._open_output_bag()
        frames = 0
        bar = tqdm(total=total, desc='replay', unit='frame', disable=not opts.progress)

        def to_en(lat, lon):
            return frame.to_en(lat, lon) if frame is not None else (math.nan, math.nan)

        def note_status(status, now: float) -> None:
            nonlocal health
            name = status.health.name if hasattr(status.health, 'name') else str(status.health)
            if name != health:
                if name != 'OK' and health is not None:
                    lost.append([status.since - start, math.inf])
                    loss_events.append({'t': status.since - start, 'reason': status.reason})
                    fallback_latencies.append(None)
                elif name == 'OK' and lost and lost[-1][1] == math.inf:
                    lost[-1][1] = status.since - start
                health = name

        def note_selected(fix: GeoFix | None, source: str, now: float) -> None:
            nonlocal published_selected
            if fix is None:
                return
            published_selected = (now, source, fix)
            self._write_out(bag_out, 'fix_selected', now, fix)
            if source == 'vision' and fallback_latencies and fallback_latencies[-1] is None \
                    and lost and lost[-1][1] == math.inf:
                fallback_latencies[-1] = now - start - lost[-1][0]

        def flush(ready_until: float) -> None:
            while pending and (pending[0][0].stamp <= ready_until):
                record, vision = pending.popleft()
                self._finish(record, vision, truth, to_en)
                csv.write(record)
                records.append(record)
            if pending:
                truth.forget_before(pending[0][0].stamp - 5.0)
            else:
                truth.forget_before(ready_until - 5.0)

        try:
            for message in iter_messages(reader, topics):
                now = message.time_s
                if next_tick is None:
                    next_tick = now
                while next_tick <= now:
                    status = pipe.tick(next_tick)
                    note_status(status, next_tick)
                    self._write_state(bag_out, next_tick, status)
                    next_tick += opts.tick_period_s
                if message.topic == truth_topic:
                    truth.add(fix_from_navsat(message.message))
                    flush(message.time_s)
                elif message.topic == info_topic:
                    camera = camera_from_info(message.message) or camera
                elif message.topic in aircraft.topics:
                    aircraft.feed(message.topic, message.message, now)
                elif message.topic == gnss_topic:
                    fix = fix_from_navsat(message.message)
                    if truth_topic is None and fix.status >= STATUS_FIX and \
                            not _in_windows(fix.stamp - start, denied):
                        truth.add(fix)
                    if injector is not None:
                        fix = injector.apply(now - start, fix)
                        if fix is None:
                            continue
                    if now - last_gnss_point_t >= 0.5 and fix.has_position:
                        east, north = to_en(fix.latitude, fix.longitude)
                        gnss_points.append((float(east), float(north)))
                        last_gnss_point_t = now
                    note_selected(pipe.on_gnss(fix, now, aircraft.inputs.odometry(now)), 'gnss',
                                  now)
                    aircraft.on_gnss(fix.altitude, fix.stamp, now, pipe.status)
                    if truth_topic is None:
                        flush(now)
                elif message.topic == image_topic:
                    if opts.max_frames and frames >= opts.max_frames:
                        break
                    decode = compressed_to_rgb if message.msgtype == COMPRESSED_TYPE \
                        else image_to_rgb
                    image = decode(message.message)
                    stamp = _header_stamp(message.message, now)
                    began = time.perf_counter()
                    altitude, frame_camera, attitude = aircraft.frame_inputs(
                        now, image.shape[1], image.shape[0], camera)
                    output = pipe.on_frame(image, stamp, now, altitude_agl=altitude,
                                           camera=frame_camera, attitude_deg=attitude,
                                           odometry=aircraft.inputs.odometry(now))
                    aircraft.note(output)
                    elapsed = time.perf_counter() - began
                    note_status(output.gnss_status, now)
                    vision = output.vision_fix
                    if vision is not None:
                        self._write_out(bag_out, 'fix', now, vision)
                    source = 'vision' if output.selected is not None and \
                        output.selected is vision else 'gnss'
                    note_selected(output.selected, source, now)
                    record = FrameRecord(stamp=stamp, t=stamp - start,
                                         in_outage=_in_windows(stamp - start, denied),
                                         gnss_health=health or '', processing_s=elapsed)
                    self._fill_output(record, output, vision, published_selected, now, to_en)
                    pending.append((record, vision))
                    frames += 1
                    bar.update(1)
            flush(math.inf)
        finally:
            bar.close()
            csv.close()
            if bag_out is not None:
                bag_out.__exit__(None, None, None)
        end_t = records[-1].t if records else 0.0
        lost_windows = [(a, b if b != math.inf else end_t) for a, b in lost]
        events = self._events(loss_events, fallback_latencies, denied, scenario, start,
                              lost_windows, frames, in_bag)
        events['aircraft_inputs'] = aircraft.summary()
        return ReplayTrace(records=records, gnss_en=np.array(gnss_points).reshape(-1, 2),
                           frame=frame, start_time_s=start, denied=denied, lost=lost_windows,
                           events=events)

    @staticmethod
    def _fill_output(record: FrameRecord, output, vision: GeoFix | None, published, now: float,
                     to_en) -> None:
        if vision is not None and vision.has_position:
            record.vision_east, record.vision_north = (float(v) for v in to_en(
                vision.latitude, vision.longitude))
            record.vision_sigma_m = vision.horizontal_sigma_m
            record.vision_confident = bool(getattr(output.result, 'confident', True))
        if published is not None and now - published[0] <= 1.0 and published[2].has_position:
            record.selected_source = published[1]
            record.selected_east, record.selected_north = (float(v) for v in to_en(
                published[2].latitude, published[2].longitude))

    @staticmethod
    def _finish(record: FrameRecord, vision: GeoFix | None, truth: _TruthTrack, to_en) -> None:
        position = truth.at(record.stamp)
        if position is None:
            return
        record.truth_east, record.truth_north = (float(v) for v in to_en(*position))
        if vision is not None and math.isfinite(record.vision_east):
            cov = np.asarray(vision.covariance_enu, dtype=np.float64)[:2, :2]
            error = np.array([record.vision_east - record.truth_east,
                              record.vision_north - record.truth_north])
            if np.all(np.isfinite(cov)) and np.linalg.det(cov) > 0.0:
                record.vision_nees = float(error @ np.linalg.solve(cov, error))

    def _events(self, loss_events, latencies, denied, scenario, start, lost_windows, frames,
                in_bag) -> dict:
        spoofing = []
        for fault in scenario.get('faults', []) + [f.to_dict() for f in self.options.inject]:
            if fault['kind'] not in ('drift', 'jump'):
                continue
            a = fault.get('start_stamp', start + fault['start_s']) - start
            b = a + fault['duration_s']
            hits = [e for e in loss_events if a <= e['t'] < b + 1.0]
            was_lost = any(x <= a < y for x, y in lost_windows)
            spoofing.append({'kind': fault['kind'], 'start_s': a, 'end_s': b,
                             'detected': bool(hits) or was_lost,
                             'delay_s': (hits[0]['t'] - a) if hits else None,
                             'reason': hits[0]['reason'] if hits else None})
        first_denied = denied[0][0] if denied else None
        first_loss_in_denied = next((i for i, e in enumerate(loss_events)
                                     if first_denied is not None
                                     and e['t'] >= first_denied - 1.0), None)
        return {
            'denied_windows_s': [list(w) for w in denied],
            'monitor_lost_windows_s': [list(w) for w in lost_windows],
            'loss_declared': [dict(e, first_fallback_latency_s=lat)
                              for e, lat in zip(loss_events, latencies)],
            'detection_delay_s': (loss_events[first_loss_in_denied]['t'] - first_denied)
            if first_loss_in_denied is not None else None,
            'first_fallback_latency_s': latencies[first_loss_in_denied]
            if first_loss_in_denied is not None else None,
            'spoofing': spoofing,
            'frames_in_bag': in_bag,
            'frames_processed': frames,
        }

    # --- output bag ---------------------------------------------------------------------

    def _open_output_bag(self) -> BagWriter | None:
        if not self.output_bag:
            return None
        path = self.out_dir / 'output_bag'
        if path.exists():
            raise FileExistsError(f'{path} exists; replay into a fresh output folder')
        writer = BagWriter(path, self.options.distro, 'mcap')
        return writer.__enter__()

    def _write_out(self, bag: BagWriter | None, name: str, now: float, fix: GeoFix) -> None:
        if bag is not None:
            bag.write(f'/{self.options.node_name}/{name}', now, bag.navsat(fix))

    def _write_state(self, bag: BagWriter | None, now: float, status) -> None:
        """Write ~/gnss_state like the node: a DiagnosticStatus whenever the health changes."""
        if bag is None or status.health == self._written_health:
            return
        self._written_health = status.health
        values = {'health': status.health.value, 'reason': status.reason,
                  'since': f'{status.since:.3f}',
                  'last_good_fix_age_s': f'{status.last_good_age(now):.3f}'}
        bag.write(f'/{self.options.node_name}/gnss_state', now, bag.msg(
            'diagnostic_msgs/msg/DiagnosticStatus', level=0 if status.ok else 1,
            name='gnss', message=f'{status.health.value}: {status.reason}',
            hardware_id='primary_gnss',
            values=[bag.msg('diagnostic_msgs/msg/KeyValue', key=k, value=v)
                    for k, v in values.items()]))


def _header_stamp(message, fallback: float) -> float:
    stamp = message.header.stamp
    value = stamp.sec + stamp.nanosec * 1e-9
    return value if value > 0.0 else fallback
