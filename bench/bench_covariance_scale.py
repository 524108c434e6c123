"""
Calibrate ``LocalizerConfig.covariance_scale``, the factor on the alignment term of a covariance.

Synthetic oblique 640x480 views of each map (exact truth, attitude known, so the localizer reports
the nadir point) are localized with ``covariance_scale = 1`` and no map term. For the verified
fixes, the squared Mahalanobis distance d2 = e^T C^-1 e of the error under this formal
covariance is collected; the scale that puts 95 % of the errors inside the 95 % ellipse is
``sqrt(q95(d2) / 5.991)``. Printed per map and pooled; the pooled value is the constant.

Example (the constant in spikevim_ros/localization/types.py)::

    python bench/bench_covariance_scale.py --frames 12 --out bench_results/covariance_scale.json
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from bench_localize import SOURCES, mode_arguments
from spikevim_ros.encoder import build_encoder
from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
from spikevim_ros.georaster import load_rasters
from spikevim_ros.localization import Localizer
from spikevim_ros.localization.evaluation import CHI2_2DOF_95, error_en, synthetic_views
from spikevim_ros.localization.types import LocalizerConfig


def formal_distances(source: Path, encoder, frames: int, seed: int, workdir: Path
                     ) -> list[float]:
    """Return d2 of every verified fix of ``frames`` views of one map (formal covariance)."""
    raster = load_rasters(source)[0]
    min_e, min_n, max_e, max_n = raster.bounds_en()
    side = round(0.6 * min(max_e - min_e, max_n - min_n), 1)
    gallery = build_gallery([source], workdir / source.stem, encoder,
                            GalleryBuildConfig(tile_sides_m=(side,), input_size=224,
                                               progress=False))
    localizer = Localizer(gallery, encoder, LocalizerConfig(covariance_scale=1.0,
                                                            map_sigma_m=0.0))
    distances = []
    for view in synthetic_views(gallery.raster(0), frames, np.random.default_rng(seed)):
        result = localizer.localize(view.image, **mode_arguments('inflight', view))
        if result.fix and result.verified:
            error = error_en(result, view.latitude, view.longitude)
            distances.append(float(error @ np.linalg.solve(result.covariance_en_m2, error)))
    return distances


def scale_for(distances: list[float]) -> float:
    """Return the scale that puts 95 % of the errors inside their 95 % ellipse."""
    return math.sqrt(float(np.percentile(distances, 95)) / CHI2_2DOF_95)


def main() -> int:
    """Measure the distances on every map and print the calibrated scale."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=12, help='views per map')
    parser.add_argument('--sources', nargs='+', default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument('--seed', type=int, default=101)
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args()
    encoder = build_encoder('T', runtime='auto')
    results, pooled = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sources:
            distances = formal_distances(SOURCES[name], encoder, args.frames, args.seed,
                                         Path(tmp))
            pooled += distances
            results[name] = {'verified': len(distances), 'frames': args.frames,
                             'scale': scale_for(distances) if distances else None}
            print(name, results[name], flush=True)
    results['pooled'] = {'verified': len(pooled), 'scale': scale_for(pooled)}
    print(f"covariance_scale = {results['pooled']['scale']:.3f} "
          f"({len(pooled)} verified fixes)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
