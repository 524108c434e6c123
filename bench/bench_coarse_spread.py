"""
Calibrate ``align.SPREAD_TEMPERATURE``, which turns a coarse score map into a covariance.

Frames of one NAIP date are rendered along the cross-date flight line (600 m, nadir, attitude and
height known) and localized on a gallery of another date inside a prior disc whose centre is off
by a normal error of a third of its radius. Frames whose patches do not verify get the coarse
fallback (``coarse match only``); for each of them and each temperature the squared Mahalanobis
distance of its error under the covariance the pipeline would publish (score map spread, map
term, changed-ground term, tilt term of the learnt 0.4 deg) is collected. Printed: the share
inside 1, 2 and 3 sigma (ideal 39 / 86 / 99 %). Use a date pair other than the bench's
(2016 / 2018, 2010 / 2020).

Example (the constant in spikevim_ros/localization/align.py is calibrated on the spread
alone)::

    python bench/bench_coarse_spread.py --changed-ground-sigma 0 \
        --out bench_results/coarse_spread.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'test'))

from sim_scenarios import (CAMERA, CROSS_DATE_ALTITUDE_M, CROSS_DATE_PATH,  # noqa: E402
                           CROSS_DATE_SPEED_MPS, naip_gallery, naip_raster)
from spikevim_ros.camera import CameraPose  # noqa: E402
from spikevim_ros.georaster import load_rasters  # noqa: E402
from spikevim_ros.localization import align  # noqa: E402
from spikevim_ros.localization.types import LocalizerConfig, Prior  # noqa: E402
from spikevim_ros.render import render_view  # noqa: E402
from spikevim_ros.replay.pipeline_factory import load_pipeline  # noqa: E402

TILT_DEG = 0.4      # what the pipeline learns on cross-date flights (docs/simulation_replay.md)


def coarse_fixes(localizer, flight_date: str, radius_m: float, step_s: int, seed: int
                 ) -> list[dict]:
    """Return the error and d2 of every coarse-only fix along the flight line."""
    raster = load_rasters(naip_raster(flight_date))[0]
    camera = CAMERA.pinhole()
    rng = np.random.default_rng(seed)
    tilt_m2 = (CROSS_DATE_ALTITUDE_M * math.tan(math.radians(TILT_DEG))) ** 2
    rows = []
    for t in tqdm(range(0, 185, step_s), desc=f'T={align.SPREAD_TEMPERATURE:g}', leave=False):
        truth = CROSS_DATE_PATH[0] + np.array([0.0, CROSS_DATE_SPEED_MPS * t])   # due north
        image, _ = render_view(raster, camera, CameraPose(truth[0], truth[1],
                                                          CROSS_DATE_ALTITUDE_M, yaw_deg=0.0))
        centre = truth + rng.normal(0.0, radius_m / 3.0, 2)
        lat, lon = raster.frame.to_latlon(centre[0], centre[1])
        result = localizer.localize(image, prior=Prior(float(lat), float(lon), radius_m),
                                    altitude_agl=CROSS_DATE_ALTITUDE_M, camera=camera,
                                    attitude_deg=(0.0, 0.0, 0.0))
        if not result.reason.startswith('coarse match only'):
            continue
        error = np.array(raster.frame.to_en(result.latitude, result.longitude)) - truth
        cov = np.asarray(result.covariance_en_m2) + tilt_m2 * np.eye(2)
        rows.append({'t': t, 'error_m': float(np.hypot(*error)), 'sigma_m': float(
            math.sqrt(np.trace(cov) / 2.0)), 'd2': float(error @ np.linalg.solve(cov, error))})
    return rows


def summary(rows: list[dict]) -> dict:
    """Return the coverage of 1, 2 and 3 sigma and the error and sigma medians."""
    d2 = np.array([r['d2'] for r in rows])
    return {'fixes': len(rows),
            'inside_1_2_3_sigma': [float(np.mean(d2 <= k * k)) if len(d2) else None
                                   for k in (1, 2, 3)],
            'error_median_m': float(np.median([r['error_m'] for r in rows])) if rows else None,
            'sigma_median_m': float(np.median([r['sigma_m'] for r in rows])) if rows else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gallery-date', default='20090818', help='date of the map (YYYYMMDD)')
    parser.add_argument('--flight-date', default='20190904', help='date of the frames')
    parser.add_argument('--prior-radius', type=float, default=150.0, help='prior disc (m)')
    parser.add_argument('--step', type=int, default=2, help='seconds of flight between frames')
    parser.add_argument('--temperatures', type=float, nargs='+',
                        default=[0.015, 0.0175, 0.02])
    parser.add_argument('--changed-ground-sigma', type=float,
                        default=LocalizerConfig.coarse_changed_ground_sigma_m,
                        help='the localizer\'s changed-ground term (m); 0: the spread alone')
    parser.add_argument('--work', type=Path, default=Path('/tmp/spikevim_bench_coarse'),
                        help='folder for the gallery (built once)')
    parser.add_argument('--out', type=Path, default=None)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    config = LocalizerConfig(coarse_changed_ground_sigma_m=args.changed_ground_sigma)
    localizer = load_pipeline(naip_gallery(args.work, args.gallery_date),
                              localizer_config=config)[0].localizer
    results = {}
    for temperature in args.temperatures:
        align.SPREAD_TEMPERATURE = temperature
        rows = coarse_fixes(localizer, args.flight_date, args.prior_radius, args.step, seed=0)
        results[str(temperature)] = {**summary(rows), 'frames': rows}
        print(f'T={temperature:g}', json.dumps(summary(rows)))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({'gallery_date': args.gallery_date,
                                        'flight_date': args.flight_date,
                                        'prior_radius_m': args.prior_radius,
                                        'changed_ground_sigma_m': args.changed_ground_sigma,
                                        'results': results}, indent=1))
        print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
