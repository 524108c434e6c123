"""
Kidnapped frames across dates: what one frame with no prior yields, and how long it takes.

Frames of a NAIP flight date are rendered at random places and headings of
``naip_multidate_west`` (600 m above ground, nadir, attitude and height known: a kidnapped start
in flight) and localized with no prior on a gallery of another date, by the product's localizer
with its default settings (1.8 s re-acquisition budget), each frame on its own (no ranking carried
over from the frame before). For each frame: verified (and its error), retrieval-only estimate
(the top tile, unverified: what ``retrieval_fallback`` would publish; it is off by default) and
whether its 2-sigma holds the truth, or nothing; and the time per frame.

Example::

    python bench/bench_kidnapped.py --frames 20 --out bench_results/kidnapped.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'test'))

from sim_scenarios import CAMERA, CROSS_DATE_ALTITUDE_M, naip_gallery, naip_raster  # noqa: E402
from spikevim_ros.camera import CameraPose  # noqa: E402
from spikevim_ros.georaster import load_rasters  # noqa: E402
from spikevim_ros.localization.localizer import Localizer  # noqa: E402
from spikevim_ros.localization.types import LocalizerConfig  # noqa: E402
from spikevim_ros.render import render_view  # noqa: E402
from spikevim_ros.replay.pipeline_factory import load_pipeline  # noqa: E402

SCENARIOS = {'gallery2018_flight2018': ('20180716', '20180716'),
             'gallery2016_flight2018': ('20160816', '20180716'),
             'gallery2010_flight2020': ('20100629', '20200831')}
AREA_M = (600.0, 1350.0)   # frame centres within +-east, +-north (footprint ~690 m inside)


def kidnapped_frames(gallery: Path, flight_date: str, count: int, seed: int) -> list[dict]:
    """Localize ``count`` random frames with no prior; return one row per frame."""
    shared = load_pipeline(gallery)[0].localizer
    config = LocalizerConfig(retrieval_fallback=True)       # to measure the estimate
    raster = load_rasters(naip_raster(flight_date))[0]
    camera = CAMERA.pinhole()
    rng = np.random.default_rng(seed)
    rows = []
    for _ in tqdm(range(count), desc=flight_date, leave=False):
        truth = rng.uniform(-1.0, 1.0, 2) * AREA_M
        yaw = float(rng.uniform(0.0, 360.0))
        image, _ = render_view(raster, camera, CameraPose(truth[0], truth[1],
                                                          CROSS_DATE_ALTITUDE_M, yaw_deg=yaw))
        localizer = Localizer(shared.gallery, shared.encoder, config)
        started = time.perf_counter()
        result = localizer.localize(image, altitude_agl=CROSS_DATE_ALTITUDE_M, camera=camera,
                                    attitude_deg=(yaw, 0.0, 0.0))
        row = {'seconds': time.perf_counter() - started, 'reason': result.reason,
               'outcome': ('verified' if result.verified else
                           'retrieval_only' if result.fix else 'none')}
        if result.fix:
            error = np.array(raster.frame.to_en(result.latitude, result.longitude)) - truth
            row.update(error_m=float(np.hypot(*error)), sigma_m=float(result.sigma_m))
        rows.append(row)
    return rows


def summary(rows: list[dict]) -> dict:
    """Return the outcome counts, verified errors, estimates inside 2-sigma and times."""
    verified = [r['error_m'] for r in rows if r['outcome'] == 'verified']
    estimates = [r for r in rows if r['outcome'] == 'retrieval_only']
    seconds = [r['seconds'] for r in rows]
    return {'frames': len(rows), 'verified': len(verified),
            'verified_error_median_m': float(np.median(verified)) if verified else None,
            'verified_beyond_50_m': sum(e > 50.0 for e in verified),
            'retrieval_only': len(estimates),
            'retrieval_only_inside_2_sigma': sum(r['error_m'] <= 2.0 * r['sigma_m']
                                                 for r in estimates),
            'retrieval_only_error_median_m': (float(np.median([r['error_m'] for r in estimates]))
                                              if estimates else None),
            'no_fix': sum(r['outcome'] == 'none' for r in rows),
            'seconds_median': float(np.median(seconds)),
            'seconds_p95': float(np.percentile(seconds, 95))}


def main() -> int:
    """Run the chosen scenarios and write their summaries and frames."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', nargs='+', choices=sorted(SCENARIOS), default=None)
    parser.add_argument('--frames', type=int, default=20, help='kidnapped frames per scenario')
    parser.add_argument('--seed', type=int, default=1, help='frame sampling seed')
    parser.add_argument('--work', type=Path, default=Path('/tmp/spikevim_bench_kidnapped'),
                        help='folder for the galleries (built once)')
    parser.add_argument('--out', type=Path, default=ROOT / 'bench_results' / 'kidnapped.json')
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.only or list(SCENARIOS):
        gallery_date, flight_date = SCENARIOS[name]
        rows = kidnapped_frames(naip_gallery(args.work, gallery_date), flight_date,
                                args.frames, args.seed)
        results[name] = {**summary(rows), 'frames_detail': rows}
        print(name, json.dumps(summary(rows)), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + '\n')
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
