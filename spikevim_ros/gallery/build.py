"""Building a gallery: cut multi-scale tiles in metres, encode them, index and save."""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spikevim_ros.camera import PinholeCamera, footprint_side_m
from spikevim_ros.encoder import preprocess_batch
from spikevim_ros.gallery import index as search_index
from spikevim_ros.gallery.sources import load_source
from spikevim_ros.gallery.store import (FORMAT_VERSION, INCOMPLETE_MARKER, INDEX_FILE, MANIFEST,
                                        RASTER_DIR, TILES_FILE, Gallery, GalleryError,
                                        TileRecord, read_manifest, sha256_file,
                                        write_raster_png, write_tiles_csv, written_files)
from spikevim_ros.georaster import GeoRaster
from spikevim_ros.render import cut_tile


@dataclass
class GalleryBuildConfig:
    """How tiles are cut, encoded and indexed."""

    tile_sides_m: tuple[float, ...] = (200.0,)   # one or more tile scales (ground metres)
    stride_fraction: float = 0.5                 # stride = side x this (0.5: 50 % overlap)
    min_valid_fraction: float = 0.5              # skip tiles with less valid (non-nodata) area
    input_size: int = 384                        # encoder input side (preprocess size)
    batch_size: int = 8
    index_kind: str = 'auto'                     # auto | flat | ivfpq | hnsw
    tile_scheme: str = 'xyz'                     # y axis of tile folders: xyz | tms
    overwrite: bool = False
    progress: bool = True
    extra: dict = field(default_factory=dict)    # free-form notes stored in the manifest

    def validate(self) -> None:
        """Raise ValueError on nonsensical parameters."""
        if not self.tile_sides_m or any(not (s > 0 and math.isfinite(s))
                                        for s in self.tile_sides_m):
            raise ValueError(f'tile sides must be positive metres, got {self.tile_sides_m}')
        if not 0.05 <= self.stride_fraction <= 1.0:
            raise ValueError(f'stride_fraction must be in [0.05, 1], got {self.stride_fraction}')
        if not 0.0 < self.min_valid_fraction <= 1.0:
            raise ValueError(f'min_valid_fraction must be in (0, 1], got '
                             f'{self.min_valid_fraction}')


def sides_from_footprint(camera: PinholeCamera, altitudes_agl_m: list[float]) -> tuple[float, ...]:
    """Return tile sides equal to the nadir camera footprint at each expected altitude."""
    return tuple(round(footprint_side_m(camera, a), 1) for a in altitudes_agl_m)


def tile_centres(raster: GeoRaster, side_m: float, stride_m: float) -> list[tuple[float, float]]:
    """Return tile centres (raster east/north) covering the raster's footprint."""
    min_e, min_n, max_e, max_n = raster.bounds_en()

    def axis(lo: float, hi: float) -> np.ndarray:
        extent = hi - lo
        if extent <= side_m:
            return np.array([(lo + hi) / 2.0])
        count = int(math.ceil((extent - side_m) / stride_m)) + 1
        return np.linspace(lo + side_m / 2.0, hi - side_m / 2.0, count)

    return [(float(e), float(n)) for n in axis(min_n, max_n)[::-1] for e in axis(min_e, max_e)]


def _tile_record(tile_id: int, raster_no: int, raster: GeoRaster, centre: tuple[float, float],
                 side_m: float, input_size: int, valid_fraction: float) -> TileRecord:
    east, north = centre
    half = side_m / 2.0
    lat, lon = raster.frame.to_latlon(np.array([east, east - half, east + half, east + half,
                                                east - half]),
                                      np.array([north, north + half, north + half, north - half,
                                                north - half]))
    return TileRecord(tile_id, raster_no, float(side_m), east, north, float(lat[0]),
                      float(lon[0]), float(lat[1]), float(lon[1]), float(lat[2]), float(lon[2]),
                      float(lat[3]), float(lon[3]), float(lat[4]), float(lon[4]),
                      side_m / input_size, round(valid_fraction, 4), raster.source)


def check_replaceable(out_dir: Path, overwrite: bool) -> None:
    """
    Refuse to build into ``out_dir`` unless nothing there can be lost.

    Accepted: an absent directory, one holding no file, or (with ``overwrite``) a gallery of
    this package that verifies and holds only the files its build wrote.
    """
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise GalleryError(f'{out_dir}: exists and is not a directory')
    files = {p for p in out_dir.rglob('*') if not p.is_dir()}
    if not files:
        return
    if not overwrite:
        raise GalleryError(f'{out_dir}: output directory is not empty (use --overwrite to '
                           'replace a gallery)')
    try:
        old = Gallery.load(out_dir)
    except GalleryError as exc:
        raise GalleryError(f'refusing to overwrite {out_dir}: it is not a valid gallery of '
                           f'this package ({exc})') from exc
    foreign = sorted(str(p.relative_to(out_dir)) for p in files
                     - written_files(out_dir, old.manifest))
    if foreign:
        listed = ', '.join(foreign[:3]) + (', ...' if len(foreign) > 3 else '')
        raise GalleryError(f'refusing to overwrite {out_dir}: it holds files the gallery did '
                           f'not write ({listed})')


def swap_in(staging: Path, out_dir: Path) -> None:
    """
    Move the finished gallery ``staging`` to ``out_dir``, replacing what is there.

    The old gallery is renamed aside first and removed only after the new one is in place;
    only the files its manifest lists are deleted, so anything else keeps the old directory.
    """
    aside = None
    if out_dir.exists():
        aside = out_dir.with_name(f'.{out_dir.name}.old-{os.getpid()}')
        out_dir.rename(aside)
    staging.rename(out_dir)
    if aside is not None:
        remove_gallery_files(aside)


def remove_gallery_files(directory: Path) -> None:
    """Delete the files a gallery build wrote into ``directory``, then its empty folders."""
    manifest_path = directory / MANIFEST
    names = set(read_manifest(manifest_path)['checksums']) if manifest_path.is_file() else set()
    written = [directory / name for name in names] + [directory / INCOMPLETE_MARKER, manifest_path]
    for path in written:
        path.unlink(missing_ok=True)
    for folder in sorted((p for p in directory.rglob('*') if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(directory.iterdir()):
        directory.rmdir()


def _encode(encoder, images: list[np.ndarray], size: int) -> np.ndarray:
    with torch.no_grad():
        return encoder(preprocess_batch(images, size=size)).float().cpu().numpy()


def build_gallery(sources: list[str | Path], out_dir: str | Path, encoder,
                  config: GalleryBuildConfig | None = None) -> Gallery:
    """
    Build a gallery directory from map sources and return it loaded.

    ``sources``: GeoTIFFs (any CRS), corners tables, folders of either, or XYZ/TMS tile folders;
    all are merged into one gallery. Tiles with too little valid area are skipped. The gallery is
    written into a hidden sibling directory (marked incomplete until done) and renamed into place
    at the end, so an existing gallery stays valid until the new one is complete; a failed or
    interrupted build removes its staging directory.
    """
    config = config or GalleryBuildConfig()
    config.validate()
    if not sources:
        raise ValueError('build_gallery needs at least one map source')
    out_dir = Path(out_dir).absolute()
    check_replaceable(out_dir, config.overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f'.{out_dir.name}.building-{os.getpid()}')
    if staging.exists():
        shutil.rmtree(staging)
    (staging / RASTER_DIR).mkdir(parents=True)
    (staging / INCOMPLETE_MARKER).write_text('a gallery build is writing this directory\n')
    try:
        _write_gallery(sources, staging, encoder, config)
        check_replaceable(out_dir, config.overwrite)   # nothing appeared meanwhile
        (staging / INCOMPLETE_MARKER).unlink()
        if out_dir.exists() and not any(p for p in out_dir.rglob('*') if not p.is_dir()):
            shutil.rmtree(out_dir)   # only empty folders
        swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Gallery.load(out_dir, verify_checksums=False)


def _write_gallery(sources: list[str | Path], out_dir: Path, encoder,
                   config: GalleryBuildConfig) -> None:
    started = time.time()
    rasters = [r for s in sources for r in load_source(s, config.tile_scheme)]
    jobs = []
    for raster_no, raster in enumerate(rasters):
        for side in config.tile_sides_m:
            jobs += [(raster_no, side, c) for c in
                     tile_centres(raster, side, side * config.stride_fraction)]
    tiles: list[TileRecord] = []
    descriptors: list[np.ndarray] = []
    batch: list[tuple[np.ndarray, int, float, tuple[float, float], float]] = []

    def flush() -> None:
        if batch:
            descriptors.append(_encode(encoder, [b[0] for b in batch], config.input_size))
            for _, raster_no, side, centre, fraction in batch:
                tiles.append(_tile_record(len(tiles), raster_no, rasters[raster_no], centre,
                                          side, config.input_size, fraction))
            batch.clear()

    skipped = 0
    for raster_no, side, centre in tqdm(jobs, desc='gallery tiles', unit='tile',
                                        disable=not config.progress):
        image, valid = cut_tile(rasters[raster_no], centre, side, config.input_size)
        fraction = float(valid.mean())
        if fraction < config.min_valid_fraction:
            skipped += 1
            continue
        batch.append((image, raster_no, side, centre, fraction))
        if len(batch) >= config.batch_size:
            flush()
    flush()
    if not tiles:
        raise GalleryError(f'no tile of {sources} has {config.min_valid_fraction:.0%} valid '
                           'area; check the sources and tile sides')
    matrix = np.concatenate(descriptors)
    index = search_index.build_index(matrix, config.index_kind)
    import faiss
    faiss.write_index(index, str(out_dir / INDEX_FILE))
    write_tiles_csv(out_dir / TILES_FILE, tiles)
    raster_entries = [write_raster_png(out_dir / RASTER_DIR / f'{i:03d}.png', r)
                      for i, r in enumerate(rasters)]
    names = [INDEX_FILE, TILES_FILE] + [e['file'] for e in raster_entries]
    manifest = {
        'format_version': FORMAT_VERSION,
        'created_unix': round(time.time(), 1),
        'encoder': {'variant': encoder.variant, 'weights_id': encoder.weights_id,
                    'descriptor_dim': int(matrix.shape[1]),
                    'runtime': getattr(encoder, 'runtime', 'unknown')},
        'preprocessing': {'function': 'spikevim_ros.encoder.preprocess', 'color_order': 'rgb',
                          'input_size': config.input_size, 'normalisation': 'imagenet'},
        'crs': 'EPSG:4326 lat/lon; tiles north-up in each raster\'s local tangent plane',
        'build': {k: v for k, v in asdict(config).items() if k not in ('overwrite', 'progress')},
        'index': {'kind': search_index.index_kind(index), 'ntotal': int(index.ntotal)},
        'sources': [str(s) for s in sources],
        'rasters': raster_entries,
        'tile_count': len(tiles),
        'tiles_skipped_nodata': skipped,
        'build_seconds': round(time.time() - started, 1),
        'checksums': {name: sha256_file(out_dir / name) for name in names},
    }
    Gallery(out_dir, manifest, index, tiles).save_manifest()
