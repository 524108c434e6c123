"""
Held-out check of encoder weights with the full localization pipeline.

``python -m spikevim_ros.training.heldout --raster MAP --weights A.safetensors [B ...]``
renders drone frames of a map that training never saw (known poses), builds one gallery per
encoder (input 384 by default, as the product does) and reports the localization error of
:class:`~spikevim_ros.localization.Localizer` per encoder, untrained ("none") included.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikevim_ros.camera import image_to_ground
from spikevim_ros.encoder import build_encoder
from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
from spikevim_ros.geo import horizontal_distance_m
from spikevim_ros.georaster import load_rasters
from spikevim_ros.localization import Localizer
from spikevim_ros.localization.types import offline_config
from spikevim_ros.training.datasets import SyntheticCrossView


def heldout_frames(raster_path: str, tile_side: float, frames: int, seed: int = 0):
    """Yield (RGB frame, camera, pose, true lat/lon of the image centre) of held-out views."""
    rasters = load_rasters(raster_path)
    source = SyntheticCrossView(rasters, tile_side, size=480, seed=seed)
    rng = np.random.default_rng(seed)
    camera = source.camera()
    for location in rng.choice(source.num_classes, frames, replace=frames > source.num_classes):
        image, pose = source.render(int(location), rng)
        raster = rasters[source.locations[int(location)].raster]
        east, north = image_to_ground(camera, pose, camera.cx, camera.cy)
        yield image, camera, pose, raster.frame.to_latlon(float(east), float(north))


def localization_errors(weights: str, raster_path: str, tile_side: float, frames: list,
                        work_dir: Path, size: int, top_k: int | None = None) -> dict:
    """
    Build a gallery with ``weights`` and return error statistics of the frames.

    A frame without a fix counts as an infinite error (``null`` in ``errors_m``). ``top_k``
    verifies only the K best retrieved tiles, as the localizer does in large galleries.
    """
    encoder = build_encoder('T', weights, 'fast')
    gallery = build_gallery([raster_path], work_dir / Path(weights).stem, encoder,
                            GalleryBuildConfig(tile_sides_m=(tile_side,), input_size=size,
                                               overwrite=True, progress=False))
    config = offline_config()
    if top_k is not None:
        config = replace(config, top_k=top_k, rank_all_below=0)
    localizer = Localizer(gallery, encoder, config)
    errors = []
    for image, camera, pose, (lat, lon) in tqdm(frames, desc=f'localize ({weights})'):
        result = localizer.localize(image, altitude_agl=pose.altitude_agl, camera=camera)
        errors.append(horizontal_distance_m(lat, lon, result.latitude, result.longitude)
                      if result.fix else float('inf'))
    errors = np.array(errors)
    return {'weights': weights, 'frames': len(errors),
            'fix_rate': float(np.isfinite(errors).mean()),
            'median_error_m': float(np.median(errors)), 'top_k': top_k,
            'errors_m': [round(float(e), 2) if np.isfinite(e) else None for e in errors]}


def main(argv: list[str] | None = None) -> int:
    """Run the held-out localization comparison and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--raster', required=True, help='held-out GeoTIFF or corners table')
    parser.add_argument('--weights', nargs='+', default=['none'],
                        help='weights to compare; "none" is the untrained encoder')
    parser.add_argument('--tile-side', type=float, default=50.0, help='gallery tile side (m)')
    parser.add_argument('--frames', type=int, default=12, help='drone frames (default 12)')
    parser.add_argument('--size', type=int, default=384, help='encoder input size')
    parser.add_argument('--top-k', type=int,
                        help='verify only the K best retrieved tiles (default: the localizer '
                             'default, which verifies every tile of galleries under 64 tiles)')
    parser.add_argument('--out', default='runs/heldout', help='output folder')
    args = parser.parse_args(argv)
    out = Path(args.out)
    frames = list(heldout_frames(args.raster, args.tile_side, args.frames))
    results = [localization_errors(w, args.raster, args.tile_side, frames, out, args.size,
                                   args.top_k) for w in args.weights]
    out.mkdir(parents=True, exist_ok=True)
    (out / 'localization.json').write_text(json.dumps(results, indent=2))
    for r in results:
        print(f"{r['weights']}: median error {r['median_error_m']:.1f} m, "
              f"fix rate {100 * r['fix_rate']:.0f} % over {r['frames']} frames")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
