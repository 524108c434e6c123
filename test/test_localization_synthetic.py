"""
Synthetic oblique views of every real map: position error and covariance consistency.

Views: 640x480, 70 deg field of view, heading 0-360 deg, tilt 0-30 deg, altitude 100-300 m
(scaled down for maps smaller than that footprint). The frames are localized as in flight
(prior disc, altitude, camera and attitude known) and with the heading unknown. The synthetic
maps carry no georeference error, so the map term of the covariance is set to zero here; the
covariance scale itself is calibrated on other views (bench/bench_covariance_scale.py,
seed 101), not these.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikevim_ros.encoder import build_encoder
from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
from spikevim_ros.georaster import load_rasters
from spikevim_ros.localization import Localizer, LocalizerConfig
from spikevim_ros.localization.evaluation import (error_en, inside_ellipse_fraction,
                                                  synthetic_views)

# Median error per map as documented in docs/gallery_localizer.md (tests allow 3x).
DOCUMENTED_MEDIAN_M = {'aero_vloc/map/map_metadata.txt': 0.37,
                       'orthophotos/riotiler_pix4d_bali_0.35m.tif': 0.18,
                       'orthophotos/riotiler_colorado_hro_0.15m.tif': 0.03,
                       'orthophotos/deepforest_OSBS_029_neon_0.1m.tif': 0.03}
SOURCES = list(DOCUMENTED_MEDIAN_M)


@pytest.fixture(scope='module')
def encoder():
    """Return the untrained encoder on its fastest exact runtime."""
    return build_encoder('T', runtime='auto')


def localize_views(shared_data, encoder, folder, source) -> dict:
    """Localize 5 views of one map with and without attitude; return norms, errors, covs."""
    raster = load_rasters(shared_data / source)[0]
    min_e, min_n, max_e, max_n = raster.bounds_en()
    side = round(0.6 * min(max_e - min_e, max_n - min_n), 1)
    gallery = build_gallery([shared_data / source], folder, encoder,
                            GalleryBuildConfig(tile_sides_m=(side,), input_size=96,
                                               progress=False))
    localizer = Localizer(gallery, encoder, LocalizerConfig(map_sigma_m=0.0))
    views = synthetic_views(gallery.raster(0), 5, np.random.default_rng(2024))
    out = {'norms': [], 'errors': [], 'covariances': []}
    for view in views:
        attitude = (view.pose.yaw_deg, view.pose.pitch_deg, view.pose.roll_deg)
        for known_attitude in (True, False):
            result = localizer.localize(view.image, view.prior, view.pose.altitude_agl,
                                        view.camera, attitude if known_attitude else None)
            if not result.fix:
                out['norms'].append(np.inf)
                continue
            truth = (view.latitude, view.longitude) if known_attitude else view.centre_latlon
            error = error_en(result, *truth)
            out['norms'].append(float(np.hypot(*error)))
            if result.verified:
                out['errors'].append(error)
                out['covariances'].append(result.covariance_en_m2)
    return out


@pytest.fixture(scope='module')
def localized(shared_data, encoder, tmp_path_factory) -> dict:
    """Return every map's localized views (computed once for this module's tests)."""
    return {source: localize_views(shared_data, encoder, tmp_path_factory.mktemp('g'), source)
            for source in SOURCES}


@pytest.mark.parametrize('source', SOURCES)
def test_synthetic_views_median_error_within_3x_of_documented(localized, source):
    norms = localized[source]['norms']
    print(f'{source}: median error {np.median(norms):.2f} m, localized '
          f'{np.isfinite(norms).mean():.0%} of {len(norms)}')
    assert np.median(norms) < 3.0 * DOCUMENTED_MEDIAN_M[source]


def test_covariance_95_ellipse_holds_80_to_99_percent(localized):
    errors = [e for run in localized.values() for e in run['errors']]
    covariances = [c for run in localized.values() for c in run['covariances']]
    assert len(errors) >= 20
    fraction = inside_ellipse_fraction(errors, covariances)
    print(f'{fraction:.0%} of {len(errors)} verified errors inside their 95 % ellipse')
    assert 0.80 <= fraction <= 0.99
