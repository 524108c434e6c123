"""``spikevim gallery build|info``: build or inspect a geo-referenced tile gallery."""

from __future__ import annotations

import argparse
import json

from spikevim_ros.cli import number_list
from spikevim_ros.gallery.build import GalleryBuildConfig, build_gallery
from spikevim_ros.gallery.store import Gallery


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``build`` and ``info`` actions."""
    actions = parser.add_subparsers(dest='action', required=True, metavar='ACTION')
    build = actions.add_parser('build', help='build a gallery from map sources')
    build.add_argument('sources', nargs='+', metavar='SOURCE',
                       help='GeoTIFF (any CRS), corners table (.txt/.csv), folder of those, '
                            'or an XYZ/TMS z/x/y tile folder; several are merged')
    build.add_argument('--out', required=True, help='gallery directory to create')
    build.add_argument('--tile-side', type=number_list, default=[200.0], metavar='M[,M...]',
                       help='tile side(s) in ground metres, about the camera footprint; '
                            'several as a comma list: 150,200')
    build.add_argument('--stride', type=float, default=0.5,
                       help='stride as a fraction of the tile side (0.5 = 50%% overlap)')
    build.add_argument('--min-valid', type=float, default=0.5,
                       help='skip tiles with less valid (non-nodata) area than this')
    build.add_argument('--input-size', type=int, default=384, help='encoder input side')
    build.add_argument('--index', default='auto', choices=['auto', 'flat', 'ivfpq', 'hnsw'])
    build.add_argument('--tms', action='store_true', help='tile folders use TMS (flipped y)')
    build.add_argument('--variant', default='T', help='encoder variant (T or S)')
    build.add_argument('--weights', default='demo',
                       help='encoder weights: a .safetensors file, "demo" (the shipped demo '
                            'model, default) or "none" (untrained)')
    build.add_argument('--runtime', default='auto', help='encoder runtime')
    build.add_argument('--overwrite', action='store_true', help='replace an existing gallery')
    info = actions.add_parser('info', help='verify a gallery and print its manifest summary')
    info.add_argument('directory')


def run(args: argparse.Namespace) -> int:
    """Run the chosen action (errors reach the ``spikevim`` error line)."""
    if args.action == 'info':
        gallery = Gallery.load(args.directory)
        summary = {k: gallery.manifest[k] for k in
                   ('format_version', 'encoder', 'preprocessing', 'build', 'index',
                    'sources', 'tile_count', 'tiles_skipped_nodata')}
        print(json.dumps(summary, indent=2))
        return 0
    from spikevim_ros.encoder import build_encoder
    encoder = build_encoder(args.variant, args.weights, args.runtime)
    config = GalleryBuildConfig(tile_sides_m=tuple(args.tile_side),
                                stride_fraction=args.stride,
                                min_valid_fraction=args.min_valid,
                                input_size=args.input_size, index_kind=args.index,
                                tile_scheme='tms' if args.tms else 'xyz',
                                overwrite=args.overwrite)
    gallery = build_gallery(args.sources, args.out, encoder, config)
    print(f'{gallery}: {len(gallery)} tiles written to {args.out}')
    return 0
