"""Cross-date training pairs of naip_multidate_west, mixed sources, seasonal augmentation."""

from pathlib import Path

import numpy as np
import pytest

from spikevim_ros.georaster import load_rasters
from spikevim_ros.render import cut_tile
from spikevim_ros.training.augment import build_augment, seasonal_shift
from spikevim_ros.training.config import load_config
from spikevim_ros.training.datasets import ConcatPairs, CrossDateView, SyntheticCrossView
from spikevim_ros.training.trainer import build_source

DATES = ['naip_west_20090818.tif', 'naip_west_20140720.tif', 'naip_west_20190904.tif']


@pytest.fixture(scope='module')
def crossdate(shared_data):
    folder = shared_data / 'naip_multidate_west'
    return CrossDateView.from_paths([str(folder / d) for d in DATES], [600.0], size=64)


def test_crossdate_tile_comes_from_another_date_of_the_same_ground(crossdate):
    assert crossdate.num_classes >= 10
    drone, tile, label = crossdate[3]
    assert drone.shape == (64, 85, 3) and tile.shape == (64, 64, 3) and label == 3
    loc = crossdate.locations[3]
    per_date = [cut_tile(r, loc.centre_en, loc.side_m, 64)[0] for r in crossdate.dates]
    same = [i for i, t in enumerate(per_date) if np.array_equal(t, tile)]
    assert len(same) == 1                                 # the dates really differ
    again, again_tile, _ = crossdate[3]
    np.testing.assert_array_equal(drone, again)           # reproducible per (epoch, index)
    np.testing.assert_array_equal(tile, again_tile)


def test_crossdate_needs_two_dates(shared_data):
    raster = load_rasters(shared_data / 'naip_multidate_west' / DATES[0])
    with pytest.raises(ValueError, match='at least 2 dates'):
        CrossDateView(raster, [600.0])


def test_mixed_sources_offset_labels(crossdate, shared_data):
    ortho = SyntheticCrossView.from_sources(
        [{'path': str(shared_data / 'orthophotos/riotiler_colorado_hro_0.15m.tif'),
          'tile_side_m': 14}], size=64)
    mixed = ConcatPairs([crossdate, ortho])
    assert mixed.num_classes == crossdate.num_classes + ortho.num_classes
    assert len(mixed) == len(crossdate) + len(ortho) == len(mixed.labels)
    _, tile, label = mixed[len(crossdate) + 1]
    assert label == crossdate.num_classes + 1
    np.testing.assert_array_equal(tile, ortho[1][1])
    mixed.epoch = 2
    assert crossdate.epoch == ortho.epoch == 2


def test_crossdate_recipe_builds_without_held_out_dates(shared_data, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])   # the recipe's paths are relative
    config = load_config('config/train_T_crossdate_cpu.yaml')
    source = build_source(config.data, 64)
    dates = source.sources[0].dates
    assert len(dates) == 6 and source.num_classes > 200
    held_out = ('2010', '2016', '2018', '2020')
    assert not any(y in p for p in config.data['parts'][0]['dates'] for y in held_out)


def test_seasonal_shift_changes_colour_not_layout():
    rng = np.random.default_rng(0)
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 16:] = (60, 140, 40)                         # a green field beside bare ground
    image[:, :16] = (120, 100, 80)
    shifted = seasonal_shift(image, 1.5, rng)
    assert shifted.shape == image.shape and not np.array_equal(shifted, image)
    for half in (shifted[:, :16], shifted[:, 16:]):       # each field stays one colour
        assert half.reshape(-1, 3).std(axis=0).max() < 1.0
    assert not np.array_equal(shifted[0, 0], shifted[0, 16])
    assert build_augment('seasonal').seasonal > 0
