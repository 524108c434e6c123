"""Pair sources: synthetic views of a real orthophoto, folder layouts, CSV, masking."""

import cv2
import numpy as np
import pytest

from spikevim_ros.training.datasets import (SUES200, CsvPairs, LayoutError, RandomKeepPatches,
                                            SyntheticCrossView, University1652,
                                            unique_label_batches, write_university1652)

ORTHO = 'orthophotos/riotiler_colorado_hro_0.15m.tif'


@pytest.fixture(scope='module')
def synthetic(shared_data):
    return SyntheticCrossView.from_sources(
        [{'path': str(shared_data / ORTHO), 'tile_side_m': 14}], size=64)


def test_synthetic_pairs_are_real_views_of_the_tile(synthetic):
    assert synthetic.num_classes >= 4
    drone, tile, label = synthetic[1]
    assert drone.shape == (64, 85, 3) and tile.shape == (64, 64, 3) and label == 1
    assert drone.std() > 5 and tile.std() > 5            # real texture, not blank
    again, _, _ = synthetic[1]
    np.testing.assert_array_equal(drone, again)          # reproducible per (epoch, index)
    synthetic.epoch = 1
    other, _, _ = synthetic[1]
    synthetic.epoch = 0
    assert np.abs(other.astype(int) - drone.astype(int)).mean() > 1.0


def test_university1652_layout_round_trip(synthetic, tmp_path):
    write_university1652(synthetic, tmp_path, 'test', views_per_location=2)
    write_university1652(synthetic, tmp_path, 'train', views_per_location=2)
    data = University1652(tmp_path)
    split = data.test('drone')
    assert len(split.query_paths) == 2 * synthetic.num_classes
    assert sorted(set(split.query_ids)) == sorted(set(split.gallery_ids))
    reverse = data.test('satellite')
    assert len(reverse.query_paths) == synthetic.num_classes
    pairs = data.train()
    assert pairs.num_classes == synthetic.num_classes and len(pairs) == 2 * pairs.num_classes
    drone, satellite, label = pairs[3]
    assert drone.ndim == 3 and satellite.shape == (64, 64, 3) and label == 1


def test_missing_folders_are_named(tmp_path):
    (tmp_path / 'train' / 'drone' / '0001').mkdir(parents=True)
    with pytest.raises(LayoutError, match='train/satellite'):
        University1652(tmp_path).train()
    with pytest.raises(LayoutError, match='Testing/150/query_drone'):
        SUES200(tmp_path).test(150)


def test_sues200_and_csv_pairs(tmp_path):
    image = np.full((32, 32, 3), 120, np.uint8)
    for folder in ('Testing/200/query_drone/0007', 'Testing/200/gallery_satellite/0007',
                   'Testing/200/gallery_satellite/0008'):
        (tmp_path / folder).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / folder / 'a.png'), image)
    split = SUES200(tmp_path).test(200)
    assert list(split.query_ids) == [7] and list(split.gallery_ids) == [7, 8]
    cv2.imwrite(str(tmp_path / 'd.png'), image)
    (tmp_path / 'pairs.csv').write_text('drone,satellite,location\nd.png,d.png,x\n'
                                        'd.png,d.png,y\n')
    pairs = CsvPairs(tmp_path / 'pairs.csv')
    assert pairs.num_classes == 2 and pairs[1][2] == 1
    (tmp_path / 'bad.csv').write_text('drone,satellite,location\nnope.png,d.png,x\n')
    with pytest.raises(LayoutError, match='do not exist'):
        CsvPairs(tmp_path / 'bad.csv')


@pytest.mark.parametrize('ratio,patches', [(0.2, 5), (0.6, 10), (0.8, 5)])
def test_random_keep_patches(ratio, patches):
    image = np.full((96, 128, 3), 200, np.uint8)
    kept = (RandomKeepPatches(ratio, patches, seed=0)(image)[:, :, 0] > 0).mean()
    assert ratio / patches * 0.8 <= kept <= ratio + 0.02
    with pytest.raises(ValueError, match='keep ratio'):
        RandomKeepPatches(0.0, 5)


def test_random_keep_patches_at_100_percent_still_masks():
    image = np.arange(1, 5, dtype=np.uint8).reshape(2, 2, 1)
    # one patch of the full area: side round(sqrt(1 * 4 / 1)) = 2, the whole image
    np.testing.assert_array_equal(RandomKeepPatches(1.0, 1, seed=0)(image), image)
    # four patches: side round(sqrt(4 / 4)) = 1, four random pixels, overlaps leave holes
    outs = [RandomKeepPatches(1.0, 4, seed=s)(image) for s in range(20)]
    assert all(np.all((o == image) | (o == 0)) for o in outs)
    kept = [int((o > 0).sum()) for o in outs]
    assert min(kept) >= 1 and max(kept) <= 4 and min(kept) < 4
    big = np.full((96, 128, 3), 200, np.uint8)
    fraction = (RandomKeepPatches(1.0, 5, seed=0)(big)[:, :, 0] > 0).mean()
    assert 0.2 <= fraction < 1.0


def test_unique_label_batches():
    labels = np.repeat(np.arange(10), 4)
    batches = unique_label_batches(labels, 6, np.random.default_rng(0))
    assert batches and all(len(set(labels[b])) == len(b) for b in batches)
    assert sum(len(b) for b in batches) >= 30
