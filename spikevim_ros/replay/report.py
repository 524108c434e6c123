"""Short human-readable replay reports (Markdown or HTML) that link the plots and files."""

from __future__ import annotations

import html
from pathlib import Path

MAX_BAD_ROWS = 5


def _fmt(value, unit: str = '', digits: int = 1) -> str:
    if value is None:
        return 'n/a'
    if isinstance(value, float):
        return f'{value:.{digits}f}{unit}'
    return f'{value}{unit}'


def _percent(share: float | None) -> str:
    return 'n/a' if share is None else f'{100.0 * share:.0f} %'


def key_rows(metrics: dict) -> list[tuple[str, str]]:
    """Return the headline (label, value) pairs printed by the CLI and shown in reports."""
    outage = metrics.get('vision_error_in_outage', {})
    overall = metrics.get('vision_error', {})
    fraction = metrics.get('outage_fix_fraction')
    consistency = metrics.get('covariance_consistency', {})
    denied = metrics.get('covariance_consistency_in_outage', {})
    timing = metrics.get('processing_time_s', {})
    latency = metrics.get('latency_s', {})
    coverage = metrics.get('outage_time_coverage')
    rows = [
        ('timing', metrics.get('mode', 'n/a')),
        ('camera frames', f"{metrics.get('frames', 0)} read of {metrics.get('frames_in_bag', 0)}"
                          f" in the bag: {metrics.get('frames_processed', 0)} processed, "
                          f"{metrics.get('frames_dropped', 0)} dropped while busy, "
                          f"{metrics.get('frames_bad', 0)} bad"),
        ('frames with a vision fix', _fmt(metrics.get('frames_with_vision_fix'))),
        ('frames where the encoder ranked the map (no small prior window)',
         _fmt(metrics.get('frames_encoder_ran'))),
        ('frames while GNSS denied', f"{_fmt(metrics.get('frames_in_outage'))} "
                                     f"({_fmt(metrics.get('frames_dropped_in_outage'))} dropped)"),
        ('denied frames with their own vision fix',
         'n/a' if fraction is None else f'{100.0 * fraction:.1f} %'),
        (f"denied time covered by a fix at most {_fmt(metrics.get('max_fix_age_s'), ' s', 0)} "
         'old', 'n/a' if coverage is None else f'{100.0 * coverage:.1f} %'),
        ('vision error while denied: median / p95 / max',
         f"{_fmt(outage.get('median_m'), ' m')} / {_fmt(outage.get('p95_m'), ' m')} / "
         f"{_fmt(outage.get('max_m'), ' m')}"),
        ('vision error overall: median / p95',
         f"{_fmt(overall.get('median_m'), ' m')} / {_fmt(overall.get('p95_m'), ' m')}"),
        ('GNSS loss detected after fault start', _fmt(metrics.get('detection_delay_s'), ' s', 2)),
        ('first fallback fix published after loss declared',
         _fmt(metrics.get('first_fallback_latency_s'), ' s', 2)),
        ('errors inside reported 2-sigma: all fixes / while denied (ideal 86 %)',
         f"{_percent(consistency.get('inside_2sigma'))} / "
         f"{_percent(denied.get('inside_2sigma'))}"),
        ('processing time per frame: median / p95 / max',
         f"{_fmt(timing.get('median'), ' s', 3)} / {_fmt(timing.get('p95'), ' s', 3)} / "
         f"{_fmt(timing.get('max'), ' s', 3)}"),
        ('processing per stage, median / p95 (ms)',
         ', '.join(f"{stage} {_fmt(spread.get('median'), '', 0)} / "
                   f"{_fmt(spread.get('p95'), '', 0)}"
                   for stage, spread in metrics.get('stage_time_ms', {}).items()
                   if spread.get('median') is not None) or 'n/a'),
        ('fix latency after the image stamp: median / p95 / max',
         f"{_fmt(latency.get('median'), ' s', 3)} / {_fmt(latency.get('p95'), ' s', 3)} / "
         f"{_fmt(latency.get('max'), ' s', 3)}"),
    ]
    dead = metrics.get('dead_reckoned_error_in_outage') or {}
    if dead.get('count'):
        inside = metrics.get('dead_reckoned_inside_2sigma')
        rows.append(('dead-reckoned fixes while denied (not counted as vision): count, error '
                     'median / p95, inside 2-sigma',
                     f"{dead['count']}, {_fmt(dead.get('median_m'), ' m')} / "
                     f"{_fmt(dead.get('p95_m'), ' m')}, {_percent(inside)}"))
    if metrics.get('truncated'):
        rows.append(('bag', metrics['truncated']))
    for bad in metrics.get('bad_frames', [])[:MAX_BAD_ROWS]:
        rows.append((f"bad frame at {bad['t']:.2f} s on {bad['topic']}", bad['reason']))
    if len(metrics.get('bad_frames', [])) > MAX_BAD_ROWS:
        rows.append(('more bad frames', f"{len(metrics['bad_frames']) - MAX_BAD_ROWS} "
                                        '(all in metrics.json)'))
    for spoof in metrics.get('spoofing', []):
        verdict = 'detected' if spoof['detected'] else 'NOT detected'
        if spoof.get('already_lost_at_start') and not spoof['detected']:
            verdict += ' (GNSS was already LOST for another reason)'
        delay = '' if spoof['delay_s'] is None else f" after {spoof['delay_s']:.2f} s"
        rows.append((f"spoofing {spoof['kind']} at {spoof['start_s']:.0f} s", verdict + delay))
    for note in metrics.get('notes', []):
        rows.append(('note', note))
    return rows


def write_report(out_dir: Path, metrics: dict, plots: dict[str, Path], title: str,
                 fmt: str = 'md') -> Path:
    """Write ``report.md`` or ``report.html`` into ``out_dir`` and return its path."""
    rows = key_rows(metrics)
    losses = metrics.get('loss_declared', [])
    names = {'track': 'Track over the map', 'error': 'Error over time',
             'cdf': 'Error distribution'}
    if fmt == 'html':
        table = '\n'.join(f'<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>'
                          for a, b in rows)
        loss_items = '\n'.join(
            f"<li>{e['t']:.2f} s: {html.escape(e['reason'])}</li>" for e in losses)
        figures = '\n'.join(f'<h2>{names.get(k, k)}</h2><img src="{p.name}" width="900">'
                            for k, p in plots.items())
        text = (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
                f'</title></head><body style="font-family:sans-serif;max-width:960px">'
                f'<h1>{html.escape(title)}</h1><table border="1" cellpadding="4">{table}'
                f'</table><h2>GNSS monitor: loss declared</h2><ul>{loss_items}</ul>{figures}'
                '<p>Files: metrics.json, frames.csv, output_bag/</p></body></html>\n')
        path = out_dir / 'report.html'
    else:
        lines = [f'# {title}', '', '| metric | value |', '|---|---|']
        lines += [f'| {a} | {b} |' for a, b in rows]
        lines += ['', '## GNSS monitor: loss declared', '']
        lines += [f"- {e['t']:.2f} s: {e['reason']}" for e in losses] or ['- never']
        for key, path in plots.items():
            lines += ['', f'## {names.get(key, key)}', '', f'![{key}]({path.name})']
        lines += ['', 'Files: `metrics.json` (all numbers), `frames.csv` (one row per frame), '
                  '`output_bag/` (the node\'s topics).', '']
        text = '\n'.join(lines)
        path = out_dir / 'report.md'
    path.write_text(text)
    return path
