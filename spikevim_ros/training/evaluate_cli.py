"""
``spikevim evaluate``: retrieval metrics on University-1652 / SUES-200 style folders.

Drone->satellite and satellite->drone, both protocols side by side (each with standard and
trapezoidal AP), SUES-200 per altitude, optional k-reciprocal re-ranking and the
RandomKeepPatches robustness table; several weights and input sizes in the same run. Images
are streamed from disk in batches (a DataLoader) to the GPU when there is one, so memory does
not grow with the dataset; only the descriptors are kept. Writes JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from spikevim_ros.encoder import build_encoder, preprocess
from spikevim_ros.training.datasets import (SUES200, SUES200_ALTITUDES, RandomKeepPatches,
                                            RetrievalSplit, SyntheticCrossView, University1652,
                                            read_rgb, write_university1652)
from spikevim_ros.training.metrics import AP_KINDS, PROTOCOLS, evaluate_retrieval
from spikevim_ros.training.rerank import k_reciprocal_rerank

METRIC_NAMES = ('R@1', 'R@5', 'R@10', 'R@1%', 'AP')
KEEP_RATIOS = (0.2, 0.4, 0.6, 0.8, 1.0)
KEEP_PATCHES = (5, 10)


class ImageFiles(torch.utils.data.Dataset):
    """Image files as network inputs of ``size``; ``keep`` = (ratio, patches) masks them."""

    def __init__(self, paths: list[Path], size: int, keep: tuple[float, int] | None = None,
                 seed: int = 0) -> None:
        self.paths, self.size, self.keep, self.seed = list(paths), int(size), keep, seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = read_rgb(self.paths[index])
        if self.keep is not None:
            image = RandomKeepPatches(*self.keep, seed=[self.seed, index])(image)
        return preprocess(image, size=self.size)[0]


def embed(encoder, images: ImageFiles, batch: int = 64, workers: int = 0) -> torch.Tensor:
    """Return L2-normalised descriptors [N, C] (on the CPU) of streamed images."""
    device = next(encoder.parameters()).device
    loader = torch.utils.data.DataLoader(images, batch_size=batch, num_workers=workers,
                                         pin_memory=device.type == 'cuda')
    out = []
    with torch.inference_mode():
        for tensor in tqdm(loader, desc=f'encode @{images.size}', leave=False):
            out.append(encoder(tensor.to(device, non_blocking=True)).float().cpu())
    return torch.cat(out)


def similarity(query: torch.Tensor, gallery: torch.Tensor, rerank: bool) -> torch.Tensor:
    """Cosine similarity, or minus the k-reciprocal re-ranked distance."""
    if not rerank:
        return query @ gallery.T

    def dist(a, b):
        return torch.sqrt((2.0 - 2.0 * a @ b.T).clamp_min(0)).numpy()
    return torch.from_numpy(-k_reciprocal_rerank(dist(query, gallery), dist(query, query),
                                                 dist(gallery, gallery)))


def evaluate_split(encoder, split: RetrievalSplit, size: int, protocols: list[str],
                   aps: list[str], rerank: bool, keep: list[tuple[float, int] | None],
                   batch: int = 64, workers: int = 0, seed: int = 0) -> list[dict]:
    """Evaluate one split; return rows (one per keep setting, re-ranking, protocol and AP)."""
    gallery = embed(encoder, ImageFiles(split.gallery_paths, size), batch, workers)
    rows = []
    for setting in keep:
        feats = embed(encoder, ImageFiles(split.query_paths, size, setting, seed), batch,
                      workers)
        ratio, patches = setting or (None, None)
        for use_rerank in sorted({False, rerank}):
            sim = similarity(feats, gallery, use_rerank)
            for protocol in protocols:
                for ap in aps:
                    metrics = evaluate_retrieval(sim, split.query_ids, split.gallery_ids,
                                                 protocol, ap)
                    rows.append({'protocol': protocol, 'ap': ap, 'rerank': use_rerank,
                                 'keep_ratio': ratio, 'keep_patches': patches, **metrics})
    return rows


def markdown_table(rows: list[dict]) -> str:
    """Render result rows as a Markdown table, the protocols side by side."""
    keys = [k for k in rows[0] if k not in METRIC_NAMES + ('protocol', 'ap')]
    protocols = list(dict.fromkeys(r['protocol'] for r in rows))
    aps = list(dict.fromkeys(r['ap'] for r in rows))
    columns = [c for p in protocols for c in [(p, m, aps[0]) for m in METRIC_NAMES[:-1]]
               + [(p, 'AP', ap) for ap in aps]]
    table: dict[tuple, dict] = {}
    for row in rows:
        cells = table.setdefault(tuple(row[k] for k in keys), {})
        for metric in METRIC_NAMES:
            cells[(row['protocol'], metric, row['ap'])] = row[metric]
    names = [f'{p} {m}' + (f' ({ap})' if m == 'AP' else '') for p, m, ap in columns]
    lines = ['| ' + ' | '.join(keys + names) + ' |', '|' + '---|' * (len(keys) + len(names))]
    for key, cells in table.items():
        values = [f'{cells[c]:.2f}' if c in cells else '' for c in columns]
        lines.append('| ' + ' | '.join([str(k) for k in key] + values) + ' |')
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
    parser.add_argument('--protocols', nargs='+', default=list(PROTOCOLS), choices=PROTOCOLS)
    parser.add_argument('--ap', nargs='+', default=list(AP_KINDS), choices=AP_KINDS,
                        help='AP definitions reported (default both)')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument('--batch', type=int, default=64, help='images per batch (default 64)')
    parser.add_argument('--workers', type=int, default=2,
                        help='image decoding processes (default 2; 0 decodes in-process)')
    parser.add_argument('--rerank', action='store_true',
                        help='also report k-reciprocal re-ranking (Zhong et al. 2017)')
    parser.add_argument('--keep-patches', action='store_true',
                        help='RandomKeepPatches table: keep 20-100%% of the query in 5/10 '
                             'patches (100%% still masks: the patches overlap)')
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
    keep = [None]
    if args.keep_patches:
        keep += [(r, p) for p in KEEP_PATCHES for r in KEEP_RATIOS]
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type != 'cpu' and args.runtime == 'int8':
        raise ValueError('the int8 runtime (onnxruntime) runs on the CPU only: use '
                         '--runtime fast or eager on a GPU, or --device cpu')
    rows = []
    splits = _splits(args)
    for weights in args.weights:
        encoder = build_encoder(args.variant, weights, args.runtime).to(device)
        for size in args.sizes:
            for name, split in splits:
                for row in evaluate_split(encoder, split, size, args.protocols, args.ap,
                                          args.rerank, keep, args.batch, args.workers):
                    rows.append({'weights': weights, 'size': size, 'split': name, **row})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    table = markdown_table(rows)
    out.with_suffix('.md').write_text(table)
    print(table)
    return 0
