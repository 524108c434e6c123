"""``spikevim localize``: localize image files against a gallery, one JSON line per image."""

from __future__ import annotations

import argparse
import json

import cv2

from spikevim_ros.localization.localizer import Localizer
from spikevim_ros.localization.types import Prior, offline_config
from spikevim_ros.plausibility import require


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the localize options."""
    parser.add_argument('images', nargs='+', metavar='IMAGE', help='image files to localize')
    parser.add_argument('--gallery', required=True, help='gallery directory')
    parser.add_argument('--prior', nargs=3, type=float, metavar=('LAT', 'LON', 'RADIUS_M'),
                        help='restrict the search to a disc around a known position')
    parser.add_argument('--altitude', type=float, default=None,
                        help='height above ground in metres (needs --hfov for scale)')
    parser.add_argument('--hfov', type=float, default=None,
                        help='horizontal field of view of the camera in degrees')
    parser.add_argument('--weights', default='demo',
                        help='encoder weights the gallery was built with: a .safetensors file, '
                             '"demo" (the shipped demo model, default) or "none" (untrained)')
    parser.add_argument('--variant', default='T', help='encoder variant (T or S)')
    parser.add_argument('--runtime', default='auto', help='encoder runtime')


def check_options(args: argparse.Namespace) -> None:
    """Raise ValueError naming the option when a numeric option is physically implausible."""
    if args.altitude is not None:
        require('altitude_agl', args.altitude, '--altitude (height above ground)')
    if args.hfov is not None:
        require('hfov_deg', args.hfov, '--hfov (horizontal field of view)')
    if args.prior:
        for name, value in zip(('latitude', 'longitude', 'prior_radius'), args.prior):
            require(name, value, f'--prior {name.replace("prior_", "")}')


def run(args: argparse.Namespace) -> int:
    """Localize each image, one JSON object per line; exit 1 when any image could not be read."""
    from spikevim_ros.camera import PinholeCamera
    from spikevim_ros.encoder import build_encoder
    from spikevim_ros.gallery import Gallery, GalleryError

    check_options(args)
    try:
        encoder = build_encoder(args.variant, args.weights, args.runtime)
        localizer = Localizer(Gallery.load(args.gallery, encoder), encoder, offline_config())
    except (GalleryError, ValueError, FileNotFoundError) as exc:
        print(json.dumps({'error': str(exc)}))
        return 1
    prior = Prior(*args.prior) if args.prior else None
    failed = 0
    for path in args.images:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            print(json.dumps({'image': path, 'fix': False,
                              'reason': 'cannot read image (missing, empty or corrupt file)'}))
            failed += 1
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        camera = None
        if args.hfov is not None:
            camera = PinholeCamera.from_hfov(rgb.shape[1], rgb.shape[0], args.hfov)
        result = localizer.localize(rgb, prior, args.altitude, camera)
        print(json.dumps({'image': path, **result.to_json()}), flush=True)
    return 1 if failed else 0
