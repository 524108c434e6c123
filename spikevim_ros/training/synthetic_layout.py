"""
A procedural University-1652-layout dataset: no map, no download, any size, in seconds.

Each location is a random smooth colour texture (its "satellite" tile); its "drone" views are
rotated, zoomed, shifted and re-lit crops of it. Test galleries hold extra distractor
locations that never occur as queries, as University-1652's do, so the ``university1652`` and
``sample4geo`` protocols differ. Used by the GPU smoke script and the evaluation memory test.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return a smooth random RGB texture [size, size, 3] uint8 (three octaves of noise)."""
    out = np.zeros((size, size, 3), np.float32)
    for cells, weight in ((4, 1.0), (9, 0.5), (23, 0.25)):
        noise = rng.random((cells, cells, 3), dtype=np.float32)
        out += weight * cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    out -= out.min()
    return (255.0 * out / max(float(out.max()), 1e-6)).astype(np.uint8)


def drone_view(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a rotated, zoomed, shifted, re-lit view of ``tile`` (same size)."""
    size = tile.shape[0]
    centre = (size / 2 + rng.uniform(-0.1, 0.1) * size, size / 2 + rng.uniform(-0.1, 0.1) * size)
    matrix = cv2.getRotationMatrix2D(centre, float(rng.uniform(0, 360)),
                                     float(rng.uniform(1.2, 1.6)))
    view = cv2.warpAffine(tile, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    return np.clip(view.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), rgb[:, :, ::-1]):
        raise OSError(f'cannot write {path}')


def write_synthetic_university1652(root: str | Path, train_locations: int,
                                   test_locations: int, views: int = 4, distractors: int = 0,
                                   size: int = 64, seed: int = 0) -> Path:
    """
    Write ``train/`` and ``test/`` folders in the University-1652 layout under ``root``.

    Test: ``query_drone`` (``views`` per location) and ``query_satellite`` (1 per location)
    over ``test_locations`` locations; ``gallery_satellite`` and ``gallery_drone`` add
    ``distractors`` locations. Image count: ``train_locations * (views + 1) +
    (test_locations + distractors) * (views + 1) + test_locations * (views + 1)``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for location in range(train_locations):
        tile = texture(rng, size)
        name = f'{location:04d}'
        _write(root / 'train/satellite' / name / f'{name}.jpg', tile)
        for view in range(views):
            _write(root / 'train/drone' / name / f'{view:02d}.jpg', drone_view(tile, rng))
    for index in range(test_locations + distractors):
        location = train_locations + index
        tile = texture(rng, size)
        name = f'{location:04d}'
        drones = [drone_view(tile, rng) for _ in range(views)]
        _write(root / 'test/gallery_satellite' / name / f'{name}.jpg', tile)
        for view, image in enumerate(drones):
            _write(root / 'test/gallery_drone' / name / f'{view:02d}.jpg', image)
        if index < test_locations:
            _write(root / 'test/query_satellite' / name / f'{name}.jpg', tile)
            for view, image in enumerate(drones):
                _write(root / 'test/query_drone' / name / f'{view:02d}.jpg', image)
    return root
