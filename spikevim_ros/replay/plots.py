"""
Replay plots: the track over the map, the error over time with outages shaded, the error CDF.

Matplotlib with the Agg backend; every function writes one PNG and returns its path.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from spikevim_ros.replay.metrics import FrameRecord  # noqa: E402

COLOURS = {'truth': '#ffffff', 'gnss': '#29b6f6', 'vision': '#ff7043', 'vision_out': '#ffd54f',
           'outage': '#ef5350', 'lost': '#9e9e9e', 'selected': '#1e88e5'}


def _column(records: list[FrameRecord], name: str) -> np.ndarray:
    return np.array([getattr(r, name) for r in records], dtype=np.float64)


def plot_track(records: list[FrameRecord], gnss_en: np.ndarray, out: Path,
               background: tuple[np.ndarray, tuple] | None = None,
               title: str = 'Flight track') -> Path:
    """Draw truth, GNSS and vision fixes (east/north metres) over the map image."""
    fig, ax = plt.subplots(figsize=(10, 7), dpi=110)
    te, tn = _column(records, 'truth_east'), _column(records, 'truth_north')
    ve, vn = _column(records, 'vision_east'), _column(records, 'vision_north')
    in_outage = np.array([r.in_outage for r in records], dtype=bool)
    points = [a[np.isfinite(a)] for a in (te, ve, gnss_en[:, 0] if len(gnss_en) else te)]
    xs = np.concatenate([points[0], points[1], points[2]])
    ns = np.concatenate([tn[np.isfinite(tn)], vn[np.isfinite(vn)],
                         gnss_en[:, 1][np.isfinite(gnss_en[:, 1])] if len(gnss_en) else tn[:0]])
    if background is not None:
        image, extent = background
        ax.imshow(image, extent=extent, interpolation='bilinear')
    if len(gnss_en):
        ax.scatter(gnss_en[:, 0], gnss_en[:, 1], s=9, c=COLOURS['gnss'], alpha=0.7,
                   linewidths=0, label='GNSS (as received)', zorder=2)
    ax.plot(te, tn, '-', color=COLOURS['truth'], lw=2.2, label='ground truth', zorder=3)
    if np.any(in_outage):
        outage_track = np.where(in_outage, tn, np.nan)
        ax.plot(te, outage_track, '-', color=COLOURS['outage'], lw=2.2,
                label='ground truth, GNSS denied', zorder=3)
    ok = ~in_outage & np.isfinite(ve)
    ax.scatter(ve[ok], vn[ok], s=22, c=COLOURS['vision'], edgecolors='black', linewidths=0.4,
               label='vision fix', zorder=4)
    out_mask = in_outage & np.isfinite(ve)
    ax.scatter(ve[out_mask], vn[out_mask], s=26, marker='D', c=COLOURS['vision_out'],
               edgecolors='black', linewidths=0.4, label='vision fix, GNSS denied', zorder=5)
    if np.isfinite(te).any():
        ax.plot(te[np.isfinite(te)][0], tn[np.isfinite(te)][0], 'o', ms=9, mfc='none',
                mec='white', mew=2, zorder=6)
    if xs.size:
        pad = 60.0
        ax.set_xlim(max(xs.min() - pad, _extent(background, 0)),
                    min(xs.max() + pad, _extent(background, 1)))
        ax.set_ylim(max(ns.min() - pad, _extent(background, 2)),
                    min(ns.max() + pad, _extent(background, 3)))
    ax.set_aspect('equal')
    ax.set_xlabel('east [m]')
    ax.set_ylabel('north [m]')
    ax.set_title(title)
    ax.legend(loc='upper right', fontsize=8, framealpha=0.85)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _extent(background, index: int) -> float:
    if background is None:
        return -math.inf if index % 2 == 0 else math.inf
    return background[1][index]


def _shade(ax, windows: list[tuple[float, float]], colour: str, label: str, alpha: float
           ) -> None:
    for i, (a, b) in enumerate(windows):
        ax.axvspan(a, b, color=colour, alpha=alpha, lw=0, label=label if i == 0 else None)


def plot_error_over_time(records: list[FrameRecord], out: Path,
                         denied: list[tuple[float, float]],
                         lost: list[tuple[float, float]]) -> Path:
    """Plot vision and published-fix errors against time, with denied and LOST timelines."""
    fig, (ax, strip) = plt.subplots(2, 1, figsize=(10, 5.6), dpi=110, sharex=True,
                                    gridspec_kw={'height_ratios': [4, 1.3]})
    t = _column(records, 't')
    vision, sigma = _column(records, 'vision_error_m'), _column(records, 'vision_sigma_m')
    selected = np.array([r.selected_error_m for r in records])
    _shade(ax, denied, COLOURS['outage'], 'GNSS denied (injected)', 0.12)
    ax.plot(t, selected, '-', color=COLOURS['selected'], lw=1.4, label='published fix')
    ax.plot(t, 2 * sigma, '--', color='#6d4c41', lw=1.0, label='vision 2-sigma (reported)')
    ax.plot(t, vision, 'o', color=COLOURS['vision'], ms=3.5, mec='black', mew=0.3,
            label='vision fix')
    top = np.nanmax(np.concatenate([vision, selected, [10.0]]))
    ax.set_ylim(0, min(max(top * 1.1, 10.0), 400.0))
    ax.set_ylabel('horizontal error [m]')
    ax.grid(alpha=0.3)
    ax.legend(loc='upper left', fontsize=8, ncol=4)
    ax.set_title('Horizontal error over time')
    rows = [('GNSS denied', denied, COLOURS['outage']), ('monitor LOST', lost, '#616161')]
    for y, (label, windows, colour) in enumerate(rows):
        strip.broken_barh([(a, b - a) for a, b in windows], (3 - y - 0.35, 0.7),
                          color=colour, alpha=0.8)
    for y, source, colour in ((1, 'gnss', COLOURS['gnss']), (0, 'vision', COLOURS['vision'])):
        mask = np.array([r.selected_source == source for r in records], dtype=bool)
        strip.plot(t[mask], np.full(int(mask.sum()), y), '|', ms=7, color=colour)
    strip.set_yticks([3, 2, 1, 0], ['GNSS denied', 'monitor LOST', 'published GNSS',
                                    'published vision'], fontsize=8)
    strip.set_ylim(-0.6, 3.6)
    strip.grid(alpha=0.3, axis='x')
    strip.set_xlabel('time since start of bag [s]')
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_error_cdf(records: list[FrameRecord], out: Path) -> Path:
    """Plot the cumulative distribution of the vision error, overall and while GNSS denied."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    judged = [r for r in records if math.isfinite(r.truth_east)]
    groups = (('all frames', [r.vision_error_m for r in judged], COLOURS['vision']),
              ('GNSS denied', [r.vision_error_m for r in judged if r.in_outage], '#c62828'))
    for label, errors, colour in groups:
        values = np.sort(np.array([e for e in errors if math.isfinite(e)]))
        if values.size == 0:
            continue
        # Frames without a fix count as failures: the curve then tops out below 1.
        fraction = np.arange(1, values.size + 1) / len(errors)
        ax.step(values, fraction, where='post', color=colour, lw=1.8,
                label=f'{label}: {values.size}/{len(errors)} frames with a fix, median '
                      f'{np.median(values):.1f} m, p95 {np.percentile(values, 95):.1f} m')
    for q in (0.5, 0.95):
        ax.axhline(q, color='grey', lw=0.8, ls=':')
    ax.set_xscale('log')
    plain = FuncFormatter(lambda value, _: f'{value:g}')
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel('vision horizontal error [m]')
    ax.set_ylabel('fraction of frames (no fix = never)')
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3, which='both')
    ax.legend(loc='upper left', fontsize=8)
    ax.set_title('Vision fix error CDF')
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
