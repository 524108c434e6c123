"""
Cross-date drone-to-tile retrieval: R@1 / R@5 of several encoder weights in one run.

For each scenario ``GALLERY_DATE:FLIGHT_DATE`` of ``naip_multidate_west``, a gallery is built
from the gallery date with the product's gallery builder (tile side = nadir footprint at each
altitude, 50 % overlap, deployed input size), and drone frames (640x480, 70 deg hfov, random
heading, pitch 0-10 deg, roll sigma 3 deg, altitude +-10 %) are rendered from the flight date.
A frame is found at rank k when one of its k best tiles contains the ground point under the
image centre. Every weights file sees the same frames and the same tiles.

Example: ``python bench/bench_crossdate_retrieval.py --weights none demo NEW.safetensors``
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spikevim_ros.camera import CameraPose, PinholeCamera, image_to_ground
from spikevim_ros.encoder import build_encoder, preprocess
from spikevim_ros.gallery import GalleryBuildConfig, build_gallery
from spikevim_ros.gallery.build import sides_from_footprint
from spikevim_ros.geo import LocalFrame
from spikevim_ros.georaster import load_rasters
from spikevim_ros.render import render_view

DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'naip_multidate_west'
SCENARIOS = ('20160816:20180716', '20100629:20200831')   # never trained on (see the config)
CAMERA = PinholeCamera.from_hfov(640, 480, 70.0)


def date_raster(data: Path, date: str) -> Path:
    """Return the NAIP raster of a date (``YYYYMMDD``)."""
    path = data / f'naip_west_{date}.tif'
    if not path.is_file():
        raise FileNotFoundError(f'{path} does not exist; dates in {data}: '
                                f'{sorted(p.stem[-8:] for p in data.glob("naip_west_*.tif"))}')
    return path


def flight_frames(raster_path: Path, altitudes: list[float], count: int, seed: int) -> list:
    """Render ``count`` drone frames; return (RGB, true lat, true lon) of each."""
    raster = load_rasters(raster_path)[0]
    rng = np.random.default_rng(seed)
    min_e, min_n, max_e, max_n = raster.bounds_en()
    frames = []
    while len(frames) < count:
        altitude = float(rng.choice(altitudes)) * rng.uniform(0.9, 1.1)
        pose = CameraPose(float(rng.uniform(min_e, max_e)), float(rng.uniform(min_n, max_n)),
                          altitude, yaw_deg=float(rng.uniform(0, 360)),
                          pitch_deg=float(rng.uniform(0, 10)),
                          roll_deg=float(rng.normal(0, 3)))
        image, valid = render_view(raster, CAMERA, pose)
        if valid.mean() < 0.9:
            continue
        east, north = image_to_ground(CAMERA, pose, CAMERA.cx, CAMERA.cy)
        lat, lon = raster.frame.to_latlon(float(east), float(north))
        frames.append((image, float(lat), float(lon)))
    return frames


def recall(gallery, encoder, frames: list, size: int, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Return R@k (percent) of the frames against a gallery."""
    hits = {k: 0 for k in ks}
    for image, lat, lon in frames:
        with torch.no_grad():
            descriptor = encoder(preprocess(image, size=size)).float().cpu().numpy()
        ids, _ = gallery.search(descriptor, max(ks))
        east, north = LocalFrame(lat, lon).to_en(gallery.tile_lat[ids], gallery.tile_lon[ids])
        half = gallery.tile_side[ids] / 2.0
        inside = (np.abs(east) <= half) & (np.abs(north) <= half)
        for k in ks:
            hits[k] += bool(inside[:k].any())
    return {f'R@{k}': round(100.0 * hits[k] / len(frames), 2) for k in ks}


def main(argv: list[str] | None = None) -> int:
    """Run every scenario for every weights file and print a table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--weights', nargs='+', default=['none', 'demo'],
                        help='weights to compare: "none" (untrained), "demo" or .safetensors')
    parser.add_argument('--scenarios', nargs='+', default=list(SCENARIOS),
                        help='GALLERY_DATE:FLIGHT_DATE pairs (default: %(default)s)')
    parser.add_argument('--data', type=Path, default=DATA, help='naip_multidate_west folder')
    parser.add_argument('--altitudes', type=float, nargs='+', default=[600.0],
                        help='flight altitudes above ground (m); one gallery scale each')
    parser.add_argument('--frames', type=int, default=100, help='drone frames per scenario')
    parser.add_argument('--size', type=int, default=384, help='encoder input size (deployed)')
    parser.add_argument('--runtime', default='fast', help='encoder runtime (default fast)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    parser.add_argument('--seed', type=int, default=0, help='frame sampling seed')
    parser.add_argument('--out', type=Path, default=Path('out/bench_crossdate'),
                        help='output folder (galleries and results.json)')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sides = sides_from_footprint(CAMERA, args.altitudes)
    encoders = {w: build_encoder('T', w, args.runtime) for w in args.weights}
    results = []
    for scenario in args.scenarios:
        gallery_date, flight_date = scenario.split(':')
        frames = flight_frames(date_raster(args.data, flight_date), args.altitudes,
                               args.frames, args.seed)
        for name, encoder in tqdm(encoders.items(), desc=scenario):
            folder = args.out / f'gallery_{gallery_date}_{Path(name).stem}'
            gallery = build_gallery([date_raster(args.data, gallery_date)], folder, encoder,
                                    GalleryBuildConfig(tile_sides_m=sides, input_size=args.size,
                                                       overwrite=True, progress=False))
            results.append({'gallery_date': gallery_date, 'flight_date': flight_date,
                            'weights': name, 'tiles': len(gallery), 'frames': len(frames),
                            **recall(gallery, encoder, frames, args.size)})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'results.json').write_text(json.dumps(
        {'altitudes_m': args.altitudes, 'tile_sides_m': list(sides), 'input_size': args.size,
         'runtime': args.runtime, 'results': results}, indent=2))
    width = max(len(w) for w in args.weights)
    print(f'{"gallery/flight":<18} {"weights":<{width}} {"tiles":>5} {"R@1":>6} {"R@5":>6}')
    for r in results:
        print(f"{r['gallery_date'] + '/' + r['flight_date']:<18} {r['weights']:<{width}} "
              f"{r['tiles']:>5} {r['R@1']:>6.1f} {r['R@5']:>6.1f}")
    for w in args.weights:
        rows = [r for r in results if r['weights'] == w]
        print(f'mean {w}: R@1 {np.mean([r["R@1"] for r in rows]):.1f}  '
              f'R@5 {np.mean([r["R@5"] for r in rows]):.1f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
