"""
End-to-end localize time per frame, split by stage, with error and covariance consistency.

Synthetic oblique 640x480 views (tilt 0-30 deg, any heading) of each map are localized in three
modes: ``inflight`` (prior disc, altitude, camera and attitude known: the usual case in flight),
``noheading`` (prior, altitude and camera, heading unknown) and ``kidnapped`` (nothing but the
frame). Prints per-mode medians (error, stage times, CPU time) and the fraction of errors inside
the 95 % covariance ellipse, and the speed-up of each mode against the kidnapped baseline
measured in the same run.

Example::

    python bench/bench_localize.py --frames 6 --out /tmp/bench_localize.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from spikevim_ros.encoder import build_encoder
from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
from spikevim_ros.georaster import load_rasters
from spikevim_ros.localization import Localizer
from spikevim_ros.localization.types import offline_config
from spikevim_ros.localization.evaluation import (error_en, inside_ellipse_fraction,
                                                  synthetic_views)

DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'
SOURCES = {'aero_vloc': DATA / 'aero_vloc/map/map_metadata.txt',
           'bali': DATA / 'orthophotos/riotiler_pix4d_bali_0.35m.tif',
           'colorado': DATA / 'orthophotos/riotiler_colorado_hro_0.15m.tif',
           'neon': DATA / 'orthophotos/deepforest_OSBS_029_neon_0.1m.tif'}
MODES = ('inflight', 'noheading', 'kidnapped')


def mode_arguments(mode: str, view) -> dict:
    """Return the keyword arguments of ``Localizer.localize`` for a mode."""
    if mode == 'kidnapped':
        return {}
    known = {'prior': view.prior, 'altitude_agl': view.pose.altitude_agl,
             'camera': view.camera}
    if mode == 'inflight':
        known['attitude_deg'] = (view.pose.yaw_deg, view.pose.pitch_deg, view.pose.roll_deg)
    return known


def run_source(name: str, source: Path, encoder, frames: int, modes: list[str], seed: int,
               workdir: Path) -> dict:
    """Build a small gallery of one map and localize synthetic views of it in each mode."""
    raster = load_rasters(source)[0]
    min_e, min_n, max_e, max_n = raster.bounds_en()
    side = round(0.6 * min(max_e - min_e, max_n - min_n), 1)
    gallery = build_gallery([source], workdir / name, encoder,
                            GalleryBuildConfig(tile_sides_m=(side,), input_size=224,
                                               progress=False))
    localizer = Localizer(gallery, encoder, offline_config())
    views = synthetic_views(gallery.raster(0), frames, np.random.default_rng(seed))
    report = {}
    for mode in modes:
        errors, covs, stages, cpu, fixes = [], [], [], [], 0
        for view in views:
            start = time.process_time()
            result = localizer.localize(view.image, **mode_arguments(mode, view))
            cpu.append((time.process_time() - start) * 1000.0)
            stages.append(result.timings_ms)
            if result.fix and result.verified:
                fixes += 1
                truth = (view.latitude, view.longitude)
                if mode != 'inflight':          # the image centre is reported: its ground point
                    truth = view.centre_latlon
                errors.append(error_en(result, *truth))
                covs.append(result.covariance_en_m2)
        norms = [float(np.hypot(*e)) for e in errors]
        report[mode] = {
            'frames': len(views), 'verified': fixes,
            'median_error_m': float(np.median(norms)) if norms else None,
            'inside_95_ellipse': inside_ellipse_fraction(errors, covs),
            'median_cpu_ms': float(np.median(cpu)),
            'median_stage_wall_ms': {k: float(np.median([s.get(k, 0.0) for s in stages]))
                                     for k in stages[0]},
        }
    return report


def main() -> int:
    """Parse arguments, run the benchmark, print and optionally save it."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=6, help='views per map')
    parser.add_argument('--sources', nargs='+', default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument('--modes', nargs='+', default=list(MODES), choices=list(MODES))
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args()
    encoder = build_encoder('T', runtime='auto')
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sources:
            results[name] = run_source(name, SOURCES[name], encoder, args.frames, args.modes,
                                       args.seed, Path(tmp))
            for mode, row in results[name].items():
                print(f'{name:10s} {mode:10s} verified {row["verified"]}/{row["frames"]}  '
                      f'median error {row["median_error_m"]}  '
                      f'inside 95% {row["inside_95_ellipse"]:.2f}  '
                      f'cpu {row["median_cpu_ms"]:.0f} ms  {row["median_stage_wall_ms"]}',
                      flush=True)
    if 'kidnapped' in args.modes:
        for name, rows in results.items():
            base = rows['kidnapped']['median_cpu_ms']
            print(name, {m: f'{base / r["median_cpu_ms"]:.1f}x faster than kidnapped'
                         for m, r in rows.items() if m != 'kidnapped'})
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
