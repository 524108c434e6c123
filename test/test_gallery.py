"""Gallery building and loading on real rasters: GeoTIFF, XYZ tiles, nodata, corruption."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from spikevim_ros.encoder import build_encoder
from spikevim_ros.gallery import Gallery, GalleryBuildConfig, GalleryError, build_gallery
from spikevim_ros.georaster import GeoreferenceError

BALI = 'orthophotos/riotiler_pix4d_bali_0.35m.tif'


@pytest.fixture(scope='module')
def encoder():
    """Return the untrained encoder on its fastest exact runtime."""
    return build_encoder('T', runtime='auto')


def _config(**kw) -> GalleryBuildConfig:
    return GalleryBuildConfig(input_size=96, progress=False, **kw)


@pytest.fixture(scope='module')
def bali(shared_data, encoder, tmp_path_factory):
    """Build a gallery of the Bali GeoTIFF (RGBA with nodata) once."""
    out = tmp_path_factory.mktemp('g') / 'bali'
    return build_gallery([shared_data / BALI], out, encoder,
                         _config(tile_sides_m=(100.0,), min_valid_fraction=0.9))


def test_geotiff_gallery_tiles_lie_on_the_map_and_skip_nodata(bali, shared_data):
    raster = bali.raster(0)
    assert len(bali) == bali.index.ntotal > 0
    assert bali.manifest['tiles_skipped_nodata'] > 0          # Bali has nodata corners
    for tile in bali.tiles:
        x, y = raster.latlon_to_pixel(tile.lat, tile.lon)
        assert raster.valid[int(y), int(x)]
        assert tile.valid_fraction >= 0.9
    loaded = Gallery.load(bali.directory)
    ids, scores = loaded.search(loaded.index.reconstruct(0)[None], 1)
    assert ids[0] == 0 and scores[0] == pytest.approx(1.0, abs=1e-4)
    inside = loaded.tiles_in_region(loaded.tiles[0].lat, loaded.tiles[0].lon, 1.0)
    assert 0 in inside


def test_xyz_and_tms_tile_folders_are_georeferenced_alike(shared_data, encoder, tmp_path):
    import math
    image = cv2.imread(str(shared_data / 'aero_vloc/map/0.png'))[:512, :512]
    zoom, x0, y0 = 18, 160_000, 82_000
    for scheme in ('xyz', 'tms'):
        for dx in range(2):
            for dy in range(2):
                y = y0 + dy if scheme == 'xyz' else 2 ** zoom - 1 - (y0 + dy)
                path = tmp_path / scheme / str(zoom) / str(x0 + dx) / f'{y}.png'
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), image[dy * 256:(dy + 1) * 256, dx * 256:(dx + 1) * 256])
    galleries = [build_gallery([tmp_path / s], tmp_path / f'out_{s}', encoder,
                               _config(tile_sides_m=(150.0,), tile_scheme=s))
                 for s in ('xyz', 'tms')]
    lon = (x0 + 1) / 2 ** zoom * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y0 + 1) / 2 ** zoom))))
    for gallery in galleries:
        raster = gallery.raster(0)
        px, py = raster.latlon_to_pixel(lat, lon)           # the shared tile corner
        assert abs(px - 256) < 1.0 and abs(py - 256) < 1.0
    assert [t.lat for t in galleries[0].tiles] == pytest.approx(
        [t.lat for t in galleries[1].tiles], abs=1e-9)


def test_raster_without_georeference_is_refused(encoder, tmp_path):
    import rasterio
    path = tmp_path / 'plain.tif'
    with rasterio.open(path, 'w', driver='GTiff', width=64, height=64, count=3,
                       dtype='uint8') as dst:
        dst.write(np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8))
    with pytest.raises(GeoreferenceError, match='no georeference'):
        build_gallery([path], tmp_path / 'out', encoder, _config())


def test_corrupt_index_or_other_weights_are_refused(bali, encoder, tmp_path):
    copy = tmp_path / 'copy'
    shutil.copytree(bali.directory, copy)
    with open(copy / 'index.faiss', 'r+b') as handle:
        handle.seek(100)
        handle.write(b'\x00' * 16)
    with pytest.raises(GalleryError, match='checksum mismatch'):
        Gallery.load(copy)
    (copy / 'index.faiss').write_bytes(b'not an index')
    with pytest.raises(GalleryError, match='cannot read faiss index'):
        Gallery.load(copy, verify_checksums=False)
    other = build_encoder('S', runtime='auto')
    with pytest.raises(GalleryError, match='variant'):
        Gallery.load(bali.directory, other)


def test_refuses_to_overwrite_and_rejects_bad_parameters(bali, encoder, shared_data):
    with pytest.raises(GalleryError, match='not empty'):
        build_gallery([shared_data / BALI], bali.directory, encoder, _config())
    with pytest.raises(ValueError, match='tile sides'):
        build_gallery([shared_data / BALI], bali.directory, encoder,
                      _config(tile_sides_m=(-5.0,)))
