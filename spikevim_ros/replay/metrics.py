"""
Per-frame replay records and the metrics computed from them.

Errors are horizontal distances to the ground truth at the frame's stamp. "Outage" means the
GNSS-denied windows: injected faults recorded by the simulator or given at replay time.

Every camera frame of the bag is one record, processed or not: availability while GNSS is denied
is the share of denied frames whose *own* processing produced a vision fix (a dropped or failed
frame counts as no fix, whatever was published around it).
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from spikevim_ros.localization.types import STAGES

PROCESSED, DROPPED, BAD = 'processed', 'dropped', 'bad'

# 2-D Gaussian: probability that the error lies inside k sigma (per axis), k = 1, 2, 3.
_EXPECTED_INSIDE = {k: 1.0 - math.exp(-k * k / 2.0) for k in (1, 2, 3)}


@dataclass
class FrameRecord:
    """What happened to one camera frame of the bag."""

    stamp: float
    t: float                       # seconds since the start of the bag
    in_outage: bool
    gnss_health: str
    status: str = PROCESSED        # PROCESSED, DROPPED (replaced while busy) or BAD (unusable)
    truth_east: float = math.nan   # metres in the evaluation frame
    truth_north: float = math.nan
    vision_east: float = math.nan
    vision_north: float = math.nan
    vision_sigma_m: float = math.nan
    vision_cov_ee: float = math.nan  # reported covariance (m^2): east, north, cross term
    vision_cov_nn: float = math.nan
    vision_cov_en: float = math.nan
    sigma_alignment_m: float = math.nan  # terms of the reported covariance, 1-sigma per axis
    sigma_retrieval_m: float = math.nan
    sigma_tilt_m: float = math.nan
    sigma_map_m: float = math.nan
    sigma_changed_ground_m: float = math.nan  # coarse-only fixes
    tilt_sigma_deg: float = math.nan  # the camera tilt sigma behind sigma_tilt_m (learnt)
    vision_nees: float = math.nan  # e^T C^-1 e with the reported 2x2 covariance (expect 2)
    vision_confident: bool = False
    selected_source: str = 'none'  # 'gnss', 'vision' or 'none'
    selected_east: float = math.nan
    selected_north: float = math.nan
    processing_s: float = math.nan
    published_t: float = math.nan  # when its outputs went out, seconds since the start
    latency_s: float = math.nan    # published - image stamp (waiting + processing)
    search_path: str = ''          # in_flight, heading_search or scale_search (inputs known)
    encoder_ran: bool = False      # the encoder ranked the map (no small prior window)
    motion: str = ''               # what moved the prior (odometry input, visual odometry, none)
    dead_reckoned_east: float = math.nan   # the dead-reckoned fix (publish_dead_reckoning)
    dead_reckoned_north: float = math.nan
    dead_reckoned_sigma_m: float = math.nan
    result: str = ''               # the localizer's (or the confirmation's) verdict
    stage_ms: dict = field(default_factory=dict)  # processing time per stage (types.STAGES)

    @property
    def vision_covariance(self) -> np.ndarray:
        """Return the reported 2 x 2 east/north covariance (NaN without a fix)."""
        return np.array([[self.vision_cov_ee, self.vision_cov_en],
                         [self.vision_cov_en, self.vision_cov_nn]])

    @property
    def has_vision_fix(self) -> bool:
        """Return True when this frame's own processing produced a vision fix."""
        return math.isfinite(self.vision_east)

    @property
    def vision_error_m(self) -> float:
        """Return the horizontal error of the vision fix (NaN without fix or truth)."""
        return math.hypot(self.vision_east - self.truth_east, self.vision_north - self.truth_north)

    @property
    def dead_reckoned_error_m(self) -> float:
        """Return the horizontal error of the dead-reckoned fix (NaN without one)."""
        return math.hypot(self.dead_reckoned_east - self.truth_east,
                          self.dead_reckoned_north - self.truth_north)

    @property
    def selected_error_m(self) -> float:
        """Return the horizontal error of the published (selected) fix."""
        return math.hypot(self.selected_east - self.truth_east,
                          self.selected_north - self.truth_north)


CSV_COLUMNS = [f.name for f in fields(FrameRecord) if f.name != 'stage_ms'] + [
    f'{stage}_ms' for stage in STAGES] + ['vision_error_m', 'selected_error_m',
                                          'dead_reckoned_error_m']


class FrameCsvWriter:
    """Stream frame records to a CSV file."""

    def __init__(self, path) -> None:
        self._file = open(path, 'w', newline='')
        self._csv = csv.writer(self._file)
        self._csv.writerow(CSV_COLUMNS)

    def write(self, record: FrameRecord) -> None:
        """Append one row."""
        row = asdict(record)
        row.update({f'{stage}_ms': record.stage_ms.get(stage, math.nan) for stage in STAGES})
        row['vision_error_m'] = record.vision_error_m
        row['selected_error_m'] = record.selected_error_m
        row['dead_reckoned_error_m'] = record.dead_reckoned_error_m
        self._csv.writerow([_csv_value(row[c]) for c in CSV_COLUMNS])

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


def _csv_value(value):
    if isinstance(value, float):
        return '' if math.isnan(value) else f'{value:.4f}'
    return value


def error_stats(errors) -> dict:
    """Return count, median, mean, p95 and max of finite errors (None when empty)."""
    values = np.asarray([e for e in errors if math.isfinite(e)], dtype=np.float64)
    if values.size == 0:
        return {'count': 0, 'median_m': None, 'mean_m': None, 'p95_m': None, 'max_m': None}
    return {'count': int(values.size), 'median_m': float(np.median(values)),
            'mean_m': float(values.mean()), 'p95_m': float(np.percentile(values, 95)),
            'max_m': float(values.max())}


def consistency(records: list[FrameRecord]) -> dict:
    """Return how honest the reported vision covariance is."""
    pairs = [(r.vision_error_m, r.vision_sigma_m, r.vision_nees) for r in records
             if math.isfinite(r.vision_error_m) and math.isfinite(r.vision_sigma_m)
             and r.vision_sigma_m > 0.0]
    if not pairs:
        return {'count': 0}
    errors, sigmas, nees = (np.array(v, dtype=np.float64) for v in zip(*pairs))
    finite_nees = nees[np.isfinite(nees)]
    out = {'count': len(pairs),
           'mean_nees': float(finite_nees.mean()) if finite_nees.size else None,
           'expected_mean_nees': 2.0}
    for k, expected in _EXPECTED_INSIDE.items():
        out[f'inside_{k}sigma'] = float(np.mean(errors <= k * sigmas))
        out[f'expected_inside_{k}sigma'] = expected
    return out


class CoverageMeter:
    """
    Time covered by published fixes: from each publication until the fix is ``max_age_s`` old.

    Consecutive covered stretches merge, so memory grows with the number of gaps, not fixes.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._spans: list[list[float]] = []

    def published(self, now: float, fix_stamp: float) -> None:
        """Note a fix with stamp ``fix_stamp`` published at ``now``."""
        end = fix_stamp + self.max_age_s
        if end <= now:
            return
        if self._spans and now <= self._spans[-1][1]:
            self._spans[-1][1] = max(self._spans[-1][1], end)
        else:
            self._spans.append([now, end])

    def fraction(self, windows: list[tuple[float, float]]) -> float | None:
        """Return the covered share of the total length of ``windows`` (None without any)."""
        total = sum(max(b - a, 0.0) for a, b in windows)
        if total <= 0.0:
            return None
        covered = sum(max(min(b, y) - max(a, x), 0.0) for a, b in windows
                      for x, y in self._spans)
        return covered / total


def spoofing_outcomes(faults: list[dict], loss_events: list[dict],
                      lost_windows: list[tuple[float, float]]) -> list[dict]:
    """
    Return, per spoofing fault (drift/jump; seconds since the start), whether it was detected.

    Detected means the monitor went from OK to LOST between the fault start and 1 s after its
    end; a monitor already LOST at the fault start (for another reason) has detected nothing.
    """
    outcomes = []
    for fault in faults:
        a, b = fault['start_s'], fault['start_s'] + fault['duration_s']
        hits = [e for e in loss_events if a <= e['t'] < b + 1.0]
        outcomes.append({'kind': fault['kind'], 'start_s': a, 'end_s': b,
                         'detected': bool(hits),
                         'already_lost_at_start': any(x <= a < y for x, y in lost_windows),
                         'delay_s': (hits[0]['t'] - a) if hits else None,
                         'reason': hits[0]['reason'] if hits else None})
    return outcomes


def _spread(values) -> dict:
    array = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if not array.size:
        return {'median': None, 'p95': None, 'max': None}
    return {'median': float(np.median(array)), 'p95': float(np.percentile(array, 95)),
            'max': float(array.max())}


def summarize(records: list[FrameRecord], events: dict) -> dict:
    """
    Return the metrics dictionary written to ``metrics.json``.

    ``events`` holds what the replay saw outside frames: ``loss_declared`` (list of monitor
    LOST transitions with reasons), ``first_fallback_latency_s``, ``denied_windows``,
    ``spoofing`` (per spoofing fault: detected and delay), the mode and counters.
    """
    outage = [r for r in records if r.in_outage]
    processed = [r for r in records if r.status == PROCESSED]
    return {
        'frames': len(records),
        'frames_processed': len(processed),
        'frames_dropped': sum(r.status == DROPPED for r in records),
        'frames_bad': sum(r.status == BAD for r in records),
        'frames_with_vision_fix': sum(r.has_vision_fix for r in records),
        'frames_encoder_ran': sum(r.encoder_ran for r in processed),
        'frames_in_outage': len(outage),
        'frames_dropped_in_outage': sum(r.status == DROPPED for r in outage),
        'outage_fix_fraction': _share(r.has_vision_fix for r in outage),
        'outage_verified_fix_fraction': _share(r.has_vision_fix and r.vision_confident
                                               for r in outage),
        'unverified_error_in_outage': error_stats(r.vision_error_m for r in outage
                                                  if not r.vision_confident),
        'vision_error': error_stats(r.vision_error_m for r in records),
        'vision_error_in_outage': error_stats(r.vision_error_m for r in outage),
        'selected_error': error_stats(r.selected_error_m for r in records),
        'selected_error_in_outage': error_stats(r.selected_error_m for r in outage),
        'dead_reckoned_error_in_outage': error_stats(r.dead_reckoned_error_m for r in outage),
        'dead_reckoned_inside_2sigma': _share(
            r.dead_reckoned_error_m <= 2.0 * r.dead_reckoned_sigma_m for r in outage
            if math.isfinite(r.dead_reckoned_error_m)),
        'covariance_consistency': consistency(records),
        'covariance_consistency_in_outage': consistency(outage),
        'processing_time_s': _spread(r.processing_s for r in processed),
        'stage_time_ms': {stage: _spread(r.stage_ms.get(stage, math.nan) for r in processed)
                          for stage in STAGES},
        'latency_s': _spread(r.latency_s for r in processed),
        **events,
    }


def _share(flags) -> float | None:
    """Return the share of True among ``flags`` (None when there are none)."""
    values = list(flags)
    return sum(values) / len(values) if values else None
