"""
Per-frame replay records and the metrics computed from them.

Errors are horizontal distances to the ground truth at the frame's stamp. "Outage" means the
GNSS-denied windows: injected faults recorded by the simulator or given at replay time.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

# 2-D Gaussian: probability that the error lies inside k sigma (per axis), k = 1, 2, 3.
_EXPECTED_INSIDE = {k: 1.0 - math.exp(-k * k / 2.0) for k in (1, 2, 3)}


@dataclass
class FrameRecord:
    """What happened at one processed camera frame."""

    stamp: float
    t: float                       # seconds since the start of the bag
    in_outage: bool
    gnss_health: str
    truth_east: float = math.nan   # metres in the evaluation frame
    truth_north: float = math.nan
    vision_east: float = math.nan
    vision_north: float = math.nan
    vision_sigma_m: float = math.nan
    vision_nees: float = math.nan  # e^T C^-1 e with the reported 2x2 covariance (expect 2)
    vision_confident: bool = False
    selected_source: str = 'none'  # 'gnss', 'vision' or 'none'
    selected_east: float = math.nan
    selected_north: float = math.nan
    processing_s: float = math.nan

    @property
    def vision_error_m(self) -> float:
        """Return the horizontal error of the vision fix (NaN without fix or truth)."""
        return math.hypot(self.vision_east - self.truth_east, self.vision_north - self.truth_north)

    @property
    def selected_error_m(self) -> float:
        """Return the horizontal error of the published (selected) fix."""
        return math.hypot(self.selected_east - self.truth_east,
                          self.selected_north - self.truth_north)


CSV_COLUMNS = [f.name for f in fields(FrameRecord)] + ['vision_error_m', 'selected_error_m']


class FrameCsvWriter:
    """Stream frame records to a CSV file."""

    def __init__(self, path) -> None:
        self._file = open(path, 'w', newline='')
        self._csv = csv.writer(self._file)
        self._csv.writerow(CSV_COLUMNS)

    def write(self, record: FrameRecord) -> None:
        """Append one row."""
        row = asdict(record)
        row['vision_error_m'] = record.vision_error_m
        row['selected_error_m'] = record.selected_error_m
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


def summarize(records: list[FrameRecord], events: dict) -> dict:
    """
    Return the metrics dictionary written to ``metrics.json``.

    ``events`` holds what the replay saw outside frames: ``loss_declared`` (list of monitor
    LOST transitions with reasons), ``first_fallback_latency_s``, ``denied_windows``,
    ``spoofing`` (per spoofing fault: detected and delay) and counters.
    """
    outage = [r for r in records if r.in_outage]
    processing = np.array([r.processing_s for r in records if math.isfinite(r.processing_s)])
    with_fix_outage = [r for r in outage if r.selected_source == 'vision'
                       or math.isfinite(r.vision_east)]
    return {
        'frames': len(records),
        'frames_with_vision_fix': sum(math.isfinite(r.vision_east) for r in records),
        'frames_in_outage': len(outage),
        'outage_fix_fraction': (len(with_fix_outage) / len(outage)) if outage else None,
        'vision_error': error_stats(r.vision_error_m for r in records),
        'vision_error_in_outage': error_stats(r.vision_error_m for r in outage),
        'selected_error': error_stats(r.selected_error_m for r in records),
        'selected_error_in_outage': error_stats(r.selected_error_m for r in outage),
        'covariance_consistency': consistency(records),
        'processing_time_s': {
            'median': float(np.median(processing)) if processing.size else None,
            'p95': float(np.percentile(processing, 95)) if processing.size else None,
            'max': float(processing.max()) if processing.size else None},
        **events,
    }
