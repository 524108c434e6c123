"""
The gallery directory: tile table, faiss index, stored map rasters and a verified manifest.

Layout of a gallery directory::

    manifest.json    format version, encoder (variant, weights_id, dim), preprocessing, build
                     parameters, map rasters with their georeference, sha256 of every file
    index.faiss      descriptors of all tiles (row i = tile id i)
    tiles.csv        one row per tile: id, raster, side, centre/corners lat/lon, metres/pixel
    rasters/NNN.png  the map rasters (RGBA, alpha = valid) that tiles are cut from; fine
                     alignment re-cuts any window from them at any resolution
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import faiss
import numpy as np

from spikevim_ros.gallery import index as search_index
from spikevim_ros.geo import LocalFrame
from spikevim_ros.georaster import GeoRaster

FORMAT_VERSION = 1
MANIFEST = 'manifest.json'
INDEX_FILE = 'index.faiss'
TILES_FILE = 'tiles.csv'
RASTER_DIR = 'rasters'
INCOMPLETE_MARKER = 'BUILD_INCOMPLETE'   # present while a build is writing the directory

# manifest entries read by the loader and their types
MANIFEST_SCHEMA = {'encoder': dict, 'preprocessing': dict, 'checksums': dict, 'rasters': list,
                   'tile_count': int}
ENCODER_SCHEMA = {'variant': str, 'weights_id': str, 'descriptor_dim': int}


class GalleryError(RuntimeError):
    """Raised when a gallery directory is missing, corrupt or built for another encoder."""


@dataclass(frozen=True)
class TileRecord:
    """One gallery tile: a north-up square of ``side_m`` metres cut from raster ``raster``."""

    id: int
    raster: int
    side_m: float
    centre_east: float        # in the raster's LocalFrame
    centre_north: float
    lat: float
    lon: float
    tl_lat: float
    tl_lon: float
    tr_lat: float
    tr_lon: float
    br_lat: float
    br_lon: float
    bl_lat: float
    bl_lon: float
    metres_per_pixel: float   # of the tile as fed to the encoder
    valid_fraction: float
    source: str


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def write_tiles_csv(path: Path, tiles: list[TileRecord]) -> None:
    """Write the tile table."""
    names = [f.name for f in fields(TileRecord)]
    with open(path, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for tile in tiles:
            writer.writerow(asdict(tile))


def read_tiles_csv(path: Path) -> list[TileRecord]:
    """Read the tile table, converting each column to its field type."""
    types = {f.name: f.type for f in fields(TileRecord)}
    cast = {'int': int, 'float': float, 'str': str}
    with open(path, newline='') as handle:
        rows = list(csv.DictReader(handle))
    try:
        return [TileRecord(**{k: cast[types[k]](v) for k, v in row.items()}) for row in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise GalleryError(f'{path}: malformed tile table ({exc})') from exc


def write_raster_png(path: Path, raster: GeoRaster) -> dict:
    """Store a raster as RGBA PNG (alpha = valid) and return its manifest entry."""
    rgba = np.dstack([raster.image, raster.valid.astype(np.uint8) * 255])
    if not cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)):
        raise GalleryError(f'{path}: cannot write raster image')
    return {'file': f'{RASTER_DIR}/{path.name}', 'source': raster.source,
            'frame_lat0': raster.frame.lat0, 'frame_lon0': raster.frame.lon0,
            'pix_to_en': raster.pix_to_en.tolist(), 'width': raster.size[0],
            'height': raster.size[1]}


class Gallery:
    """A loaded, verified gallery: tile table, faiss index and lazily read map rasters."""

    def __init__(self, directory: Path, manifest: dict, index: faiss.Index,
                 tiles: list[TileRecord]) -> None:
        self.directory = Path(directory)
        self.manifest = manifest
        self.index = index
        self.tiles = tiles
        self.tile_lat = np.array([t.lat for t in tiles])
        self.tile_lon = np.array([t.lon for t in tiles])
        self.tile_side = np.array([t.side_m for t in tiles])
        self._rasters: dict[int, GeoRaster] = {}

    def __len__(self) -> int:
        return len(self.tiles)

    def __repr__(self) -> str:
        enc = self.manifest['encoder']
        return (f'Gallery({self.directory}, {len(self)} tiles, {self.index_kind}, '
                f'encoder {enc["variant"]}/{enc["weights_id"]})')

    @property
    def descriptor_dim(self) -> int:
        """Return the descriptor dimension."""
        return int(self.manifest['encoder']['descriptor_dim'])

    @property
    def input_size(self) -> int:
        """Return the encoder input side the tiles were preprocessed to."""
        return int(self.manifest['preprocessing']['input_size'])

    @property
    def index_kind(self) -> str:
        """Return the faiss index kind (flat, ivfpq, hnsw)."""
        return search_index.index_kind(self.index)

    def raster(self, number: int) -> GeoRaster:
        """Return stored map raster ``number`` (read on first use)."""
        if number not in self._rasters:
            entry = self.manifest['rasters'][number]
            path = self.directory / entry['file']
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if raw is None or raw.ndim != 3 or raw.shape[2] != 4:
                raise GalleryError(f'{path}: stored map raster is missing or unreadable')
            rgba = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGBA)
            self._rasters[number] = GeoRaster(
                image=np.ascontiguousarray(rgba[:, :, :3]), valid=rgba[:, :, 3] > 127,
                frame=LocalFrame(entry['frame_lat0'], entry['frame_lon0']),
                pix_to_en=np.array(entry['pix_to_en'], dtype=np.float64),
                source=entry['source'])
        return self._rasters[number]

    def tiles_in_region(self, lat: float, lon: float, radius_m: float) -> np.ndarray:
        """Return ids of tiles that overlap a disc (centre within radius + half diagonal)."""
        if not (math.isfinite(lat) and math.isfinite(lon) and math.isfinite(radius_m)):
            raise ValueError(f'region must be finite, got lat={lat} lon={lon} r={radius_m}')
        frame = LocalFrame(lat, lon)
        east, north = frame.to_en(self.tile_lat, self.tile_lon)
        reach = radius_m + self.tile_side * (math.sqrt(2.0) / 2.0)
        return np.flatnonzero(east * east + north * north <= reach * reach)

    def search(self, descriptor: np.ndarray, k: int,
               subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, scores) of the ``k`` most similar tiles, best first (valid ids only)."""
        ids, scores = search_index.search(self.index, descriptor, min(k, len(self)), subset)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def save_manifest(self) -> None:
        """Write the manifest (used by the builder)."""
        (self.directory / MANIFEST).write_text(json.dumps(self.manifest, indent=2))

    @classmethod
    def load(cls, directory: str | Path, encoder=None, verify_checksums: bool = True
             ) -> 'Gallery':
        """
        Load and verify a gallery directory.

        Checks the format version, that every listed file exists and matches its checksum,
        that the index and tile table agree, and, when ``encoder`` is given, that its variant,
        weights id and descriptor dimension are those the gallery was built with. Raises
        :class:`GalleryError` naming the first mismatch.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise GalleryError(f'{directory}: gallery directory does not exist')
        manifest_path = directory / MANIFEST
        if (directory / INCOMPLETE_MARKER).exists():
            raise GalleryError(f'{directory}: half-written gallery (its build did not finish); '
                               'delete it and build again')
        if not manifest_path.is_file():
            raise GalleryError(f'{directory}: not a gallery (missing {MANIFEST})')
        manifest = read_manifest(manifest_path)
        for name, digest in manifest['checksums'].items():
            path = directory / name
            if not path.resolve().is_relative_to(directory.resolve()):
                raise GalleryError(f'{manifest_path}: file {name!r} lies outside the gallery')
            if not path.is_file():
                raise GalleryError(f'{directory}: gallery file {name} is missing')
            if verify_checksums and sha256_file(path) != digest:
                raise GalleryError(f'{path}: checksum mismatch (file corrupt or modified)')
        try:
            index = faiss.read_index(str(directory / INDEX_FILE))
        except RuntimeError as exc:
            raise GalleryError(f'{directory / INDEX_FILE}: cannot read faiss index') from exc
        tiles = read_tiles_csv(directory / TILES_FILE)
        enc = manifest['encoder']
        if index.ntotal != len(tiles) or len(tiles) != manifest['tile_count']:
            raise GalleryError(f'{directory}: index holds {index.ntotal} descriptors, tile table '
                               f'{len(tiles)} rows, manifest says {manifest["tile_count"]}')
        if index.d != enc['descriptor_dim']:
            raise GalleryError(f'{directory}: index dimension {index.d} != manifest '
                               f'descriptor_dim {enc["descriptor_dim"]}')
        if encoder is not None:
            check_encoder(manifest, encoder, directory)
        return cls(directory, manifest, index, tiles)


def read_manifest(path: Path) -> dict:
    """Read and type-check a gallery manifest; raise GalleryError naming the file and the entry."""
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GalleryError(f'{path}: corrupt manifest ({exc})') from exc
    if not isinstance(manifest, dict):
        raise GalleryError(f'{path}: manifest is not a JSON object')
    version = manifest.get('format_version')
    if version != FORMAT_VERSION:
        raise GalleryError(f'{path.parent}: gallery format version {version}, this software '
                           f'reads version {FORMAT_VERSION}; rebuild the gallery')
    _check_types(manifest, MANIFEST_SCHEMA, path, '')
    _check_types(manifest['encoder'], ENCODER_SCHEMA, path, 'encoder.')
    if not all(isinstance(k, str) and isinstance(v, str)
               for k, v in manifest['checksums'].items()):
        raise GalleryError(f'{path}: manifest "checksums" must map file names to sha256 strings')
    return manifest


def _check_types(entries: dict, schema: dict, path: Path, prefix: str) -> None:
    for key, kind in schema.items():
        if key not in entries:
            raise GalleryError(f'{path}: manifest lacks "{prefix}{key}"')
        value = entries[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise GalleryError(f'{path}: manifest "{prefix}{key}" must be a {kind.__name__}, '
                               f'got {type(value).__name__}')


def written_files(directory: Path, manifest: dict) -> set[Path]:
    """Return the files a build wrote into ``directory``: manifest and every checksummed file."""
    return {directory / MANIFEST} | {directory / name for name in manifest['checksums']}


def check_encoder(manifest: dict, encoder, directory: Path) -> None:
    """Raise GalleryError when ``encoder`` is not the one the gallery was built with."""
    built = manifest['encoder']
    given = {'variant': encoder.variant, 'weights_id': encoder.weights_id,
             'descriptor_dim': int(encoder.descriptor_dim)}
    for key, value in given.items():
        if built[key] != value:
            raise GalleryError(f'{directory}: gallery was built with encoder {key}='
                               f'{built[key]!r}, but the encoder given has {key}={value!r}; '
                               'rebuild the gallery or use the matching weights')
