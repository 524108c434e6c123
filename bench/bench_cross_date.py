"""
Cross-date scenarios: flights rendered from one NAIP date, localized against another date's map.

The area of ``../shared/data/naip_multidate_west`` (2.1 x 3.6 km, 5 m/px) was imaged on ten dates;
each scenario builds a gallery from one date, simulates a 600 m, 15 m/s flight over another with
a 150 s GNSS outage, and replays it in real time (measured processing time, or ``--frame-budget``).
A same-date flight runs as the sanity check. Writes one JSON with every scenario's metrics.

Which denied frames *could* be fixed: the same flight (same frames) is also replayed with GNSS
healthy throughout, every frame processed; a frame whose fix there lies within 15 m of the truth
is "matchable" (the map still shows its ground, and a 2 m GNSS prior finds it). The report gives
the share of matchable denied frames the product fixed, and the re-acquisition delay: after 3+
denied frames over unmatchable ground, the time from the first matchable frame to the first
vision fix.

Example (the figures in docs/simulation_replay.md)::

    python bench/bench_cross_date.py --out bench_results/cross_date.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'test'))

from sim_scenarios import cross_date_flight, naip_gallery  # noqa: E402

from spikevim_ros.replay.evaluate import run_replay  # noqa: E402
from spikevim_ros.replay.pipeline_factory import gallery_world, load_pipeline  # noqa: E402
from spikevim_ros.pipeline import PipelineConfig  # noqa: E402
from spikevim_ros.replay.runner import ReplayOptions  # noqa: E402

# (name, gallery date, flight date)
SCENARIOS = {
    'same_date_2018': ('20180716', '20180716'),
    'gallery2016_flight2018': ('20160816', '20180716'),
    'gallery2010_flight2020': ('20100629', '20200831'),
}
KEYS = ('mode', 'frames', 'frames_processed', 'frames_dropped', 'frames_encoder_ran',
        'frames_in_outage', 'outage_fix_fraction', 'outage_verified_fix_fraction',
        'unverified_error_in_outage', 'outage_time_coverage',
        'vision_error_in_outage', 'selected_error_in_outage', 'covariance_consistency',
        'covariance_consistency_in_outage',
        'detection_delay_s', 'first_fallback_latency_s', 'processing_time_s', 'stage_time_ms',
        'latency_s',
        'loss_declared', 'monitor_lost_windows_s', 'dead_reckoned_error_in_outage',
        'dead_reckoned_inside_2sigma')


MATCHABLE_M = 15.0      # a GNSS-prior fix this close to the truth: the ground still matches
LOST_OVER_FRAMES = 3    # unmatchable denied frames in a row that count as a lost track


def matchable_stamps(gallery: Path, flight_date: str, length_m: float, work: Path) -> set:
    """Return the frame stamps a healthy-GNSS, every-frame replay fixes within MATCHABLE_M."""
    summary = cross_date_flight(work / 'bag', flight_date, outage_s=0.0, length_m=length_m)
    pipeline, _ = load_pipeline(gallery)
    result = run_replay(summary.bag, pipeline, work / 'replay',
                        ReplayOptions(offline=True, progress=False), plots=False)
    return {r.stamp for r in result.trace.records
            if r.has_vision_fix and r.vision_error_m <= MATCHABLE_M}


def reacquisition(records: list, matchable: set) -> dict:
    """Return how the denied frames over still-matching ground fared (see the module doc)."""
    denied = [r for r in records if r.in_outage]
    over_map = [r for r in denied if r.stamp in matchable]
    delays, unmatched_run, waiting_since = [], 0, None
    for r in denied:
        if waiting_since is not None and r.has_vision_fix:
            delays.append(r.t - waiting_since)
            waiting_since = None
        if r.stamp in matchable:
            if unmatched_run >= LOST_OVER_FRAMES and not r.has_vision_fix:
                waiting_since = r.t
            elif unmatched_run >= LOST_OVER_FRAMES:
                delays.append(0.0)
            unmatched_run = 0
        else:
            unmatched_run += 1
    return {'denied_frames_matchable': len(over_map),
            'matchable_fix_fraction': (sum(r.has_vision_fix for r in over_map) / len(over_map)
                                       if over_map else None),
            'reacquisition_delays_s': delays,
            'never_reacquired': waiting_since is not None}


def run_scenario(name: str, work: Path, outage_s: float, budget: float | None,
                 motion: str = 'odometry', dead_reckoning: bool = False) -> dict:
    """Build (or reuse) the gallery, fly, replay; return the headline metrics."""
    gallery_date, flight_date = SCENARIOS[name]
    gallery = naip_gallery(work, gallery_date)       # built once per --work folder
    for stale in (work / f'{name}_bag', work / f'{name}_replay', work / f'{name}_oracle'):
        shutil.rmtree(stale, ignore_errors=True)     # a rerun in the same folder
    summary = cross_date_flight(work / f'{name}_bag', flight_date, outage_s)
    matchable = matchable_stamps(gallery, flight_date, summary.path_length_m,
                                 work / f'{name}_oracle')
    pipeline, loaded = load_pipeline(
        gallery, pipeline_config=PipelineConfig(visual_odometry=motion != 'none',
                                                publish_dead_reckoning=dead_reckoning))
    started = time.perf_counter()
    odom_topic = ReplayOptions.odom_topic if motion == 'odometry' else ''
    result = run_replay(summary.bag, pipeline, work / f'{name}_replay',
                        ReplayOptions(frame_budget_s=budget, odom_topic=odom_topic,
                                      progress=False),
                        world=gallery_world(loaded), plots=False)
    metrics = {key: result.metrics.get(key) for key in KEYS}
    metrics.update(reacquisition(result.trace.records, matchable))
    metrics.update(gallery_date=gallery_date, flight_date=flight_date, motion=motion,
                   replay_wall_s=time.perf_counter() - started)
    return metrics


def main() -> int:
    """Run the chosen scenarios and write their metrics."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', nargs='+', choices=sorted(SCENARIOS), default=None)
    parser.add_argument('--outage', type=float, default=150.0, help='GNSS silence (s)')
    parser.add_argument('--frame-budget', type=float, default=None,
                        help='fixed processing time per frame (default: measured)')
    parser.add_argument('--motion', choices=('odometry', 'visual', 'none'), default='odometry',
                        help="what moves the search prior between fixes: the bag's autopilot "
                             'odometry (default), the visual odometry (odometry topic left '
                             'out), or nothing (a disc growing at 15 m/s)')
    parser.add_argument('--dead-reckoning', action='store_true',
                        help='publish the odometry-moved last fix on frames without a vision '
                             'fix (reported apart; availability counts vision fixes only)')
    parser.add_argument('--work', type=Path, default=None,
                        help='folder for galleries, bags and replays (default: temporary)')
    parser.add_argument('--out', type=Path, default=ROOT / 'bench_results' / 'cross_date.json')
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.only or list(SCENARIOS):
            results[name] = run_scenario(name, work, args.outage, args.frame_budget, args.motion,
                                         args.dead_reckoning)
            print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + '\n')
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
