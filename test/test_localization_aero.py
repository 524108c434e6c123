"""Localizer on real imagery: aero_vloc drone photo vs. a two-tile satellite gallery."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from spikevim_ros.encoder import build_encoder
from spikevim_ros.gallery import Gallery, GalleryBuildConfig, GalleryError, build_gallery
from spikevim_ros.geo import horizontal_distance_m
from spikevim_ros.localization import Localizer, Prior, offline_config


@pytest.fixture(scope='session')
def encoder():
    """Return the untrained fast encoder."""
    return build_encoder('T', runtime='fast')


@pytest.fixture(scope='session')
def aero_gallery(shared_data, encoder, tmp_path_factory):
    """Build the aero_vloc gallery once per session."""
    out = tmp_path_factory.mktemp('gallery') / 'aero'
    config = GalleryBuildConfig(tile_sides_m=(200.0,), input_size=224, progress=False)
    return build_gallery([shared_data / 'aero_vloc/map/map_metadata.txt'], out, encoder, config)


def _read(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_query_0_is_localized_within_3x_of_documented(shared_data, aero_gallery, encoder):
    frame = _read(shared_data / 'aero_vloc/queries/0.jpg')
    result = Localizer(aero_gallery, encoder, offline_config()).localize(frame)
    error = horizontal_distance_m(result.latitude, result.longitude, 55.542349, 38.246245)
    print(f'aero_vloc 0.jpg: error {error:.1f} m, sigma {result.sigma_m:.1f} m, '
          f'{result.timings_ms}')
    assert result.fix and result.verified
    assert error < 2.5   # documented 0.5-0.8 m (docs/gallery_localizer.md)
    assert result.covariance_en_m2.shape == (2, 2)
    assert 0.0 < result.quality <= 1.0


def test_query_elsewhere_gives_no_fix(shared_data, aero_gallery, encoder):
    frame = _read(shared_data / 'aero_vloc/queries/1.png')
    result = Localizer(aero_gallery, encoder, offline_config()).localize(frame)
    assert not result.fix and result.reason


@pytest.mark.parametrize('image, words', [
    (np.zeros((0, 0, 3), np.uint8), 'empty'),
    (np.zeros((10, 10, 3), np.uint8), 'too small'),
    (np.zeros((480, 640, 3), np.uint8), 'no texture'),
])
def test_bad_frames_give_no_fix_with_reason(aero_gallery, encoder, image, words):
    result = Localizer(aero_gallery, encoder, offline_config()).localize(image)
    assert not result.fix and words in result.reason


def test_bad_priors_give_no_fix_with_reason(shared_data, aero_gallery, encoder):
    frame = _read(shared_data / 'aero_vloc/queries/0.jpg')
    localizer = Localizer(aero_gallery, encoder, offline_config())
    assert 'non-finite' in localizer.localize(frame, Prior(float('nan'), 38.2, 100.0)).reason
    far = localizer.localize(frame, Prior(10.0, 10.0, 500.0))
    assert not far.fix and 'contains no gallery tile' in far.reason


def test_gallery_missing_file_or_other_weights_is_refused(aero_gallery, encoder, tmp_path):
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(aero_gallery.directory, copy)
    (copy / 'tiles.csv').unlink()
    with pytest.raises(GalleryError, match='tiles.csv is missing'):
        Gallery.load(copy)
    other = build_encoder('T', runtime='fast')
    other.weights_id = 'other-weights'
    with pytest.raises(GalleryError, match='weights_id'):
        Gallery.load(aero_gallery.directory, other)
