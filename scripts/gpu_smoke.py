#!/usr/bin/env python3
"""
GPU smoke test of the paper recipe: train, export and evaluate on a synthetic U1652 layout.

Writes a procedural University-1652-layout set, trains the paper config
(``config/train_T_paper.yaml``: cosine + warmup, clip, weight decay 0.05, DAC augmentation,
SSA/SHS/HRAL/InfoNCE) for ``--steps`` steps from random init (or ``--init-weights``), exports
the backbone and runs ``spikevim evaluate`` on the test split (streamed, both protocols).
Prints training and evaluation throughput (images/s) and peak memory, and writes them as JSON.

GPU (one call):  python scripts/gpu_smoke.py --out runs/gpu_smoke.json
CPU, tiny (CI):  python scripts/gpu_smoke.py --device cpu --steps 2 --image-size 32 --batch 4 \
                     --train-locations 6 --test-locations 4 --distractors 2 --views 2
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spikevim_ros.training import evaluate_cli  # noqa: E402
from spikevim_ros.training.config import load_config  # noqa: E402
from spikevim_ros.training.export_cli import export_backbone  # noqa: E402
from spikevim_ros.training.synthetic_layout import write_synthetic_university1652  # noqa: E402
from spikevim_ros.training.trainer import Trainer  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=str(REPO / 'config/train_T_paper.yaml'))
    parser.add_argument('--init-weights', default=None,
                        help="the authors' ImageNet checkpoint (default: random init)")
    parser.add_argument('--device', default=None, help='cuda (default when present) or cpu')
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--image-size', type=int, default=384)
    parser.add_argument('--batch', type=int, default=32, help='pairs per step (global)')
    parser.add_argument('--train-locations', type=int, default=200)
    parser.add_argument('--test-locations', type=int, default=100)
    parser.add_argument('--distractors', type=int, default=50)
    parser.add_argument('--views', type=int, default=4)
    parser.add_argument('--workers', type=int, default=8)
    parser.add_argument('--workdir', default='runs/gpu_smoke')
    parser.add_argument('--out', default=None, help='write the figures here as JSON')
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MiB (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train(args: argparse.Namespace, data: Path, device: str) -> tuple[Path, dict]:
    """Run the paper config on the synthetic set; return the checkpoint and figures."""
    config = load_config(args.config, {
        'data': {'kind': 'university1652', 'root': str(data)},
        'init_weights': args.init_weights, 'image_size': args.image_size,
        'batch_size': args.batch, 'epochs': 10 ** 6, 'max_steps': args.steps,
        'output_dir': str(Path(args.workdir) / 'train'), 'num_workers': args.workers,
        'checkpoint_every': 10 ** 9, 'log_every': 1})
    config.init_weights = args.init_weights
    trainer = Trainer(config, device)
    if trainer.device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(trainer.device)
    started = time.perf_counter()
    checkpoint = trainer.fit(resume=False)
    seconds = time.perf_counter() - started
    figures = {'steps': trainer.step, 'seconds': round(seconds, 2),
               'images_per_s': round(2 * args.batch * trainer.step / seconds, 1),
               'peak_rss_mb': round(peak_rss_mb(), 1)}
    if trainer.device.type == 'cuda':
        figures['peak_gpu_mb'] = round(torch.cuda.max_memory_allocated(trainer.device) / 2 ** 20)
    return checkpoint, figures


def evaluate(args: argparse.Namespace, data: Path, weights: Path, device: str) -> dict:
    """Evaluate untrained and trained backbones; return figures and the result rows."""
    parser = argparse.ArgumentParser()
    evaluate_cli.add_arguments(parser)
    out = Path(args.workdir) / 'evaluation.json'
    eval_args = parser.parse_args([
        '--data', str(data), '--weights', 'none', str(weights), '--sizes', str(args.image_size),
        '--device', device, '--workers', str(args.workers), '--out', str(out)])
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    images = sum(1 for p in (data / 'test').rglob('*.jpg'))
    started = time.perf_counter()
    evaluate_cli.run(eval_args)
    seconds = time.perf_counter() - started
    rows = json.loads(out.read_text())
    figures = {'images_encoded': 2 * images, 'seconds': round(seconds, 2),
               'images_per_s': round(2 * images / seconds, 1),
               'peak_rss_mb': round(peak_rss_mb(), 1),
               'r1_drone_to_satellite': {
                   r['weights'].split('/')[-1]: round(r['R@1'], 2) for r in rows
                   if r['split'] == 'drone->' and r['protocol'] == 'university1652'
                   and r['ap'] == 'standard' and not r['rerank']}}
    if device.startswith('cuda'):
        figures['peak_gpu_mb'] = round(torch.cuda.max_memory_allocated() / 2 ** 20)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Build the set, train, export, evaluate, print and return 0."""
    args = parse_args(argv)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    data = Path(args.workdir) / 'data'
    started = time.perf_counter()
    write_synthetic_university1652(data, args.train_locations, args.test_locations,
                                   args.views, args.distractors, args.image_size)
    report = {'device': torch.cuda.get_device_name() if device.startswith('cuda') else 'cpu',
              'torch': torch.__version__,
              'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
              'settings': {k: v for k, v in vars(args).items() if k != 'out'},
              'dataset_seconds': round(time.perf_counter() - started, 2)}
    checkpoint, report['train'] = train(args, data, device)
    weights = Path(args.workdir) / 'backbone.safetensors'
    export_backbone(checkpoint, weights, {'training_data': 'synthetic U1652 layout (smoke)'})
    report['evaluate'] = evaluate(args, data, weights, device)
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
