"""
Benchmark the encoder runtimes: eager vs fused fp32 vs int8 (CPU), optional GPU section.

Example: ``python bench/bench_encoder.py --out out/bench_encoder.json``
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from spikevim_ros.encoder import build_encoder, load_image

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'caliterra' / 'images'


def rate(fn, x: torch.Tensor, warmup: int, iters: int) -> float:
    """Return calls per second of ``fn(x)``."""
    for _ in range(warmup):
        fn(x)
    start = time.perf_counter()
    for _ in range(iters):
        fn(x)
    return iters / (time.perf_counter() - start)


def load_inputs(folder: Path, count: int, size: int) -> torch.Tensor:
    """Return ``count`` real images from ``folder`` (random tensors if none are found)."""
    files = sorted(folder.glob('*.jpg'))[:count] if folder.is_dir() else []
    if not files:
        return torch.randn(count, 3, size, size)
    return torch.cat([load_image(str(p), size) for p in files])


def bench_cpu(variant: str, images: torch.Tensor, args: argparse.Namespace) -> dict:
    """Measure batch-1 descriptors/s per runtime and the descriptor agreement with eager."""
    results = {}
    with torch.inference_mode():
        reference = build_encoder(variant, runtime='eager')
        ref = reference(images)
        for runtime in args.runtimes:
            encoder = reference if runtime == 'eager' else build_encoder(variant, runtime=runtime)
            desc = torch.cat([encoder(images[i:i + 1]) for i in range(len(images))])
            results[runtime] = {
                'desc_per_s': rate(encoder, images[:1], args.warmup, args.iters),
                'min_cosine_vs_eager': float((desc * ref).sum(1).min()),
                'top1_same_as_eager': bool(torch.equal((desc @ ref.T).argmax(1),
                                                       (ref @ ref.T).argmax(1))),
            }
    for runtime, entry in results.items():
        entry['speedup_vs_eager'] = entry['desc_per_s'] / results['eager']['desc_per_s']
    return results


def bench_gpu(variant: str, args: argparse.Namespace) -> dict:
    """Measure batch-1 latency and batch-64 bf16 throughput on CUDA."""
    encoder = build_encoder(variant, runtime='fast').cuda()
    one = torch.randn(1, 3, args.size, args.size, device='cuda')
    batch = torch.randn(64, 3, args.size, args.size, device='cuda')

    def run(x):
        out = encoder(x)
        torch.cuda.synchronize()
        return out
    return {'batch1_latency_ms': 1000.0 / rate(run, one, args.warmup, args.iters),
            'batch64_bf16_desc_per_s': 64 * rate(run, batch, args.warmup, args.iters)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--variants', nargs='+', default=['T', 'S'], choices=['T', 'S'])
    parser.add_argument('--runtimes', nargs='+', default=['eager', 'fast', 'int8'],
                        choices=['eager', 'fast', 'int8'])
    parser.add_argument('--images', type=Path, default=DEFAULT_IMAGES)
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--size', type=int, default=384)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--out', type=Path, default=None, help='write JSON results here')
    args = parser.parse_args()
    if 'eager' not in args.runtimes:
        args.runtimes.insert(0, 'eager')
    torch.set_num_threads(args.threads)
    images = load_inputs(args.images, args.num_images, args.size)
    report = {'platform': platform.processor() or platform.machine(), 'threads': args.threads,
              'size': args.size, 'batch': 1, 'torch': torch.__version__, 'cpu': {}}
    for variant in args.variants:
        report['cpu'][variant] = bench_cpu(variant, images, args)
        for runtime, entry in report['cpu'][variant].items():
            print(f"{variant} {runtime:<6} {entry['desc_per_s']:7.2f} desc/s  "
                  f"x{entry['speedup_vs_eager']:.2f} vs eager  "
                  f"min cos {entry['min_cosine_vs_eager']:.5f}  "
                  f"top-1 same {entry['top1_same_as_eager']}")
    if torch.cuda.is_available():
        report['gpu'] = {v: bench_gpu(v, args) for v in args.variants}
        print(json.dumps(report['gpu'], indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
