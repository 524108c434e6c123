"""
Benchmark the encoder runtimes: eager vs fused fp32 vs int8 (CPU, batch 1), optional GPU.

The CPU runtimes are timed round-robin (one call of each per round) so that load from other
processes affects all of them equally; medians are reported, with ratios against eager.
With CUDA available, the GPU section measures batch-1 latency (compiled / CUDA graphs) and
batch-64 bf16 throughput of the fast runtime.

Example: ``python bench/bench_encoder.py --weights demo --out out/bench_encoder.json``
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from tqdm import tqdm

from spikevim_ros.encoder import build_encoder, load_image

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'caliterra' / 'images'
RUNTIMES = ('eager', 'fast', 'int8')


def load_inputs(folder: Path, count: int, size: int) -> torch.Tensor:
    """Return ``count`` real images from ``folder`` (random tensors if none are found)."""
    files = sorted(folder.glob('*.jpg'))[:count] if folder.is_dir() else []
    if not files:
        return torch.randn(count, 3, size, size)
    return torch.cat([load_image(str(p), size) for p in files])


def weights_for(variant: str, weights: str) -> str:
    """Return the weights option for ``variant`` (the demo weights exist for T only)."""
    return weights if variant == 'T' or weights != 'demo' else 'none'


def round_robin(encoders: dict, images: torch.Tensor, warmup: int, iters: int) -> dict:
    """Time one batch-1 call per encoder per round; return median seconds per encoder."""
    times = {name: [] for name in encoders}
    for step in tqdm(range(warmup + iters), desc='rounds', leave=False):
        x = images[step % len(images)][None]
        for name, encoder in encoders.items():
            start = time.perf_counter()
            encoder(x)
            if step >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_cpu(variant: str, images: torch.Tensor, args: argparse.Namespace) -> dict:
    """Measure batch-1 descriptors/s per runtime and the descriptor agreement with eager."""
    weights = weights_for(variant, args.weights)
    with torch.inference_mode():
        encoders = {rt: build_encoder(variant, weights, runtime=rt) for rt in args.runtimes}
        desc = {rt: torch.cat([enc(images[i:i + 1]) for i in range(len(images))])
                for rt, enc in encoders.items()}
        seconds = round_robin(encoders, images, args.warmup, args.iters)
    results = {'weights': encoders['eager'].weights_id}
    for rt in args.runtimes:
        results[rt] = {
            'median_ms': 1000.0 * seconds[rt],
            'desc_per_s': 1.0 / seconds[rt],
            'speedup_vs_eager': seconds['eager'] / seconds[rt],
            'min_cosine_vs_eager': float((desc[rt] * desc['eager']).sum(1).min()),
        }
        if 'fast' in desc:
            results[rt]['min_cosine_vs_fast'] = float((desc[rt] * desc['fast']).sum(1).min())
    return results


def cuda_median_s(fn, x: torch.Tensor, warmup: int, iters: int) -> float:
    """Return the median seconds of ``fn(x)`` on CUDA (synchronised)."""
    times = []
    for step in range(warmup + iters):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn(x)
        torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_gpu(variant: str, args: argparse.Namespace) -> dict:
    """Measure batch-1 latency and batch-64 bf16 throughput of the fast runtime on CUDA."""
    encoder = build_encoder(variant, weights_for(variant, args.weights), runtime='fast').cuda()
    one = torch.randn(1, 3, args.size, args.size, device='cuda')
    batch = torch.randn(64, 3, args.size, args.size, device='cuda')
    with torch.inference_mode():
        latency = cuda_median_s(encoder, one, args.warmup + 3, args.iters)
        batch_s = cuda_median_s(encoder, batch, args.warmup, args.iters)
    return {'device': torch.cuda.get_device_name(), 'batch1_latency_ms': 1000.0 * latency,
            'batch64_bf16_images_per_s': 64.0 / batch_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--variants', nargs='+', default=['T', 'S'], choices=['T', 'S'])
    parser.add_argument('--runtimes', nargs='+', default=list(RUNTIMES), choices=RUNTIMES,
                        help='CPU runtimes to compare (eager is always included)')
    parser.add_argument('--weights', default='demo',
                        help='"demo" (shipped T weights; S falls back to untrained), "none" or '
                             'a weights file (default demo)')
    parser.add_argument('--images', type=Path, default=DEFAULT_IMAGES,
                        help='folder of real *.jpg images (default: shared caliterra photos)')
    parser.add_argument('--num-images', type=int, default=4,
                        help='images used for timing and descriptor agreement (default 4)')
    parser.add_argument('--size', type=int, default=384, help='input side (default 384)')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads (default 2)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds (default 2)')
    parser.add_argument('--iters', type=int, default=10, help='timed rounds (default 10)')
    parser.add_argument('--out', type=Path, default=None, help='write JSON results here')
    args = parser.parse_args()
    if 'eager' not in args.runtimes:
        args.runtimes.insert(0, 'eager')
    torch.set_num_threads(args.threads)
    images = load_inputs(args.images, args.num_images, args.size)
    report = {'platform': platform.processor() or platform.machine(), 'threads': args.threads,
              'size': args.size, 'batch': 1, 'iters': args.iters, 'torch': torch.__version__,
              'statistic': 'median of round-robin iterations', 'cpu': {}}
    for variant in args.variants:
        report['cpu'][variant] = result = bench_cpu(variant, images, args)
        for rt in args.runtimes:
            entry = result[rt]
            print(f"{variant} {rt:<6} {entry['median_ms']:7.1f} ms  {entry['desc_per_s']:6.2f} "
                  f"desc/s  x{entry['speedup_vs_eager']:.2f} vs eager  "
                  f"min cos vs eager {entry['min_cosine_vs_eager']:.5f}")
    if torch.cuda.is_available():
        report['gpu'] = {v: bench_gpu(v, args) for v in args.variants}
        print(json.dumps(report['gpu'], indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
