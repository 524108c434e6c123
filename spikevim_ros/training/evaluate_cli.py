"""
``spikevim evaluate``: retrieval metrics on University-1652 / SUES-200 style folders.

Drone->satellite and satellite->drone, both protocols, SUES-200 per altitude, optional
k-reciprocal re-ranking and the RandomKeepPatches robustness table; several weights and input
sizes are compared in the same run. Writes JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spikevim_ros.encoder import build_encoder, preprocess
from spikevim_ros.training.datasets import (SUES200, SUES200_ALTITUDES, RandomKeepPatches,
                                            RetrievalSplit, SyntheticCrossView, University1652,
                                            read_rgb, write_university1652)
from spikevim_ros.training.metrics import evaluate_retrieval
from spikevim_ros.training.rerank import k_reciprocal_rerank

METRIC_NAMES = ('R@1', 'R@5', 'R@10', 'R@1%', 'AP')


def embed(encoder, images: list[np.ndarray], size: int, batch: int = 16) -> torch.Tensor:
    """Return L2-normalised descriptors [N, C] of RGB images at input ``size``."""
    out = []
    for start in tqdm(range(0, len(images), batch), desc=f'encode @{size}', leave=False):
        tensor = torch.cat([preprocess(im, size=size) for im in images[start:start + batch]])
        with torch.inference_mode():
            out.append(encoder(tensor).float())
    return torch.cat(out)


def similarity(query: torch.Tensor, gallery: torch.Tensor, rerank: bool) -> np.ndarray:
    """Cosine similarity, or minus the k-reciprocal re-ranked distance."""
    if not rerank:
        return (query @ gallery.T).numpy()

    def dist(a, b):
        return torch.sqrt((2.0 - 2.0 * a @ b.T).clamp_min(0)).numpy()
    return -k_reciprocal_rerank(dist(query, gallery), dist(query, query), dist(gallery, gallery))


def evaluate_split(encoder, split: RetrievalSplit, size: int, protocols: list[str], ap: str,
                   rerank: bool, keep: list[tuple[float, int]], seed: int = 0) -> list[dict]:
    """Evaluate one split; return result rows (one per protocol, re-ranking and keep setting)."""
    queries = [read_rgb(p) for p in split.query_paths]
    gallery = embed(encoder, [read_rgb(p) for p in split.gallery_paths], size)
    rows = []
    for ratio, patches in keep:
        masker = RandomKeepPatches(ratio, patches, seed)
        feats = embed(encoder, [masker(im) for im in queries], size)
        for use_rerank in sorted({False, rerank}):
            sim = similarity(feats, gallery, use_rerank)
            for protocol in protocols:
                metrics = evaluate_retrieval(sim, split.query_ids, split.gallery_ids, protocol, ap)
                rows.append({'protocol': protocol, 'ap': ap, 'rerank': use_rerank,
                             'keep_ratio': ratio, 'keep_patches': patches, **metrics})
    return rows


def markdown_table(rows: list[dict]) -> str:
    """Render result rows as a Markdown table."""
    keys = [k for k in rows[0] if k not in METRIC_NAMES]
    lines = ['| ' + ' | '.join(keys + list(METRIC_NAMES)) + ' |',
             '|' + '---|' * (len(keys) + len(METRIC_NAMES))]
    for row in rows:
        cells = [str(row[k]) for k in keys] + [f'{row[m]:.2f}' for m in METRIC_NAMES]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the evaluation options."""
    parser.add_argument('--data', required=True,
                        help='dataset root (University-1652 or SUES-200 layout); with '
                             '--synthetic, the folder the synthetic test set is written to')
    parser.add_argument('--dataset', choices=['university1652', 'sues200'],
                        default='university1652')
    parser.add_argument('--synthetic', metavar='RASTER',
                        help='first render a held-out test set of this GeoTIFF / corners '
                             'table in the University-1652 layout under --data')
    parser.add_argument('--tile-side', type=float, default=50.0,
                        help='synthetic tile side in metres (default 50)')
    parser.add_argument('--views', type=int, default=3,
                        help='synthetic drone views per location (default 3)')
    parser.add_argument('--render-size', type=int, default=384,
                        help='synthetic image height in pixels (default 384)')
    parser.add_argument('--altitudes', type=int, nargs='+', default=list(SUES200_ALTITUDES),
                        help='SUES-200 altitudes to evaluate (default all four)')
    parser.add_argument('--weights', nargs='+', default=['none'],
                        help='weights files to compare; "none" is the untrained encoder')
    parser.add_argument('--variant', default='T', help='encoder variant (T or S)')
    parser.add_argument('--runtime', default='fast', help='encoder runtime (eager, fast, int8)')
    parser.add_argument('--sizes', type=int, nargs='+', default=[384],
                        help='network input sizes to evaluate (default 384)')
    parser.add_argument('--directions', nargs='+', default=['drone', 'satellite'],
                        choices=['drone', 'satellite'],
                        help='query views: drone (drone->satellite), satellite (satellite->drone)')
    parser.add_argument('--protocols', nargs='+', default=['university1652', 'sample4geo'],
                        choices=['university1652', 'sample4geo'])
    parser.add_argument('--ap', default='trapezoid', choices=['trapezoid', 'standard'])
    parser.add_argument('--rerank', action='store_true',
                        help='also report k-reciprocal re-ranking (Zhong et al. 2017)')
    parser.add_argument('--keep-patches', action='store_true',
                        help='RandomKeepPatches table: keep 20-100%% of the query in 5/10 patches')
    parser.add_argument('--out', default='evaluation.json', help='JSON output (default '
                        'evaluation.json); a Markdown table is written beside it (.md)')


def _splits(args) -> list[tuple[str, RetrievalSplit]]:
    if args.dataset == 'sues200':
        data = SUES200(args.data)
        return [(f'{alt}m {d}->', data.test(alt, d)) for alt in args.altitudes
                for d in args.directions]
    data = University1652(args.data)
    return [(f'{d}->', data.test(d)) for d in args.directions]


def run(args: argparse.Namespace) -> int:
    """Evaluate every weights file and size; write JSON + Markdown."""
    if args.synthetic:
        source = SyntheticCrossView.from_sources(
            [{'path': args.synthetic, 'tile_side_m': args.tile_side}], size=args.render_size)
        write_university1652(source, args.data, 'test', args.views)
        args.dataset = 'university1652'
    keep = [(1.0, 5)]
    if args.keep_patches:
        keep += [(r / 100.0, p) for p in (5, 10) for r in (20, 40, 60, 80)]
    rows = []
    splits = _splits(args)
    for weights in args.weights:
        encoder = build_encoder(args.variant, weights,
                                args.runtime)
        for size in args.sizes:
            for name, split in splits:
                for row in evaluate_split(encoder, split, size, args.protocols, args.ap,
                                          args.rerank, keep):
                    rows.append({'weights': weights, 'size': size, 'split': name, **row})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    table = markdown_table(rows)
    out.with_suffix('.md').write_text(table)
    print(table)
    return 0
