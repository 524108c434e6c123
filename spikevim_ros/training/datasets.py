"""
Cross-view pair sources: University-1652, SUES-200, CSV pairs, synthetic views of orthophotos.

Every source yields ``(drone RGB uint8, satellite RGB uint8, location label)`` items; folder
loaders validate the layout first and name exactly what is missing. :class:`SyntheticCrossView`
renders drone views of any georeferenced raster with :func:`spikevim_ros.render.render_view`
and pairs them with the north-up tile under them (:func:`spikevim_ros.render.cut_tile`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from spikevim_ros.camera import CameraPose, PinholeCamera
from spikevim_ros.encoder.preprocess import preprocess
from spikevim_ros.georaster import GeoRaster, load_rasters, read_image_rgb
from spikevim_ros.render import Photometry, cut_tile, render_view

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff')
SUES200_ALTITUDES = (150, 200, 250, 300)


class LayoutError(FileNotFoundError):
    """A dataset folder does not have the expected layout."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8."""
    return read_image_rgb(path)[0]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _require_dirs(root: Path, names: list[str], dataset: str) -> None:
    missing = [n for n in names if not (root / n).is_dir()]
    if missing:
        raise LayoutError(f'{root} is not a {dataset} folder: missing '
                          f'{", ".join(str(root / n) for n in missing)}')


def _class_folders(folder: Path) -> dict[str, list[Path]]:
    """Return {location id: sorted image paths} of a folder of per-location subfolders."""
    classes = {d.name: _images_in(d) for d in sorted(folder.iterdir()) if d.is_dir()}
    empty = [name for name, images in classes.items() if not images]
    if not classes:
        raise LayoutError(f'{folder} has no per-location subfolders')
    if empty:
        raise LayoutError(f'{folder}: location folders without images: {empty[:5]}')
    return classes


def location_number(name: str) -> int:
    """Return the integer id of a location folder name such as ``0839``."""
    try:
        return int(name)
    except ValueError as exc:
        raise LayoutError(f'location folder {name!r} is not a number') from exc


@dataclass
class RetrievalSplit:
    """Query and gallery image paths with their integer location ids."""

    query_paths: list[Path]
    query_ids: np.ndarray
    gallery_paths: list[Path]
    gallery_ids: np.ndarray


def _split(query_dir: Path, gallery_dir: Path) -> RetrievalSplit:
    def flat(folder):
        pairs = [(p, location_number(n)) for n, ps in _class_folders(folder).items() for p in ps]
        return [p for p, _ in pairs], np.array([i for _, i in pairs], dtype=np.int64)
    query_paths, query_ids = flat(query_dir)
    gallery_paths, gallery_ids = flat(gallery_dir)
    return RetrievalSplit(query_paths, query_ids, gallery_paths, gallery_ids)


class FolderPairs:
    """Training pairs: every drone image with its location's satellite image."""

    def __init__(self, drone_dir: Path, satellite_dir: Path) -> None:
        drones = _class_folders(drone_dir)
        satellites = _class_folders(satellite_dir)
        missing = sorted(set(drones) - set(satellites))
        if missing:
            raise LayoutError(f'{satellite_dir}: no satellite images for locations {missing[:5]}')
        self.locations = sorted(drones)
        label = {name: i for i, name in enumerate(self.locations)}
        self.items = [(p, satellites[name][0], label[name])
                      for name in self.locations for p in drones[name]]
        self.labels = np.array([item[2] for item in self.items], dtype=np.int64)

    @property
    def num_classes(self) -> int:
        """Return the number of locations."""
        return len(self.locations)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        drone, satellite, label = self.items[index]
        return read_rgb(drone), read_rgb(satellite), label


class University1652:
    """University-1652 layout: ``train/{drone,satellite}/<id>/``, ``test/{query,gallery}_*``."""

    TEST_DIRS = ['test/query_drone', 'test/gallery_satellite', 'test/query_satellite',
                 'test/gallery_drone']

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise LayoutError(f'University-1652 root {self.root} does not exist')

    def train(self) -> FolderPairs:
        """Return the training pairs (drone image, satellite image, label)."""
        _require_dirs(self.root, ['train/drone', 'train/satellite'], 'University-1652')
        return FolderPairs(self.root / 'train/drone', self.root / 'train/satellite')

    def test(self, query: str = 'drone') -> RetrievalSplit:
        """Return drone->satellite (``query="drone"``) or satellite->drone test split."""
        gallery = {'drone': 'satellite', 'satellite': 'drone'}[query]
        names = [f'test/query_{query}', f'test/gallery_{gallery}']
        _require_dirs(self.root, names, 'University-1652')
        return _split(self.root / names[0], self.root / names[1])


class SUES200:
    """
    SUES-200 after the authors' train/test split, per altitude.

    ``Training/<alt>/{drone,satellite}/<id>/`` and
    ``Testing/<alt>/{query_drone,gallery_satellite,query_satellite,gallery_drone}/<id>/``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise LayoutError(f'SUES-200 root {self.root} does not exist')

    def train(self, altitude: int) -> FolderPairs:
        """Return the training pairs of one altitude (150, 200, 250 or 300 m)."""
        base = f'Training/{altitude}'
        _require_dirs(self.root, [f'{base}/drone', f'{base}/satellite'], 'SUES-200')
        return FolderPairs(self.root / base / 'drone', self.root / base / 'satellite')

    def test(self, altitude: int, query: str = 'drone') -> RetrievalSplit:
        """Return the test split of one altitude, drone->satellite or satellite->drone."""
        gallery = {'drone': 'satellite', 'satellite': 'drone'}[query]
        names = [f'Testing/{altitude}/query_{query}', f'Testing/{altitude}/gallery_{gallery}']
        _require_dirs(self.root, names, 'SUES-200')
        return _split(self.root / names[0], self.root / names[1])


class CsvPairs:
    """A CSV with columns ``drone,satellite,location`` (paths relative to the CSV's folder)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise LayoutError(f'pairs CSV {path} does not exist')
        with open(path, newline='') as f:
            rows = list(csv.DictReader(f))
        needed = {'drone', 'satellite', 'location'}
        if not rows or not needed <= set(rows[0]):
            raise LayoutError(f'{path}: needs a header with columns {sorted(needed)}')
        missing = [r[c] for r in rows for c in ('drone', 'satellite')
                   if not (path.parent / r[c]).is_file()]
        if missing:
            raise LayoutError(f'{path}: {len(missing)} listed images do not exist, e.g. '
                              f'{missing[:3]}')
        self.locations = sorted({r['location'] for r in rows})
        label = {name: i for i, name in enumerate(self.locations)}
        self.items = [(path.parent / r['drone'], path.parent / r['satellite'],
                       label[r['location']]) for r in rows]
        self.labels = np.array([item[2] for item in self.items], dtype=np.int64)

    num_classes = FolderPairs.num_classes
    __len__ = FolderPairs.__len__
    __getitem__ = FolderPairs.__getitem__


@dataclass(frozen=True)
class ViewSampling:
    """How synthetic drone views are drawn around a location."""

    hfov_deg: float = 70.0
    aspect: float = 4.0 / 3.0
    footprint_scale: tuple[float, float] = (0.75, 1.35)   # nadir footprint / tile side
    max_offset: float = 0.12                               # centre shift, fraction of tile side
    max_pitch_deg: float = 20.0
    roll_sigma_deg: float = 3.0
    photometry: float = 1.0
    min_valid: float = 0.85


@dataclass(frozen=True)
class Location:
    """One synthetic location: a tile centre on a raster."""

    raster: int
    centre_en: tuple[float, float]
    side_m: float


class SyntheticCrossView:
    """
    Unlimited drone/tile pairs rendered from georeferenced rasters (orthophotos, tiles).

    Locations lie on a grid of spacing ``spacing * side_m`` over each raster, keeping tiles that
    are at least ``min_valid`` valid. Item ``i`` is location ``i % len(locations)`` seen from a
    random pose drawn from ``(seed, epoch, i)``; :attr:`epoch` changes the views.
    """

    def __init__(self, rasters: list[GeoRaster], side_m: float | list[float], size: int = 128,
                 sampling: ViewSampling = ViewSampling(), spacing: float = 0.75,
                 views_per_location: int = 1, seed: int = 0) -> None:
        sides = side_m if isinstance(side_m, (list, tuple)) else [side_m] * len(rasters)
        if len(sides) != len(rasters):
            raise ValueError(f'{len(sides)} tile sides for {len(rasters)} rasters')
        self.rasters = rasters
        self.size = int(size)
        self.sampling = sampling
        self.seed = seed
        self.epoch = 0
        self.views_per_location = int(views_per_location)
        self.locations = [loc for i, (r, s) in enumerate(zip(rasters, sides))
                          for loc in self._grid(i, r, float(s), spacing)]
        if not self.locations:
            raise ValueError('no synthetic location fits in the given rasters (tile side too '
                             'large or rasters mostly nodata)')
        self._tiles: dict[int, np.ndarray] = {}
        self.labels = np.tile(np.arange(len(self.locations)), self.views_per_location)

    @classmethod
    def from_sources(cls, sources: list[dict], **kwargs) -> 'SyntheticCrossView':
        """Build from ``[{'path': raster source, 'tile_side_m': metres}, ...]``."""
        rasters, sides = [], []
        for source in sources:
            loaded = load_rasters(source['path'])
            rasters += loaded
            sides += [float(source['tile_side_m'])] * len(loaded)
        return cls(rasters, sides, **kwargs)

    def _grid(self, index: int, raster: GeoRaster, side: float, spacing: float
              ) -> list[Location]:
        min_e, min_n, max_e, max_n = raster.bounds_en()
        step = spacing * side
        locations = []
        for north in np.arange(max_n - side / 2, min_n + side / 2 - 1e-6, -step):
            for east in np.arange(min_e + side / 2, max_e - side / 2 + 1e-6, step):
                _, valid = cut_tile(raster, (east, north), side, 32)
                if valid.mean() >= self.sampling.min_valid:
                    locations.append(Location(index, (float(east), float(north)), side))
        return locations

    @property
    def num_classes(self) -> int:
        """Return the number of locations."""
        return len(self.locations)

    def __len__(self) -> int:
        return len(self.locations) * self.views_per_location

    def tile(self, location: int) -> np.ndarray:
        """Return the north-up nadir tile of a location (cached)."""
        if location not in self._tiles:
            loc = self.locations[location]
            self._tiles[location] = cut_tile(self.rasters[loc.raster], loc.centre_en,
                                             loc.side_m, self.size)[0]
        return self._tiles[location]

    def camera(self) -> PinholeCamera:
        """Return the pinhole intrinsics of the synthetic drone (training-size pixels)."""
        return PinholeCamera.from_hfov(int(round(self.size * self.sampling.aspect)), self.size,
                                       self.sampling.hfov_deg)

    def random_pose(self, location: int, rng: np.random.Generator) -> CameraPose:
        """Draw a drone pose looking at a location."""
        loc, s = self.locations[location], self.sampling
        camera = self.camera()
        footprint = loc.side_m * rng.uniform(*s.footprint_scale)
        east, north = (np.array(loc.centre_en)
                       + rng.uniform(-s.max_offset, s.max_offset, 2) * loc.side_m)
        return CameraPose(float(east), float(north), footprint * camera.fx / camera.width,
                          yaw_deg=float(rng.uniform(0, 360)),
                          pitch_deg=float(rng.uniform(0, s.max_pitch_deg)),
                          roll_deg=float(rng.normal(0, s.roll_sigma_deg)))

    def render(self, location: int, rng: np.random.Generator, raster: GeoRaster | None = None
               ) -> tuple[np.ndarray, CameraPose]:
        """
        Render a drone view of a location and return it with its pose (retries poses).

        ``raster`` renders from another raster of the same ground (another date).
        """
        raster = raster or self.rasters[self.locations[location].raster]
        best = None
        for _ in range(8):
            pose = self.random_pose(location, rng)
            image, valid = render_view(raster, self.camera(), pose,
                                       Photometry.random(rng, self.sampling.photometry), rng)
            if valid.mean() >= self.sampling.min_valid:
                return image, pose
            if best is None or valid.mean() > best[0]:
                best = (valid.mean(), image, pose)
        return best[1], best[2]

    def drone_view(self, location: int, rng: np.random.Generator) -> np.ndarray:
        """Render a drone view of a location."""
        return self.render(location, rng)[0]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        location = int(index) % len(self.locations)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        return self.drone_view(location, rng), self.tile(location), location


class CrossDateView(SyntheticCrossView):
    """
    Drone views rendered from one date paired with the north-up tile of another date.

    ``dates`` are co-registered rasters of the same ground; locations lie on the grid of the
    first date, once per tile side. Item ``i`` draws two distinct dates from
    ``(seed, epoch, i)``: the drone view comes from the first, the tile from the second.
    """

    def __init__(self, dates: list[GeoRaster], sides_m: list[float], **kwargs) -> None:
        if len(dates) < 2:
            raise ValueError(f'cross-date pairs need at least 2 dates, got {len(dates)}')
        super().__init__([dates[0]] * len(sides_m), list(sides_m), **kwargs)
        self.dates = dates

    @classmethod
    def from_paths(cls, paths: list[str], sides_m: list[float], **kwargs) -> 'CrossDateView':
        """Build from raster paths, one per date."""
        return cls([r for p in paths for r in load_rasters(p)], sides_m, **kwargs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        location = int(index) % len(self.locations)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        drone_date, tile_date = rng.choice(len(self.dates), 2, replace=False)
        loc = self.locations[location]
        drone = self.render(location, rng, self.dates[drone_date])[0]
        tile = cut_tile(self.dates[tile_date], loc.centre_en, loc.side_m, self.size)[0]
        return drone, tile, location


class ConcatPairs:
    """Several pair sources as one; labels of each source follow those of the previous ones."""

    def __init__(self, sources: list) -> None:
        if not sources:
            raise ValueError('ConcatPairs needs at least one source')
        self.sources = sources
        self.starts = np.cumsum([0] + [len(s) for s in sources])
        self.label_offsets = np.cumsum([0] + [s.num_classes for s in sources])
        self.labels = np.concatenate([np.asarray(s.labels) + off
                                      for s, off in zip(sources, self.label_offsets)])

    @property
    def num_classes(self) -> int:
        """Return the number of locations of all sources."""
        return int(self.label_offsets[-1])

    @property
    def epoch(self) -> int:
        """Return the epoch shared by the sources that draw random views."""
        return getattr(self.sources[0], 'epoch', 0)

    @epoch.setter
    def epoch(self, value: int) -> None:
        for source in self.sources:
            if hasattr(source, 'epoch'):
                source.epoch = value

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        part = int(np.searchsorted(self.starts, int(index), side='right')) - 1
        drone, tile, label = self.sources[part][int(index) - int(self.starts[part])]
        return drone, tile, int(label) + int(self.label_offsets[part])


class RandomKeepPatches:
    """
    Keep ``ratio`` of the image area in ``patches`` random square patches, zero the rest.

    Patches may overlap (as in the paper's robustness test), so the kept area is at most
    ``ratio``: even at ``ratio=1`` (Table VIII's R=100 rows) the overlaps leave holes; only a
    single patch at ``ratio=1`` keeps the whole image.
    """

    def __init__(self, ratio: float, patches: int = 5,
                 seed: int | Sequence[int] | None = None) -> None:
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f'keep ratio must be in (0, 1], got {ratio}')
        if patches < 1:
            raise ValueError(f'number of patches must be >= 1, got {patches}')
        self.ratio = float(ratio)
        self.patches = int(patches)
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        side = max(1, int(round(math.sqrt(self.ratio * h * w / self.patches))))
        side_h, side_w = min(side, h), min(side, w)
        keep = np.zeros((h, w), dtype=bool)
        for y, x in zip(self.rng.integers(0, h - side_h + 1, self.patches),
                        self.rng.integers(0, w - side_w + 1, self.patches)):
            keep[y:y + side_h, x:x + side_w] = True
        out = image.copy()
        out[~keep] = 0
        return out


class PairTensors(torch.utils.data.Dataset):
    """
    Wrap a pair source: items become normalised tensors of ``size`` and a label.

    ``augment`` (a :class:`~spikevim_ros.training.augment.PairAugment`) is applied to the
    uint8 pair first, with a generator drawn from ``(seed, epoch, index)``.
    """

    def __init__(self, source, size: int, augment=None, seed: int = 0) -> None:
        self.source = source
        self.size = int(size)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        drone, satellite, label = self.source[index]
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, int(index)])
            drone, satellite = self.augment(drone, satellite, rng)
        return (preprocess(drone, size=self.size)[0], preprocess(satellite, size=self.size)[0],
                int(label))


def unique_label_batches(labels: np.ndarray, batch_size: int, rng: np.random.Generator
                         ) -> list[list[int]]:
    """Shuffle indices into batches in which no location repeats (InfoNCE needs that)."""
    order = rng.permutation(len(labels))
    batches, current, seen = [], [], set()
    pending = []
    for index in order:
        label = int(labels[index])
        if label in seen:
            pending.append(index)
            continue
        current.append(int(index))
        seen.add(label)
        if len(current) == batch_size:
            batches.append(current)
            current, seen = [], set()
            pending, retry = [], pending
            for index2 in retry:
                if int(labels[index2]) not in seen and len(current) < batch_size:
                    current.append(int(index2))
                    seen.add(int(labels[index2]))
                else:
                    pending.append(index2)
    if len(current) >= 2:
        batches.append(current)
    return batches


def write_university1652(source: SyntheticCrossView, root: str | Path, split: str,
                         views_per_location: int, seed: int = 0) -> Path:
    """
    Write a synthetic source in the University-1652 layout (train or test folders).

    ``split="train"`` writes ``train/drone/<id>/`` and ``train/satellite/<id>/``; ``"test"``
    writes ``test/query_drone``, ``test/gallery_satellite``, ``test/query_satellite`` and
    ``test/gallery_drone``.
    """
    root = Path(root)
    folders = {'train': ('train/drone', 'train/satellite'),
               'test': ('test/query_drone', 'test/gallery_satellite')}[split]
    rng = np.random.default_rng(seed)
    for location in range(source.num_classes):
        name = f'{location:04d}'
        for folder in folders:
            (root / folder / name).mkdir(parents=True, exist_ok=True)
        for view in range(views_per_location):
            drone = source.drone_view(location, rng)
            cv2.imwrite(str(root / folders[0] / name / f'{view:02d}.jpg'), drone[:, :, ::-1])
        tile = source.tile(location)[:, :, ::-1]
        cv2.imwrite(str(root / folders[1] / name / f'{name}.png'), tile)
        if split == 'test':
            for folder, src in (('test/query_satellite', folders[1]),
                                ('test/gallery_drone', folders[0])):
                target = root / folder / name
                target.mkdir(parents=True, exist_ok=True)
                for image in (root / src / name).iterdir():
                    (target / image.name).write_bytes(image.read_bytes())
    return root
