"""
Cross-date scenarios: flights rendered from one NAIP date, localized against another date's map.

The area of ``../shared/data/naip_multidate_west`` (2.1 x 3.6 km, 5 m/px) was imaged on ten dates;
each scenario builds a gallery from one date, simulates a 600 m, 15 m/s flight over another with
a 150 s GNSS outage, and replays it in real time (measured processing time, or ``--frame-budget``).
A same-date flight runs as the sanity check. Writes one JSON with every scenario's metrics.

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
        'frames_in_outage', 'outage_fix_fraction', 'outage_time_coverage',
        'vision_error_in_outage', 'selected_error_in_outage', 'covariance_consistency',
        'detection_delay_s', 'first_fallback_latency_s', 'processing_time_s', 'latency_s',
        'loss_declared', 'monitor_lost_windows_s', 'dead_reckoned_error_in_outage',
        'dead_reckoned_inside_2sigma')


def run_scenario(name: str, work: Path, outage_s: float, budget: float | None,
                 motion: str = 'odometry', dead_reckoning: bool = False) -> dict:
    """Build (or reuse) the gallery, fly, replay; return the headline metrics."""
    gallery_date, flight_date = SCENARIOS[name]
    gallery = naip_gallery(work, gallery_date)       # built once per --work folder
    for stale in (work / f'{name}_bag', work / f'{name}_replay'):   # a rerun in the same folder
        shutil.rmtree(stale, ignore_errors=True)
    summary = cross_date_flight(work / f'{name}_bag', flight_date, outage_s)
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
